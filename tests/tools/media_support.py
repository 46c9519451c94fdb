"""Fixtures and helpers for the video and audio tool tests (imported by test_video.py and test_audio.py).

They build on tests/tools/conftest.py's ``tiny_pool`` and ``session``; the registry here adds the
``video`` and ``audio`` plugins to the image ones the video tools reuse.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graphs.executor import Executor, RunResult
from graphs.plan import Plan, bind
from tools.artifacts import Session
from tools.media.av_io import write_mp4, write_wav
from tools.models import ModelPool
from tools.registry import load_registry

PX = 32
FRAMES = 3
STEPS = 2


@pytest.fixture(scope="session")
def media_registry():
    return load_registry(only=["builtin", "diffusion", "video", "audio"])


@pytest.fixture
def run_media(session: Session, tiny_pool: ModelPool, media_registry) -> Callable[..., RunResult]:
    """Run steps (dicts) through bind + the real Executor on the shared tiny pool."""

    def run(steps: list[dict[str, Any]], outputs: dict[str, str] | None = None) -> RunResult:
        plan = Plan.model_validate({"steps": steps, "outputs": outputs or {}})
        return Executor(session, models=tiny_pool, max_workers=2).run(bind(plan, media_registry, session))

    return run


def ok(result: RunResult) -> None:
    assert result.ok, {s: r.error for s, r in result.steps.items()}


def failed(result: RunResult, step: str) -> str:
    assert result.steps[step].status == "failed", result.steps[step]
    return result.steps[step].error or ""


def warnings(result: RunResult) -> list[str]:
    return [w for r in result.steps.values() for w in r.warnings]


def gradient_clip(path: Path, frames: int = 4, fps: float = 8.0, size: tuple[int, int] = (PX, PX)) -> Path:
    """A small real MP4 whose frames differ (a moving bright bar), with no recorded prompt."""
    from PIL import Image

    images = []
    for i in range(frames):
        pixels = np.zeros((size[1], size[0], 3), np.uint8)
        pixels[:, (i * 5) % size[0] : (i * 5) % size[0] + 6] = (255, 200, 40)
        images.append(Image.fromarray(pixels))
    write_mp4(images, fps, path)
    return path


def tone(path: Path, seconds: float, rate: int = 16_000, hz: float = 440.0) -> Path:
    t = np.arange(round(seconds * rate)) / rate
    write_wav((0.3 * np.sin(2 * np.pi * hz * t))[None, :], rate, path)
    return path
