"""Fixtures for tool tests on the tiny profile: one build of the tiny models per test session,
one warm pool shared by the tool tests, and a helper that runs a plan through the real executor."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graphs.executor import Executor, RunResult
from graphs.plan import Plan, bind
from tools.artifacts import Session, Workspace
from tools.models import ModelPool
from tools.registry import load_registry

SIZE = 64
STEPS = 2


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tiny models are built, once per test session (the loading path still runs per pool)."""
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_pool(tiny_cache: Path) -> ModelPool:
    """A warm pool shared by tests that only run tools (pool tests make their own)."""
    return ModelPool("tiny", cache_dir=tiny_cache)


@pytest.fixture
def session(tmp_path: Path) -> Session:
    return Workspace(tmp_path / "ws").session("t", create=True)


@pytest.fixture(scope="session")
def diffusion_registry():
    return load_registry(only=["builtin", "diffusion"])


@pytest.fixture
def run_plan(session: Session, tiny_pool: ModelPool, diffusion_registry) -> Callable[..., RunResult]:
    """Run steps (dicts) through bind + Executor, exactly as a workflow or the agent would."""

    def run(steps: list[dict[str, Any]], outputs: dict[str, str] | None = None, pool: ModelPool | None = None) -> RunResult:
        plan = Plan.model_validate({"steps": steps, "outputs": outputs or {}})
        return Executor(session, models=pool or tiny_pool, max_workers=2).run(bind(plan, diffusion_registry, session))

    return run
