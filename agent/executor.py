"""The executor: runs a bound plan's steps, concurrently where they are independent, with caching.

Workflow files and agent plans both end here, so scripted runs and conversations share one
code path. ``execute_step`` is the unit (the LangGraph node calls it for one step);
``run`` schedules a whole plan on a thread pool: model calls release the GIL, and light tools
are I/O bound. A failing step is recorded and its dependents are skipped; every other step
finishes, and everything finished stays on disk and in the cache for the next run.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image
from pydantic import ValidationError

from agent.cache import StepCache, signature
from graphs.plan import ArtifactRef, BoundPlan, BoundStep, Ref, StepRef, format_validation_error
from tools.artifacts import Artifact, Kind, Layout, Session
from tools.base import Produced, ToolContext
from tools.errors import LlmgaError

Status = Literal["ran", "cached", "failed", "skipped"]


@dataclass
class StepResult:
    step: str
    tool: str
    status: Status
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    session: str
    steps: dict[str, StepResult]
    outputs: dict[str, str]

    @property
    def ok(self) -> bool:
        return all(r.status in ("ran", "cached") for r in self.steps.values())

    def count(self, status: Status) -> int:
        return sum(r.status == status for r in self.steps.values())


@dataclass(frozen=True)
class Event:
    """What the display shows: a step started, moved on, or ended."""

    kind: Literal["start", "progress", "end"]
    step: str
    tool: str
    fraction: float = 0.0
    note: str = ""
    result: StepResult | None = None


def _no_events(event: Event) -> None:
    return None


class Executor:
    def __init__(
        self,
        session: Session,
        cache: StepCache | None = None,
        *,
        models: Any = None,
        max_workers: int = 4,
        on_event: Callable[[Event], None] = _no_events,
    ):
        self.session = session
        self.cache = cache
        self.models = models
        self.max_workers = max_workers
        self.on_event = on_event

    # -- one step ----------------------------------------------------------------------------
    def _artifact_id(self, ref: Ref, done: dict[str, StepResult]) -> str:
        if isinstance(ref, ArtifactRef):
            return ref.id
        assert isinstance(ref, StepRef) and ref.output is not None
        return done[ref.step].outputs[ref.output]

    def _model_ids(self, roles: tuple[str, ...]) -> list[str]:
        return self.models.model_ids(roles) if self.models is not None else list(roles)

    def execute_step(self, step: BoundStep, done: dict[str, StepResult]) -> StepResult:
        """Run (or fetch from cache) one step whose dependencies are in ``done``."""
        tool = step.tool
        started = time.perf_counter()
        self.on_event(Event("start", step.id, tool.name))

        def finish(result: StepResult) -> StepResult:
            result.seconds = time.perf_counter() - started
            self.on_event(Event("end", step.id, tool.name, 1.0, result=result))
            return result

        try:
            inputs = {name: self.session.handle(self._artifact_id(ref, done)) for name, ref in step.inputs.items()}
            texts = {name: self.session.handle(self._artifact_id(ref, done)) for name, ref in step.text_params.items()}
            raw = {**step.params, **{name: h.text() for name, h in texts.items()}}
            try:
                params = tool.Params.model_validate(raw)
            except ValidationError as exc:
                raise LlmgaError(format_validation_error(exc)) from None
            models = self._model_ids(tool.models)
            payload = {
                "tool": tool.name,
                "version": tool.version,
                "params": params.model_dump(mode="json"),
                "inputs": {name: h.artifact.sha256 for name, h in {**inputs, **texts}.items()},
                "models": models,
            }
            seed = None
            if tool.takes_seed():
                seed = params.seed if params.seed is not None else int(signature(payload)[:8], 16) & 0x7FFFFFFF
                params = params.model_copy(update={"seed": seed})
                payload["params"] = params.model_dump(mode="json")
            sig = signature(payload)
            parents = {name: h.id for name, h in {**inputs, **texts}.items()}
            recipe = {"tool": tool.name, "args": params.model_dump(mode="json"), "seed": seed, "models": models, "parents": parents}

            if self.cache is not None and (hit := self.cache.lookup(sig)) is not None:
                outputs = {name: self._adopt(source, artifact, recipe) for name, (source, artifact) in hit.items()}
                if any(source.root != self.session.root for source, _ in hit.values()):
                    self.cache.store(sig, self.session, outputs)  # later hits here reuse the copy
                return finish(StepResult(step.id, tool.name, "cached", {k: a.id for k, a in outputs.items()}))

            ctx = ToolContext(
                step_id=step.id,
                seed=seed,
                scratch_parent=self.session.root,
                models=self.models,
                report=lambda s, fraction, note: self.on_event(Event("progress", s, tool.name, fraction, note)),
            )
            try:
                produced = tool().run(ctx, params, **{name: inputs.get(name) for name in tool.inputs})
                outputs = self._store(tool.name, tool.outputs, produced, recipe)
            finally:
                ctx.cleanup()
            if self.cache is not None:
                self.cache.store(sig, self.session, outputs)
            return finish(StepResult(step.id, tool.name, "ran", {k: a.id for k, a in outputs.items()}, warnings=ctx.warnings))
        except Exception as exc:  # a tool failure is data for the plan, not a crash
            return finish(StepResult(step.id, tool.name, "failed", error=describe_failure(exc)))

    def _store(self, tool: str, declared: dict[str, Kind], produced: Any, recipe: dict[str, Any]) -> dict[str, Artifact]:
        """Turn a tool's return value into artifacts; all of them or none."""
        if not isinstance(produced, dict) or set(produced) != set(declared):
            got = sorted(produced) if isinstance(produced, dict) else type(produced).__name__
            raise LlmgaError(f"tool {tool} returned {got}, but declares outputs {sorted(declared)}")
        stored: dict[str, Artifact] = {}
        try:
            for name, value in produced.items():
                meta: dict[str, Any] = {}
                if isinstance(value, Produced):
                    value, meta = value.value, value.meta
                _check_value(tool, name, declared[name], value)
                stored[name] = self.session.add(declared[name], value, meta=meta, **recipe)
        except BaseException:
            for artifact in stored.values():
                self.session.remove(artifact.id)
            raise
        return stored

    def _adopt(self, source: Session, artifact: Artifact, recipe: dict[str, Any]) -> Artifact:
        """Use a cached artifact: as it is in the same session, copied in from another one."""
        if source.root == self.session.root:
            return artifact
        value: Any = source.path(artifact)
        if artifact.kind in (Kind.IMAGE, Kind.MASK):
            value = Image.open(value)
        meta = {**artifact.meta, "cached_from": f"{source.id}/{artifact.id}"}
        return self.session.add(artifact.kind, value, meta=meta, **recipe)

    # -- a whole plan ------------------------------------------------------------------------
    def run(self, plan: BoundPlan) -> RunResult:
        """Run every step once its dependencies are done; skip the dependents of a failure."""
        done: dict[str, StepResult] = {}
        waiting = {s: set(plan.steps[s].deps) for s in plan.order}
        dependents: dict[str, list[str]] = {s: [] for s in plan.order}
        for step_id in plan.order:
            for dep in plan.steps[step_id].deps:
                dependents[dep].append(step_id)
        finished: queue.SimpleQueue[tuple[str, Future[StepResult]]] = queue.SimpleQueue()
        ready = [s for s in plan.order if not waiting[s]]
        in_flight = 0

        def skip(step_id: str, blocker: str) -> None:
            if step_id in done:
                return
            result = StepResult(step_id, plan.steps[step_id].tool.name, "skipped", error=f"needs '{blocker}', which did not finish")
            done[step_id] = result
            self.on_event(Event("end", step_id, result.tool, result=result))
            for later in dependents[step_id]:
                skip(later, step_id)

        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="llmga-step") as pool:
            while ready or in_flight:
                for step_id in ready:
                    step = plan.steps[step_id]
                    future = pool.submit(self.execute_step, step, {d: done[d] for d in step.deps})
                    future.add_done_callback(lambda f, s=step_id: finished.put((s, f)))
                    in_flight += 1
                ready = []
                step_id, future = finished.get()
                in_flight -= 1
                done[step_id] = future.result()
                for later in dependents[step_id]:
                    if done[step_id].status in ("failed", "skipped"):
                        skip(later, step_id)
                    else:
                        waiting[later].discard(step_id)
                        if not waiting[later] and later not in done:
                            ready.append(later)
        outputs = {}
        for name, ref in plan.outputs.items():
            if isinstance(ref, ArtifactRef):
                outputs[name] = ref.id
            elif isinstance(ref, StepRef) and ref.output and done[ref.step].status in ("ran", "cached"):
                outputs[name] = done[ref.step].outputs[ref.output]
        return RunResult(self.session.id, {s: done[s] for s in plan.order}, outputs)


def _check_value(tool: str, name: str, kind: Kind, value: Any) -> None:
    expected = {
        Kind.IMAGE: Image.Image,
        Kind.MASK: Image.Image,
        Kind.LAYOUT: Layout,
        Kind.TEXT: str,
        Kind.VIDEO: Path,
        Kind.AUDIO: Path,
    }[kind]
    if not isinstance(value, expected):
        raise LlmgaError(f"tool {tool} output '{name}' should be a {expected.__name__} for a {kind}, got {type(value).__name__}")


def describe_failure(exc: Exception) -> str:
    """One readable line for a failed step: our messages as they are, others with their type."""
    if isinstance(exc, ValidationError):
        return f"{exc.title}: {format_validation_error(exc)}"
    if isinstance(exc, LlmgaError):
        return str(exc)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:300]}".rstrip(": ")
