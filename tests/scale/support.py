"""Test tools for the scale-out tests (importable on Ray workers: the head runs with the repo on
PYTHONPATH), and the plan and workflow both backends run."""

from __future__ import annotations

import math
import struct
import time
import wave

from PIL import Image
from pydantic import Field

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Produced, Tool, ToolContext, ToolParams
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


class Paint(Tool):
    """A flat image of one colour, recording its prompt (so later steps can find it)."""

    name = "paint"
    outputs = {"image": Kind.IMAGE}

    class Params(ToolParams):
        prompt: str
        red: int = Field(200, ge=0, le=255)

    def run(self, ctx: ToolContext, params: Params) -> dict:
        return {"image": Image.new("RGB", (24, 16), (params.red, 40, 90))}


class PromptOf(Tool):
    """The prompt behind an image, walking back through its parents (as similar_image does)."""

    name = "prompt_of"
    inputs = {"image": Input(Kind.IMAGE)}
    outputs = {"text": Kind.TEXT}

    def run(self, ctx: ToolContext, params: ToolParams, *, image: ArtifactHandle) -> dict:
        found = image.recorded_prompt()
        ctx.warn("prompt found" if found else "no prompt")
        return {"text": found[0] if found else ""}


class Beep(Tool):
    """A short sine tone as a WAV file written to the scratch folder, with metadata."""

    name = "beep"
    outputs = {"audio": Kind.AUDIO}

    class Params(ToolParams):
        hz: int = Field(440, ge=20, le=4000)

    def run(self, ctx: ToolContext, params: Params) -> dict:
        path = ctx.scratch / "beep.wav"
        rate = 8000
        frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * params.hz * i / rate))) for i in range(rate // 4))
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(frames)
        return {"audio": Produced(path, {"hz": params.hz})}


class WrongType(Tool):
    """Return a number where an image is declared (a tool bug the executor must name)."""

    name = "wrong_type"
    outputs = {"image": Kind.IMAGE}

    def run(self, ctx: ToolContext, params: ToolParams) -> dict:
        return {"image": 42}


SCALE_TOOLS = [Sleepy, Paint, PromptOf, Beep, WrongType]

GENERATE = {"id": "gen", "tool": "text_to_image", "args": {"prompt": "a red car on a road", "width": 64, "height": 64, "steps": 2, "seed": 7}}

AGENT_PLAN = {
    "reply": "a car, then a smaller and a cropped copy",
    "steps": [
        GENERATE,
        {"id": "small", "tool": "resize", "args": {"image": "${gen.image}", "width": 32, "height": 32}},
        # after 'small': a PNG's recipe names its own artifact id, so two steps racing for ids would
        # make the bytes differ between runs for a reason that has nothing to do with the backend
        {"id": "edges", "tool": "canny", "args": {"image": "${gen.image}"}, "after": ["small"]},
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
