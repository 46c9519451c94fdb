"""Any LangChain chat model as a planner backend (``from_chat_model``).

A JSON schema goes through the model's own ``with_structured_output`` when it has one (tool
calling or JSON mode, whatever the integration implements); a model without it (its class does not
implement ``bind_tools``) gets the schema as an instruction and its text answer is cut down to the
JSON value in it (a code fence or a sentence around it is dropped). Sampling settings are passed
only as the fields the model class declares (``temperature``, ``max_tokens``/``num_predict``,
``seed``): an integration that has no such field keeps its own.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage

from agent.llm.chat import message_text, schema_instruction, to_chat_dicts
from tools.errors import ConfigError
from tools.llm.protocol import Generation, cut_at

log = logging.getLogger(__name__)

_MAX_TOKEN_FIELDS = ("max_tokens", "max_completion_tokens", "num_predict", "max_output_tokens", "max_new_tokens")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def json_text(text: str) -> str:
    """The JSON value in a model's answer, compact; the answer unchanged when it holds none
    (the structured-output loop then reports the problem to the model)."""
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            return json.dumps(json.loads(candidate), separators=(",", ":"))
        except ValueError:
            pass
    decoder = json.JSONDecoder()
    for start, char in enumerate(text):
        if char in "{[":
            try:
                value, _ = decoder.raw_decode(text, start)
            except ValueError:
                continue
            return json.dumps(value, separators=(",", ":"))
    return text


class ChatModelBackend:
    """``tools.llm.protocol.LLMBackend`` over a LangChain ``BaseChatModel``."""

    def __init__(self, model: BaseChatModel, *, name: str | None = None, structured: bool = True):
        """``structured=False`` skips ``with_structured_output`` (for a model whose tool calling is poor)."""
        self.model = model
        self.structured = structured
        label = getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__
        self.name = name or f"langchain:{label}"

    def _configured(self, max_tokens: int, temperature: float, seed: int | None) -> BaseChatModel:
        fields = type(self.model).model_fields
        update: dict[str, Any] = {}
        if "temperature" in fields:
            update["temperature"] = temperature
        if (limit := next((f for f in _MAX_TOKEN_FIELDS if f in fields), None)) is not None:
            update[limit] = max_tokens
        if seed is not None and "seed" in fields:
            update["seed"] = seed
        return self.model.model_copy(update=update) if update else self.model

    def generate(
        self,
        messages: Sequence[BaseMessage],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        seed: int | None = None,
        stop: Sequence[str] = (),
    ) -> Generation:
        to_chat_dicts(messages)  # same validation as the other backends (non-empty)
        model = self._configured(max_tokens, temperature, seed)
        started = time.perf_counter()
        if json_schema is not None and self.structured:
            try:
                runnable = model.with_structured_output(json_schema, include_raw=True)
            except NotImplementedError:
                log.info("%s has no structured output; asking for JSON in the prompt instead", type(self.model).__name__)
                self.structured = False
            else:
                out = runnable.invoke(list(messages))
                return self._structured_generation(out, started)
        prompt = list(messages)
        if json_schema is not None:
            prompt = _with_instruction(prompt, schema_instruction(json_schema))
        message = model.invoke(prompt)
        text = cut_at(message_text(message), stop)  # not every chat model takes stop strings: cut after
        return _generation(json_text(text) if json_schema is not None else text, message, started)

    @staticmethod
    def _structured_generation(out: Any, started: float) -> Generation:
        raw = out.get("raw") if isinstance(out, dict) else None
        parsed = out.get("parsed") if isinstance(out, dict) else out
        if parsed is not None:
            text = parsed.model_dump_json() if hasattr(parsed, "model_dump_json") else json.dumps(parsed)
        elif isinstance(raw, AIMessage) and raw.tool_calls:
            text = json.dumps(raw.tool_calls[0]["args"])
        else:
            text = json_text(message_text(raw)) if isinstance(raw, BaseMessage) else ""
        return _generation(text, raw, started)


def _with_instruction(messages: list[BaseMessage], instruction: str) -> list[BaseMessage]:
    """The schema instruction joined to the first system message (some chat templates allow one)."""
    if messages and isinstance(messages[0], SystemMessage):
        return [SystemMessage(f"{message_text(messages[0])}\n\n{instruction}"), *messages[1:]]
    return [SystemMessage(instruction), *messages]


def _generation(text: str, message: Any, started: float) -> Generation:
    usage = getattr(message, "usage_metadata", None) or {}
    return Generation(text=text, prompt_tokens=int(usage.get("input_tokens", 0)), completion_tokens=int(usage.get("output_tokens", 0)),
                      seconds=time.perf_counter() - started)


def from_chat_model(model: BaseChatModel, *, name: str | None = None, structured: bool = True) -> ChatModelBackend:
    """Use any LangChain chat model as the planner (or for the LLM tools): ``Planner(from_chat_model(m), registry)``."""
    if not isinstance(model, BaseChatModel):
        raise ConfigError(f"from_chat_model needs a LangChain BaseChatModel, not {type(model).__name__}")
    return ChatModelBackend(model, name=name, structured=structured)
