"""The evaluator as the agent's verify hook: a low score replans once (bounded), the user is told
what was checked, and without a vision backend the check is skipped with a note."""

from __future__ import annotations

import json

from agent.checks import ImageCheck
from agent.config import Settings
from agent.conversation import Conversation
from agent.llm.fake import FakeBackend
from agent.nodes import AgentContext
from agent.runtime import Runtime
from tests.llm_roles.conftest import SeeingFake
from tools.llm.access import LLMAccess
from tools.registry import load_registry

GEN = {"prompt": "a red car", "steps": 2, "width": 32, "height": 32}


def plan(seed: int) -> str:
    return json.dumps({"reply": "drawing", "steps": [{"id": "g", "tool": "text_to_image", "args": {**GEN, "seed": seed}}]})


def chat_with(planner: FakeBackend, text: FakeBackend, vision: SeeingFake | None, tmp_path, max_replans: int = 1) -> Conversation:
    runtime = Runtime(Settings(workspace=tmp_path / "ws"), registry=load_registry(only=["builtin", "diffusion", "llm"]),
                      llm=LLMAccess.fixed(text, vision))
    ctx = AgentContext(runtime=runtime, backend=planner, checker=ImageCheck(runtime, threshold=0.9), max_replans=max_replans)
    return Conversation.open(ctx, None)


def test_low_score_replans_once_then_reports_the_check(tmp_path) -> None:
    planner = FakeBackend([plan(1), plan(2)])
    text = FakeBackend([{"questions": ["Is there a car?", "Is the car red?"]}] * 2)
    vision = SeeingFake([{"answer": "yes"}, {"answer": "no"}, {"answer": "yes"}, {"answer": "yes"}])
    chat = chat_with(planner, text, vision, tmp_path)
    state = chat.send("draw a red car")
    assert state["status"] == "done" and planner.remaining == 0 and vision.remaining == 0
    assert "answered no: Is the car red?" in " ".join(planner.calls[1].last_text.splitlines()), "the failed check goes back to the planner"
    reply = state["messages"][-1].content
    assert "score 0.50" in reply and "score 1.00" in reply


def test_replans_are_bounded_when_the_check_keeps_failing(tmp_path) -> None:
    planner = FakeBackend([plan(1), plan(2)])
    text = FakeBackend([{"questions": ["Is there a car?"]}] * 2)
    vision = SeeingFake([{"answer": "no"}, {"answer": "no"}])
    state = chat_with(planner, text, vision, tmp_path).send("draw a red car")
    assert state["status"] == "done" and planner.remaining == 0, "one replan, then it stops and reports"
    assert state["messages"][-1].content.count("score 0.00") == 2


def test_without_vision_the_detector_checks_and_fails_noise(tmp_path, monkeypatch) -> None:
    """No image-reading model: the object detector answers "Is there a car?" (no, on the tiny
    profile's noise), skips the colour question it cannot see, and the low score replans once."""
    monkeypatch.delenv("LLMGA_VISION", raising=False)
    monkeypatch.setenv("LLMGA_PLANNER", "fake")
    planner = FakeBackend([plan(1), plan(2)])
    state = chat_with(planner, FakeBackend([]), None, tmp_path).send("draw a red car")
    message = state["messages"][-1].content
    assert state["status"] == "done" and planner.remaining == 0, message
    assert message.count("score 0.00") == 2 and "answered no: Is there a car?" in message and "skipped: Is the car red?" in message
    assert "detector" in message
