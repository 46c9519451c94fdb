"""The agent's LangGraph state: ids and small JSON only, since every checkpoint is serialised.

``InputState`` is what a caller sends for a turn (the user's message, the session, attached
artifact ids); ``AgentState`` adds what the nodes keep. Step results are keyed by step id and
merged; a turn starts by clearing them (``None`` resets, see ``merge_results``).
"""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict  # pydantic (LangGraph's schema pages) needs this one before 3.12


def merge_results(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    if right is None:
        return {}
    return {**(left or {}), **right}


class InputState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    session_id: str
    attachments: list[str]


class AgentState(InputState, total=False):
    turn: int
    request: str
    notes: list[str]
    plan: dict[str, Any] | None
    deps: dict[str, list[str]]
    reply: str
    planning: dict[str, Any]
    feedback: list[str]
    replans: int
    checks: list[str]
    results: Annotated[dict[str, dict[str, Any]], merge_results]
    shown: list[str]
    turns: list[dict[str, Any]]
    status: str


class StepTask(TypedDict):
    """What ``Send`` hands one parallel ``run_step``: enough to run the step on its own."""

    session_id: str
    plan: dict[str, Any]
    step: str
    done: dict[str, dict[str, Any]]
