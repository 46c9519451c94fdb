"""What the video tools share: writing a clip as an MP4 artifact, seeded generators, progress hooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from PIL import Image

from tools.base import Produced, ToolContext
from tools.media.av_io import video_meta, write_mp4


def generator(seed: int | None) -> torch.Generator:
    """A CPU generator: the same seed gives the same starting noise on any device."""
    return torch.Generator(device="cpu").manual_seed(seed if seed is not None else 0)


def step_callback(ctx: ToolContext, steps: int):
    """A diffusers ``callback_on_step_end`` that reports progress and honours cancellation."""

    def on_step(pipe: Any, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        ctx.progress(index + 1, steps)
        if ctx.cancelled.is_set():
            pipe._interrupt = True
        return tensors

    return on_step


def save_clip(ctx: ToolContext, frames: list[Image.Image], fps: float, name: str = "clip", **meta: Any) -> Produced:
    """Encode frames into an MP4 in the step's scratch folder; fps, frame count and duration go in the metadata."""
    dest: Path = ctx.scratch / f"{name}.mp4"
    info = write_mp4(frames, fps, dest)
    if info.frames != len(frames):
        ctx.warn(f"encoded {info.frames} frames of {len(frames)}")
    return Produced(dest, {**video_meta(info), **meta})
