"""Budgets: no step writes more than the configured pixels, bytes or seconds.

A plan whose step would pass the pixel budget is refused before it runs, naming the step (sizes
are predicted through the plan, so chained pads count); an output nobody predicted is refused
when it is stored, and nothing of that step is kept.
"""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from PIL import Image
from pydantic import Field

from graphs.executor import Executor
from graphs.plan import Plan, bind
from tests.support import make_registry
from tools.artifacts import Kind, Limits, Workspace
from tools.base import Tool, ToolContext, ToolParams
from tools.errors import LimitError, PlanError


class Blank(Tool):
    """Make a blank image of any size (it predicts nothing, so only the store can stop it)."""

    name = "blank"
    outputs = {"image": Kind.IMAGE, "mask": Kind.MASK}

    class Params(ToolParams):
        side: int = Field(8, ge=1, le=20_000)

    def run(self, ctx: ToolContext, params: Params) -> dict:
        return {"mask": Image.new("L", (8, 8)), "image": Image.new("RGB", (params.side, params.side))}


REGISTRY = make_registry(Blank)


def session_with_image(tmp_path: Path, limits: Limits | None = None, side: int = 64):
    session = Workspace(tmp_path / "ws", limits).session("budget", create=True)
    session.add(Kind.IMAGE, Image.new("RGB", (side, side), "white"), tool="import")
    return session


def plan(*steps: dict) -> Plan:
    return Plan.model_validate({"steps": list(steps)})


def test_one_huge_pad_is_refused_before_it_runs_naming_the_step(tmp_path: Path):
    session = session_with_image(tmp_path)
    pad = {"id": "wide", "tool": "pad_canvas", "args": {"image": "${image-1}", "left": 8192, "right": 8192, "top": 8192, "bottom": 8192}}
    with pytest.raises(PlanError, match=r"step 'wide': its image output .* over the 64 MP limit") as info:
        bind(plan(pad), REGISTRY, session)
    assert info.value.step == "wide"
    assert [a.id for a in session.artifacts()] == ["image-1"]


def test_chained_pads_are_refused_at_the_step_that_crosses_the_budget(tmp_path: Path):
    """Each pad adds only 120 px; 64x64 -> 184x64 (11,776 px) fits a 30,000 px budget, 184x184 does not."""
    session = session_with_image(tmp_path, Limits(max_pixels=30_000))
    steps = [{"id": "p1", "tool": "pad_canvas", "args": {"image": "${image-1}", "left": 60, "right": 60}}]
    steps += [{"id": "p2", "tool": "pad_canvas", "args": {"image": "${p1.image}", "top": 60, "bottom": 60}}]
    steps += [{"id": "p3", "tool": "pad_canvas", "args": {"image": "${p2.image}", "left": 10}}]
    with pytest.raises(PlanError, match="184x184") as info:
        bind(plan(*steps), REGISTRY, session)
    assert info.value.step == "p2"
    bind(plan(steps[0]), REGISTRY, session)  # the first pad alone is fine


def test_resize_and_upscale_are_predicted(tmp_path: Path):
    session = session_with_image(tmp_path, Limits(max_pixels=100_000))
    with pytest.raises(PlanError, match="step 'big'"):
        bind(plan({"id": "big", "tool": "resize", "args": {"image": "${image-1}", "width": 1000, "height": 1000}}), REGISTRY, session)
    with pytest.raises(PlanError, match="step 'tall'"):  # aspect kept: 64x64 -> 8000x8000
        bind(plan({"id": "tall", "tool": "resize", "args": {"image": "${image-1}", "height": 8000}}), REGISTRY, session)
    bind(plan({"id": "ok", "tool": "resize", "args": {"image": "${image-1}", "width": 300}}), REGISTRY, session)


def test_an_unpredicted_output_over_budget_is_refused_when_stored_and_nothing_of_the_step_stays(tmp_path: Path):
    session = session_with_image(tmp_path, Limits(max_pixels=10_000))
    bound = bind(plan({"id": "b", "tool": "blank", "args": {"side": 200}}), REGISTRY, session)
    result = Executor(session, registry=REGISTRY).run(bound)
    step = result.steps["b"]
    assert step.status == "failed" and "over the 0.01 MP limit" in step.error
    assert [a.id for a in session.artifacts()] == ["image-1"]  # not even the small mask
    assert not any(p.name.startswith("mask-") for p in session.root.iterdir())


def test_tools_check_before_they_allocate(tmp_path: Path):
    """The same pad, bound against a generous budget and run against a tight one, fails in the tool
    before numpy allocates the canvas."""
    session = session_with_image(tmp_path)
    bound = bind(plan({"id": "p", "tool": "pad_canvas", "args": {"image": "${image-1}", "left": 4000, "top": 4000}}), REGISTRY, session)
    session.limits = Limits(max_pixels=1_000_000)
    result = Executor(session, registry=REGISTRY).run(bound)
    assert result.steps["p"].status == "failed" and "padded canvas" in result.steps["p"].error


def test_bytes_and_duration_budgets_apply_to_writes(tmp_path: Path):
    session = Workspace(tmp_path / "ws", Limits(max_file_bytes=1000, max_duration_s=1.0)).session("b", create=True)
    with pytest.raises(LimitError, match="MiB limit"):
        session.add(Kind.TEXT, "x" * 2000, tool="note")
    clip = tmp_path / "long.wav"
    with wave.open(str(clip), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(100)
        out.writeframes(b"\x00\x00" * 300)  # 3 s, 600 bytes
    with pytest.raises(LimitError, match="lasts 3.0 s"):
        session.add(Kind.AUDIO, clip, tool="sound", meta={"duration": 3.0})
    with pytest.raises(LimitError, match="lasts 3.0 s"):
        session.import_file(clip, Kind.AUDIO)  # imports are probed, not trusted
    assert session.artifacts() == []


def test_true_is_not_a_number(tmp_path: Path):
    session = session_with_image(tmp_path)
    with pytest.raises(PlanError, match="'width' must be an integer, not true"):
        bind(plan({"id": "r", "tool": "resize", "args": {"image": "${image-1}", "width": True}}), REGISTRY, session)
