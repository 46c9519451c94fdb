"""The OpenAI-compatible and Ollama backends against stub servers on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from agent.llm.chat import BackendError
from agent.llm.ollama import OllamaBackend
from agent.llm.openai_compat import OpenAICompatBackend
from tools.errors import ConfigError
from tools.llm.protocol import LLMBackend

SCHEMA = {"title": "Plan step", "type": "object", "properties": {"tool": {"type": "string", "enum": ["upscale"]}}, "required": ["tool"]}
MESSAGES = [SystemMessage("You plan."), HumanMessage("upscale image-1"), AIMessage("ok"), HumanMessage("again")]


def _completion(content: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "tiny",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 17, "completion_tokens": 5, "total_tokens": 22},
    }


def test_openai_sends_schema_and_parameters(stub_server) -> None:
    stub = stub_server(lambda path, body: (200, _completion('{"tool": "upscale"}')))
    backend = OpenAICompatBackend(base_url=stub.url + "/v1", model="tiny", api_key="secret")
    assert isinstance(backend, LLMBackend)

    gen = backend.generate(MESSAGES, json_schema=SCHEMA, max_tokens=64, temperature=0.2, seed=7)

    assert json.loads(gen.text) == {"tool": "upscale"}
    assert (gen.prompt_tokens, gen.completion_tokens) == (17, 5)
    path, body = stub.requests[-1]
    assert path == "/v1/chat/completions"
    assert body["model"] == "tiny"
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][1]["content"] == "upscale image-1"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert body["response_format"]["json_schema"]["name"] == "Plan_step"
    assert body["max_tokens"] == 64
    assert body["temperature"] == 0.2 and body["seed"] == 7


def test_stop_strings_travel_to_openai_and_ollama(stub_server) -> None:
    stub = stub_server(lambda path, body: (200, _completion('{"a": [1')))
    OpenAICompatBackend(base_url=stub.url + "/v1", model="tiny").generate(MESSAGES, stop=("],",))
    assert stub.requests[-1][1]["stop"] == ["],"]
    stub = stub_server(lambda path, body: (200, _ollama_stream('{"a": [1')))
    OllamaBackend(model="tiny", base_url=stub.url).generate(MESSAGES, stop=("],",))
    assert stub.requests[-1][1]["options"]["stop"] == ["],"]


def test_openai_without_schema_sends_no_response_format(stub_server) -> None:
    stub = stub_server(lambda path, body: (200, _completion("hello")))
    gen = OpenAICompatBackend(base_url=stub.url + "/v1", model="tiny").generate([HumanMessage("hi")])
    assert gen.text == "hello"
    assert "response_format" not in stub.requests[-1][1]


def test_openai_unreachable_server_is_a_config_error(unused_local_url) -> None:
    backend = OpenAICompatBackend(base_url=unused_local_url + "/v1", model="tiny", max_retries=0, timeout=5)
    with pytest.raises(ConfigError, match="cannot reach"):
        backend.generate([HumanMessage("hi")])


def test_openai_server_error_is_a_backend_error(stub_server) -> None:
    stub = stub_server(lambda path, body: (400, {"error": {"message": "context too long", "type": "invalid_request_error"}}))
    backend = OpenAICompatBackend(base_url=stub.url + "/v1", model="tiny", max_retries=0)
    with pytest.raises(BackendError, match="HTTP 400"):
        backend.generate([HumanMessage("hi")])


def test_openai_missing_model_is_a_config_error(stub_server) -> None:
    stub = stub_server(lambda path, body: (404, {"error": {"message": "model not found"}}))
    with pytest.raises(ConfigError, match="does not serve model 'nope'"):
        OpenAICompatBackend(base_url=stub.url + "/v1", model="nope", max_retries=0).generate([HumanMessage("hi")])


def test_openai_needs_url_and_model() -> None:
    with pytest.raises(ConfigError, match="base URL"):
        OpenAICompatBackend(base_url="", model="x")


def _ollama_stream(content: str) -> list[dict]:
    half = len(content) // 2
    base = {"model": "tiny", "created_at": "2026-11-25T00:00:00Z"}
    return [
        {**base, "message": {"role": "assistant", "content": content[:half]}, "done": False},
        {**base, "message": {"role": "assistant", "content": content[half:]}, "done": False},
        {
            **base,
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 12,
            "eval_count": 6,
            "eval_duration": 300_000_000,
        },
    ]


def test_ollama_sends_schema_as_format(stub_server) -> None:
    stub = stub_server(lambda path, body: (200, _ollama_stream('{"tool": "upscale"}')))
    backend = OllamaBackend(model="tiny", base_url=stub.url)
    assert isinstance(backend, LLMBackend)

    gen = backend.generate(MESSAGES, json_schema=SCHEMA, max_tokens=50, temperature=0.0, seed=3)

    assert json.loads(gen.text) == {"tool": "upscale"}
    assert (gen.prompt_tokens, gen.completion_tokens) == (12, 6)
    assert gen.tokens_per_second == pytest.approx(20.0)
    path, body = stub.requests[-1]
    assert path == "/api/chat"
    assert body["format"] == SCHEMA
    assert body["options"]["num_predict"] == 50 and body["options"]["seed"] == 3
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]


def test_ollama_missing_model_says_how_to_pull(stub_server) -> None:
    stub = stub_server(lambda path, body: (404, {"error": "model 'tiny' not found"}))
    with pytest.raises(ConfigError, match="ollama pull tiny"):
        OllamaBackend(model="tiny", base_url=stub.url).generate([HumanMessage("hi")])


def test_ollama_unreachable_is_a_config_error(unused_local_url) -> None:
    with pytest.raises(ConfigError, match="cannot reach Ollama"):
        OllamaBackend(model="tiny", base_url=unused_local_url, timeout=5).generate([HumanMessage("hi")])
