"""The one interface every planner LLM backend implements.

The agent needs one thing from a model: given chat messages (LangChain message objects, as kept
in the graph state) and optionally a JSON schema, return text, constrained to the schema where
the backend can do that (grammar-constrained decoding in llama.cpp, ``response_format`` on
OpenAI-compatible servers, ``format`` on Ollama). Backends wrap LangChain chat models where one
exists; the rest (embedded GGUF, LLMGA checkpoints, the scripted fake) implement this directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from langchain_core.messages import BaseMessage


@dataclass(frozen=True)
class Generation:
    """A model's answer with the figures benchmarks report."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    prompt_seconds: float = 0.0
    """reading the prompt: the part of it the backend's cache did not hold (0: not reported)."""
    prompt_read: int = 0
    """prompt tokens read, not taken from the cache (0: not reported)."""

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


@runtime_checkable
class LLMBackend(Protocol):
    """``name`` identifies the backend and model in logs and artifact metadata."""

    name: str

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
        """``stop``: decoding ends where one of these strings would start, and the text ends
        before it (a backend that cannot stop early cuts its text there, ``cut_at``)."""


def cut_at(text: str, stop: Sequence[str]) -> str:
    """``text`` up to the first of the ``stop`` strings in it."""
    ends = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return text[: min(ends)] if ends else text
