"""Test-only tools and helpers: a slow tool to see concurrency, a failing one, a counting one."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import yaml
from pydantic import Field

from agent.config import Settings
from agent.runtime import Runtime
from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Tool, ToolContext, ToolParams
from tools.builtin import TOOLS as BUILTIN
from tools.registry import Registry


class Calls:
    """Counts tool executions so tests can tell a run from a cache hit."""

    lock = threading.Lock()
    counts: dict[str, int] = {}

    @classmethod
    def hit(cls, name: str) -> None:
        with cls.lock:
            cls.counts[name] = cls.counts.get(name, 0) + 1

    @classmethod
    def reset(cls) -> None:
        cls.counts = {}


class Note(Tool):
    """Write a text artifact; sleeps first when asked, to make overlap visible."""

    name = "note"
    outputs = {"text": Kind.TEXT}

    class Params(ToolParams):
        text: str = "hello"
        sleep: float = Field(0.0, ge=0, le=5)

    def run(self, ctx: ToolContext, params: Params) -> dict:
        Calls.hit(self.name)
        start = time.perf_counter()
        if not os.environ.get("LLMGA_TEST_NO_SLEEP"):
            time.sleep(params.sleep)
        ctx.progress(1, 1, "slept")
        return {"text": f"{params.text} {start:.6f} {time.perf_counter():.6f}"}


class Shout(Tool):
    """Upper-case a text artifact."""

    name = "shout"
    inputs = {"text": Input(Kind.TEXT)}
    outputs = {"text": Kind.TEXT}

    def run(self, ctx: ToolContext, params: ToolParams, *, text: ArtifactHandle) -> dict:
        Calls.hit(self.name)
        return {"text": text.text().split(" ")[0].upper()}


class Boom(Tool):
    """Fail while running, unless told not to."""

    name = "boom"
    inputs = {"image": Input(Kind.IMAGE)}
    outputs = {"image": Kind.IMAGE}

    class Params(ToolParams):
        fail: bool = True

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        Calls.hit(self.name)
        if params.fail:
            raise RuntimeError("the GPU caught fire")
        return {"image": image.image()}


class Seeded(Tool):
    """Report the seed it got, as text."""

    name = "seeded"
    outputs = {"text": Kind.TEXT}

    class Params(ToolParams):
        seed: int | None = None
        label: str = ""

    def run(self, ctx: ToolContext, params: Params) -> dict:
        return {"text": f"{params.label}:{params.seed}"}


TEST_TOOLS = [Note, Shout, Boom, Seeded]


def make_registry(*extra: type[Tool]) -> Registry:
    registry = Registry()
    for tool in [*BUILTIN, *TEST_TOOLS, *extra]:
        registry.register(tool, origin="test")
    return registry


def make_runtime(**settings: object) -> Runtime:
    return Runtime(Settings(**settings), registry=make_registry())


def write_workflow(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
