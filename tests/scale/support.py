"""Test tools for the scale-out tests (importable on Ray workers: the head runs with the repo on
PYTHONPATH), and the plan and workflow both backends run."""

from __future__ import annotations

import time

from pydantic import Field

from tools.artifacts import Kind
from tools.base import Tool, ToolContext, ToolParams
from tools.errors import ToolFailure


class Sleepy(Tool):
    """Sleep in small slices, reporting progress and honouring cancel; declares the music family
    (without loading it) so it gets a worker of its own, apart from the light tools."""

    name = "sleepy"
    outputs = {"text": Kind.TEXT}
    models = ("music",)

    class Params(ToolParams):
        seconds: float = Field(1.0, ge=0, le=60)
        label: str = "z"

    def run(self, ctx: ToolContext, params: Params) -> dict:
        slices = max(1, int(params.seconds / 0.05))
        for i in range(slices):
            if ctx.cancelled.is_set():
                raise ToolFailure("cancelled")
            time.sleep(0.05)
            ctx.progress(i + 1, slices, "sleeping")
        return {"text": f"slept {params.label}"}


SCALE_TOOLS = [Sleepy]

GENERATE = {"id": "gen", "tool": "text_to_image", "args": {"prompt": "a red car on a road", "width": 64, "height": 64, "steps": 2, "seed": 7}}

AGENT_PLAN = {
    "reply": "a car, then a smaller and a cropped copy",
    "steps": [
        GENERATE,
        {"id": "small", "tool": "resize", "args": {"image": "${gen.image}", "width": 32, "height": 32}},
        {"id": "edges", "tool": "canny", "args": {"image": "${gen.image}"}},
    ],
}

WORKFLOW = {
    "version": 1,
    "name": "car and edges",
    "inputs": {"prompt": {"type": "string", "default": "a blue truck"}},
    "steps": [
        {"id": "gen", "tool": "text_to_image", "args": {"prompt": "${prompt}", "width": 64, "height": 64, "steps": 2, "seed": 3}},
        {"id": "edges", "tool": "canny", "args": {"image": "${gen.image}"}},
        {"id": "small", "tool": "resize", "args": {"image": "${edges.image}", "width": 32, "height": 32}},
    ],
    "outputs": {"small": "${small.image}"},
}
