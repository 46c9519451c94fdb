"""What every LLM role shares: one structured request with a bounded, self-correcting retry.

A role asks the backend for JSON under its pydantic model's schema (constrained decoding where
the backend can), parses it, runs the role's own checks (``check`` returns problems worded for
the model), and on failure sends the problems back as a new user turn. After ``attempts`` tries
it raises ``RoleError`` with every problem it saw: a role never returns an unchecked answer and
never repairs one silently.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ValidationError

from agent.llm.base import Generation, LLMBackend
from graphs.plan import format_validation_error
from prompts import render
from tools.errors import ToolFailure

M = TypeVar("M", bound=BaseModel)


class RoleError(ToolFailure):
    """A role could not get a valid answer from its model within its attempts."""

    def __init__(self, role: str, problems: list[str]):
        self.role = role
        self.problems = problems
        last = problems[-1] if problems else "no answer"
        super().__init__(f"{role}: no valid answer in {len(problems)} attempt(s); last problem: {last}")


@dataclass
class Trace:
    """How a role call went: the figures a benchmark or an artifact's metadata records."""

    attempts: int = 0
    problems: list[str] = field(default_factory=list)
    generations: list[Generation] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def prompt_tokens(self) -> int:
        return sum(g.prompt_tokens for g in self.generations)

    @property
    def completion_tokens(self) -> int:
        return sum(g.completion_tokens for g in self.generations)

    def meta(self) -> dict[str, object]:
        return {"attempts": self.attempts, "problems": list(self.problems), "seconds": round(self.seconds, 3)}


@dataclass
class Answer(Generic[M]):
    value: M
    trace: Trace


def parse_json_model(model: type[M], text: str) -> M:
    """Model text -> ``model``; a problem becomes a ``ValueError`` worded for the model."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not valid JSON ({exc.msg} at character {exc.pos})") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(format_validation_error(exc)) from None


def ask(
    backend: LLMBackend,
    messages: Sequence[BaseMessage],
    model: type[M],
    *,
    role: str,
    check: Callable[[M], list[str]] | None = None,
    attempts: int = 3,
    max_tokens: int = 512,
    temperature: float = 0.0,
    retry_temperature: float | None = None,
    seed: int | None = None,
) -> Answer[M]:
    """Ask for ``model`` as JSON; retry with the problems at most ``attempts`` times in all.

    ``retry_temperature`` samples the retries (a greedy retry of a small model often repeats
    its mistake); the first attempt always uses ``temperature``.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    schema = model.model_json_schema()
    conversation = list(messages)
    trace = Trace()
    started = time.perf_counter()
    for attempt in range(1, attempts + 1):
        trace.attempts = attempt
        heat = temperature if attempt == 1 or retry_temperature is None else retry_temperature
        generation = backend.generate(conversation, json_schema=schema, max_tokens=max_tokens, temperature=heat,
                                      seed=None if seed is None else seed + attempt - 1)
        trace.generations.append(generation)
        try:
            value = parse_json_model(model, generation.text)
            problems = check(value) if check else []
        except ValueError as exc:
            problems = [str(exc)]
        if not problems:
            trace.seconds = time.perf_counter() - started
            return Answer(value, trace)
        joined = "; ".join(problems)
        trace.problems.append(joined)
        conversation = [*conversation, AIMessage(generation.text), HumanMessage(render("role_retry", problems=joined))]
    trace.seconds = time.perf_counter() - started
    raise RoleError(role, trace.problems)
