"""The scripted fake backend and choosing a backend by flag, environment or config file."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel

from agent.llm import get_backend, resolve_options
from agent.llm.embedded import EmbeddedBackend
from agent.llm.fake import FakeBackend, ScriptExhausted
from agent.llm.llmga import LLMGABackend
from agent.llm.ollama import OllamaBackend
from agent.llm.openai_compat import OpenAICompatBackend
from tools.errors import ConfigError
from tools.llm.protocol import LLMBackend


class Step(BaseModel):
    tool: str


def test_fake_replies_in_order_and_records_calls() -> None:
    def echo(messages, schema):
        return {"echo": messages[-1].content, "has_schema": schema is not None}

    fake = FakeBackend(["plain", {"a": 1}, Step(tool="upscale"), echo])
    assert isinstance(fake, LLMBackend)
    assert fake.generate([HumanMessage("1")]).text == "plain"
    assert fake.generate([HumanMessage("2")], json_schema={"type": "object"}).text == '{"a": 1}'
    assert fake.generate([HumanMessage("3")], seed=5).text == '{"tool":"upscale"}'
    assert fake.generate([HumanMessage("4")]).text == '{"echo": "4", "has_schema": false}'
    assert [c.last_text for c in fake.calls] == ["1", "2", "3", "4"]
    assert fake.calls[1].json_schema == {"type": "object"} and fake.calls[2].seed == 5
    assert fake.remaining == 0


def test_fake_raises_scripted_errors_and_when_exhausted() -> None:
    fake = FakeBackend([ValueError("boom")])
    with pytest.raises(ValueError, match="boom"):
        fake.generate([HumanMessage("x")])
    with pytest.raises(ScriptExhausted, match=r"request #2 \(it was given 1\).*'again'"):
        fake.generate([HumanMessage("again")])
    assert len(fake.calls) == 2


def test_default_is_embedded_and_nothing_loads(monkeypatch) -> None:
    monkeypatch.delenv("LLMGA_PLANNER", raising=False)
    monkeypatch.setenv("LLMGA_CONFIG", "/nonexistent/config.yaml")
    backend = get_backend()
    assert isinstance(backend, EmbeddedBackend) and backend.n_ctx == 8192


def test_env_chooses_backend_and_options(monkeypatch) -> None:
    monkeypatch.setenv("LLMGA_CONFIG", "/nonexistent/config.yaml")
    monkeypatch.setenv("LLMGA_PLANNER", "openai")
    monkeypatch.setenv("LLMGA_PLANNER_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LLMGA_PLANNER_MODEL", "m")
    monkeypatch.setenv("LLMGA_PLANNER_API_KEY", "k")
    backend = get_backend()
    assert isinstance(backend, OpenAICompatBackend) and backend.base_url == "http://127.0.0.1:9/v1" and backend._api_key == "k"
    # the flag beats the environment, per field and for the name
    assert get_backend(model="other").model == "other"
    assert isinstance(get_backend("ollama"), OllamaBackend)


def test_config_file_is_lowest_priority(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("LLMGA_PLANNER", raising=False)
    config = tmp_path / "config.yaml"
    config.write_text("planner:\n  backend: llmga\n  checkpoint: /models/llmga-7b\n  device: cpu\n")
    name, opts = resolve_options(config_path=config)
    assert name == "llmga" and opts.checkpoint == Path("/models/llmga-7b") and opts.device == "cpu"
    assert isinstance(get_backend(config_path=config), LLMGABackend)
    monkeypatch.setenv("LLMGA_PLANNER_DEVICE", "cuda:1")
    assert resolve_options(config_path=config)[1].device == "cuda:1"
    # a file written for llmga gives its options to llmga only
    assert resolve_options("embedded", config_path=config)[0] == "embedded"


def test_misconfiguration_is_one_clear_config_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LLMGA_CONFIG", "/nonexistent/config.yaml")
    for var in ("LLMGA_PLANNER", "LLMGA_PLANNER_BASE_URL", "LLMGA_PLANNER_MODEL"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match="unknown planner backend 'gpt'"):
        get_backend("gpt")
    with pytest.raises(ConfigError, match=r"'openai' is misconfigured: base_url: Field required; model: Field required"):
        get_backend("openai")
    with pytest.raises(ConfigError, match="n_ctx"):
        get_backend("embedded", n_ctx=10)
    with pytest.raises(ConfigError, match="bogus"):
        get_backend("embedded", bogus=1)
    bad = tmp_path / "bad.yaml"
    bad.write_text("planner: [1, 2]\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        get_backend(config_path=bad)


def test_fake_through_factory() -> None:
    backend = get_backend("fake", responses=["hi"])
    assert backend.generate([HumanMessage("x")]).text == "hi"
