"""The scripted fake backend, choosing a backend by flag, environment or config file, planner
plugins, and a LangChain chat model as the planner."""

from __future__ import annotations

import json
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from pydantic import BaseModel

from agent.llm import PlannerPlugin, factory, from_chat_model, get_backend, resolve_options
from agent.llm.chat_model import ChatModelBackend, json_text
from agent.llm.embedded import EmbeddedBackend
from agent.llm.fake import FakeBackend, ScriptExhausted
from agent.llm.llmga import LLMGABackend
from agent.llm.ollama import OllamaBackend
from agent.llm.openai_compat import OpenAICompatBackend
from agent.planner import Planner
from tests.support import make_registry
from tools.artifacts import Session
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


# --- planner backends as plugins, and any LangChain chat model as the planner -------------------

PLAN = {"reply": "a note, then shouted", "steps": [
    {"id": "n", "tool": "note", "args": {"text": "hey"}},
    {"id": "s", "tool": "shout", "args": {"text": "${n}"}},
]}


def scripted_chat_model() -> GenericFakeChatModel:
    """A zero-argument factory, named by `--planner tests.llm.test_fake_and_factory:scripted_chat_model`."""
    return GenericFakeChatModel(messages=iter([AIMessage(f"Here is the plan:\n```json\n{json.dumps(PLAN)}\n```\nDone.")]))


class EchoOptions(BaseModel):
    greeting: str = "hello"


ECHO = PlannerPlugin(EchoOptions, lambda opts: FakeBackend([opts.greeting]), "a third party's backend")


def test_builtins_come_from_the_entry_point_group() -> None:
    found = factory.planner_entry_points()
    assert {"embedded", "openai", "ollama", "llmga", "fake"} <= set(found)
    assert found["embedded"].value == "agent.llm.factory:EMBEDDED" and factory.plugin("ollama") is factory.OLLAMA


def test_a_third_party_plugin_gets_typed_layered_options(monkeypatch, tmp_path: Path) -> None:
    installed = list(factory.entry_points(group=factory.GROUP))
    echo = EntryPoint(name="echo", value="tests.llm.test_fake_and_factory:ECHO", group=factory.GROUP)
    monkeypatch.setattr(factory, "entry_points", lambda group: [*installed, echo])
    factory.planner_entry_points.cache_clear()
    try:
        config = tmp_path / "config.yaml"
        config.write_text("planner:\n  backend: echo\n  greeting: from the file\n")
        assert get_backend(config_path=config).generate([HumanMessage("x")]).text == "from the file"
        monkeypatch.setenv("LLMGA_PLANNER_GREETING", "from the env")
        assert get_backend(config_path=config).generate([HumanMessage("x")]).text == "from the env"
        assert get_backend("echo", config_path=config, greeting="from a flag").generate([HumanMessage("x")]).text == "from a flag"
        with pytest.raises(ConfigError, match="'echo' is misconfigured: bogus"):
            get_backend("echo", config_path=config, bogus=1)
    finally:
        factory.planner_entry_points.cache_clear()


def test_a_langchain_chat_model_drives_the_planner_to_a_valid_plan(tmp_path: Path) -> None:
    """GenericFakeChatModel has no structured output: the adapter asks for JSON in the prompt and
    cuts the value out of a fenced answer; a first answer that is prose goes back to the model."""
    model = GenericFakeChatModel(messages=iter([AIMessage("I would write a note."),
                                                AIMessage(f"```json\n{json.dumps(PLAN)}\n```")]))
    backend = from_chat_model(model)
    assert isinstance(backend, LLMBackend) and backend.name == "langchain:GenericFakeChatModel"
    outcome = Planner(backend, make_registry()).plan(Session(tmp_path / "s"), "shout hey")
    assert outcome.plan is not None and [s.tool for s in outcome.plan.steps] == ["note", "shout"]
    assert outcome.attempts == 2 and outcome.reply == "a note, then shouted"
    assert backend.structured is False  # learnt once that the model has no with_structured_output


def test_planner_import_path_and_object_are_accepted(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMGA_CONFIG", str(tmp_path / "none.yaml"))
    backend = get_backend("tests.llm.test_fake_and_factory:scripted_chat_model")
    assert isinstance(backend, ChatModelBackend)
    assert json.loads(backend.generate([HumanMessage("plan")], json_schema={"type": "object"}).text) == PLAN
    monkeypatch.setenv("LLMGA_PLANNER", "tests.llm.test_fake_and_factory:scripted_chat_model")
    assert isinstance(get_backend(), ChatModelBackend)
    assert isinstance(get_backend(scripted_chat_model()), ChatModelBackend)  # the object itself
    with pytest.raises(ConfigError, match="cannot import planner 'tests.llm.nothing:here'"):
        get_backend("tests.llm.nothing:here")
    with pytest.raises(ConfigError, match="BaseChatModel or an LLMBackend, not int"):
        get_backend(3)


def test_json_text_finds_the_value_in_an_answer() -> None:
    assert json_text('{"a": 1}') == '{"a":1}'
    assert json_text('Sure!\n```json\n{"a": [1, 2]}\n```') == '{"a":[1,2]}'
    assert json_text('The plan is {"a": 1} as asked.') == '{"a":1}'
    assert json_text("no json here") == "no json here"
