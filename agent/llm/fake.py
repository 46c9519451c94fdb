"""A scripted backend for tests: it answers from a list and records what it was asked."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

from langchain_core.messages import BaseMessage
from pydantic import BaseModel

from agent.llm.chat import BackendError
from tools.llm.protocol import Generation, cut_at

#: A scripted reply: text, a JSON-able dict/list, a pydantic model, an exception to raise, or a
#: callable ``(messages, json_schema) -> any of those`` for replies that depend on the prompt.
Reply = Union[str, dict, list, BaseModel, BaseException, Callable[[Sequence[BaseMessage], "dict | None"], Any]]


@dataclass(frozen=True)
class FakeCall:
    """One request the fake received."""

    messages: tuple[BaseMessage, ...]
    json_schema: dict[str, Any] | None
    max_tokens: int
    temperature: float
    seed: int | None
    stop: tuple[str, ...] = ()

    @property
    def last_text(self) -> str:
        content = self.messages[-1].content if self.messages else ""
        return content if isinstance(content, str) else json.dumps(content)


class ScriptExhausted(BackendError):
    """The test asked the fake more often than it scripted replies."""


class FakeBackend:
    """Replies in order from ``responses``; ``calls`` records every request.

    Running past the end raises ``ScriptExhausted`` naming the request, so a test that makes the
    planner loop more than expected fails loudly instead of hanging or repeating a reply.
    """

    def __init__(self, responses: Sequence[Reply], *, name: str = "fake"):
        self.name = name
        self._responses = list(responses)
        self._next = 0
        self._lock = threading.Lock()
        self.calls: list[FakeCall] = []

    @property
    def remaining(self) -> int:
        return len(self._responses) - self._next

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
        call = FakeCall(tuple(messages), json_schema, max_tokens, temperature, seed, tuple(stop))
        with self._lock:
            self.calls.append(call)
            index = self._next
            if index >= len(self._responses):
                raise ScriptExhausted(
                    f"fake backend has no reply scripted for request #{index + 1} "
                    f"(it was given {len(self._responses)}); last message: {call.last_text[:200]!r}"
                )
            self._next += 1
            reply = self._responses[index]
        if callable(reply) and not isinstance(reply, (BaseModel, BaseException)):
            reply = reply(messages, json_schema)
        if isinstance(reply, BaseException):
            raise reply
        text = cut_at(_as_text(reply), stop)  # as a backend that stops there returns it
        return Generation(text=text, prompt_tokens=sum(len(str(m.content)) for m in messages), completion_tokens=len(text))


def _as_text(reply: Any) -> str:
    if isinstance(reply, str):
        return reply
    if isinstance(reply, BaseModel):
        return reply.model_dump_json()
    if isinstance(reply, (dict, list)):
        return json.dumps(reply)
    raise TypeError(f"fake backend reply must be str, dict, list or a pydantic model, not {type(reply).__name__}")
