"""The library behind the CLI: one object that owns settings, registry, workspace and cache.

The CLI only parses flags and prints; everything it does is a method here, so tests and other
front ends (a chat UI, the LangGraph server) drive exactly the same code.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from agent.config import Settings
from graphs.backends import ExecutionBackend, LocalBackend, make_backend
from graphs.cache import StepCache
from graphs.executor import Event, Executor, RunResult
from graphs.plan import BoundPlan, Plan, bind
from graphs.workflow import Workflow, compile_workflow, load_workflow
from tools.artifacts import Session, Workspace
from tools.errors import InputError
from tools.llm.access import LLMAccess
from tools.models import ModelPool
from tools.registry import Registry, load_registry


@dataclass
class WorkflowRun:
    row: dict[str, Any]
    plan: BoundPlan
    result: RunResult


class Runtime:
    def __init__(self, settings: Settings | None = None, registry: Registry | None = None, llm: LLMAccess | None = None):
        """``llm`` replaces the configured LLMs the LLM tools use (a program's or a test's own)."""
        self.settings = settings or Settings()
        self._registry = registry
        self._llm = llm

    @cached_property
    def registry(self) -> Registry:
        return self._registry if self._registry is not None else load_registry()

    @cached_property
    def workspace(self) -> Workspace:
        return Workspace(self.settings.workspace, self.settings.limits())

    def pool_args(self) -> dict[str, Any]:
        """The model pool's arguments: this process's pool and each Ray worker's are built from them."""
        budget = self.settings.model_budget_mb * 2**20 if self.settings.model_budget_mb else None
        return {
            "profile": self.settings.profile,
            "budget_bytes": budget,
            "cache_dir": self.workspace.root / "models",
            "max_generate_pixels": self.settings.max_generate_pixels,
        }

    @cached_property
    def models(self) -> ModelPool:
        """One pool per Runtime: every run and step of this process shares its loaded models."""
        return ModelPool(**self.pool_args())

    @cached_property
    def backend(self) -> ExecutionBackend:
        """Where tool steps run (setting ``executor``): here, or on Ray workers that keep models loaded."""
        if self.settings.executor == "local":
            return LocalBackend()
        return make_backend("ray", address=self.settings.ray_address, pool_args=self.pool_args(),
                            retries=self.settings.ray_retries, max_concurrency=self.settings.max_workers)

    @cached_property
    def llm(self) -> LLMAccess:
        """The LLMs the LLM tools use, built on first use from the planner's configuration."""
        if self._llm is not None:
            return self._llm
        from agent.llm import configured_vision, get_backend

        return LLMAccess(get_backend, configured_vision)

    def session(self, session_id: str | None, *, create: bool = False, prefix: str = "s") -> Session:
        if session_id is None:
            return self.workspace.new_session(prefix)
        return self.workspace.session(session_id, create=create)

    def latest_session(self) -> Session:
        sessions = self.workspace.sessions()
        if not sessions:
            raise InputError(f"no sessions yet in {self.workspace.root}")
        return self.workspace.session(sessions[-1])

    def _roots(self, workflow_path: Path) -> list[Path]:
        return [self.workspace.root, workflow_path.resolve().parent, Path.cwd()]

    def bind_workflow(self, workflow: Workflow, path: Path, session: Session, given: dict[str, Any]) -> BoundPlan:
        plan = compile_workflow(workflow, session, given, base_dir=path.resolve().parent, roots=self._roots(path))
        return bind(plan, self.registry, session)

    def validate_workflow(self, path: Path, given: dict[str, Any] | None = None) -> BoundPlan:
        """Check everything a run would check, importing inputs into a throwaway session."""
        return self._check(load_workflow(path), path, given or {})

    def _check(self, workflow: Workflow, path: Path, given: dict[str, Any]) -> BoundPlan:
        scratch = self.workspace.root / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="validate-", dir=scratch) as tmp:
            return self.bind_workflow(workflow, path, Session(Path(tmp), self.workspace.limits), given)

    def executor(
        self, session: Session, *, use_cache: bool = True, on_event: Callable[[Event], None] | None = None, cancel: threading.Event | None = None
    ) -> Executor:
        """``cancel`` is a job's stop flag: once set, running tools stop at their next model step."""
        cache = StepCache(self.workspace) if use_cache else None
        return Executor(session, cache, models=self.models, max_workers=self.settings.max_workers, registry=self.registry, llm=self.llm,
                        cancel=cancel, backend=self.backend, **({"on_event": on_event} if on_event else {}))

    def run_plan(self, plan: Plan, session: Session, **executor_args: Any) -> tuple[BoundPlan, RunResult]:
        bound = bind(plan, self.registry, session)
        return bound, self.executor(session, **executor_args).run(bound)

    def run_workflow(
        self,
        path: Path,
        rows: list[dict[str, Any]],
        *,
        session_id: str | None = None,
        on_plan: Callable[[BoundPlan, dict[str, Any]], None] | None = None,
        **executor_args: Any,
    ) -> tuple[Session, list[WorkflowRun]]:
        """Run a workflow once per row of input values, all rows in one session.

        Every row is compiled and checked before anything runs, so a bad row in a batch stops
        the batch before it has spent any compute.
        """
        workflow = load_workflow(path)
        prefix = "wf-" + (path.stem.replace("_", "-")[:24] or "run")
        session = self.session(session_id, create=True, prefix=prefix)
        try:  # check every row before running any: a bad row spends nothing and leaves no trace
            plans = [(row, self.bind_workflow(workflow, path, session, row)) for row in rows]
        except BaseException:
            # Take back only what this call imported: other runs may be writing to the same session.
            session.take_back()
            if session.is_new:
                with contextlib.suppress(OSError):  # not empty: another run is using it now
                    session.root.rmdir()
            raise
        runs = []
        for row, bound in plans:
            if on_plan:
                on_plan(bound, row)
            runs.append(WorkflowRun(row, bound, self.executor(session, **executor_args).run(bound)))
        return session, runs
