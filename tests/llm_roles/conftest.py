"""Fixtures for the role tests: scripted LLMs handed to the executor per test (``llm.install``),
tiny models built once per test session, and a plan runner through the real executor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.llm.fake import FakeBackend
from graphs.executor import Executor, RunResult
from graphs.plan import Plan, bind
from tools.artifacts import Session, Workspace
from tools.llm.access import LLMAccess
from tools.models import ModelPool
from tools.registry import load_registry


class SeeingFake(FakeBackend):
    """A scripted backend that declares it reads images (for the VQA/caption paths)."""

    accepts_images = True


class ScriptedLLMs:
    """The LLMs a test lends its tools; ``access`` is what the executor passes on as ``ctx.llm``."""

    def __init__(self) -> None:
        self.access: LLMAccess = LLMAccess.fixed(None)

    def install(self, text: FakeBackend | None = None, *, vision: FakeBackend | None = None) -> None:
        self.access = LLMAccess.fixed(text, vision)


@pytest.fixture
def llm() -> ScriptedLLMs:
    return ScriptedLLMs()


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models-roles")


@pytest.fixture
def pool(tiny_cache: Path) -> ModelPool:
    return ModelPool("tiny", cache_dir=tiny_cache)


@pytest.fixture
def session(tmp_path: Path) -> Session:
    return Workspace(tmp_path / "ws").session("t", create=True)


@pytest.fixture(scope="session")
def registry():
    return load_registry(only=["builtin", "diffusion", "llm", "video"])


@pytest.fixture
def run_plan(session: Session, pool: ModelPool, registry, llm: ScriptedLLMs) -> Callable[..., RunResult]:
    def run(steps: list[dict[str, Any]]) -> RunResult:
        plan = Plan.model_validate({"steps": steps, "outputs": {}})
        return Executor(session, models=pool, max_workers=1, registry=registry, llm=llm.access).run(bind(plan, registry, session))

    return run
