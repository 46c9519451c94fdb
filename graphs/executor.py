"""The executor: runs a bound plan's steps, concurrently where they are independent, with caching.

Workflow files and agent plans both end here, so scripted runs and conversations share one
code path. ``execute_step`` is the unit (the LangGraph node calls it for one step);
``run`` schedules a whole plan on a thread pool: model calls release the GIL, and light tools
are I/O bound. A failing step is recorded and its dependents are skipped; every other step
finishes, and everything finished stays on disk and in the cache for the next run.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from PIL import Image
from pydantic import ValidationError

from graphs.backends import ExecutionBackend, LocalBackend, ToolCall
from graphs.cache import StepCache, signature
from graphs.plan import ArtifactRef, BoundPlan, BoundStep, Plan, Ref, StepRef, bind
from tools.artifacts import Artifact, Kind, Layout, Session
from tools.base import Produced, SubRun, ToolContext
from tools.errors import LlmgaError, ToolFailure, format_validation_error
from tools.registry import Registry

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
    preview: Any = None
    """A small PIL image of the work in progress, where the tool gives one (diffusion steps do)."""


def _no_events(event: Event) -> None:
    return None


FINISHED: tuple[Status, ...] = ("ran", "cached")


def schedule(deps: Mapping[str, set[str]], status: Mapping[str, Status]) -> tuple[list[str], dict[str, str]]:
    """The one scheduling rule, for the executor's pool and the agent's ``Send`` fan-out alike.

    Given each step's dependencies and the status of the steps that ended, returns the steps now
    ready to run (every dependency finished) and the steps that can never run, each with the
    failed or skipped step that blocks it.
    """
    skipped: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for step_id, needs in deps.items():
            if step_id in status or step_id in skipped:
                continue
            blocker = next((d for d in sorted(needs) if status.get(d) in ("failed", "skipped") or d in skipped), None)
            if blocker is not None:
                skipped[step_id] = blocker
                changed = True
    ready = [s for s, needs in deps.items() if s not in status and s not in skipped and all(status.get(d) in FINISHED for d in needs)]
    return ready, skipped


def skipped_result(step_id: str, tool: str, blocker: str) -> StepResult:
    return StepResult(step_id, tool, "skipped", error=f"needs '{blocker}', which did not finish")


class Executor:
    def __init__(
        self,
        session: Session,
        cache: StepCache | None = None,
        *,
        models: Any = None,
        max_workers: int = 4,
        on_event: Callable[[Event], None] = _no_events,
        registry: Registry | None = None,
        llm: Any = None,
        cancel: threading.Event | None = None,
        backend: ExecutionBackend | None = None,
    ):
        """``registry`` lets composite tools run sub-plans; ``llm`` is the ``LLMAccess`` LLM tools
        use; ``cancel``, once set, stops running tools at their next model step and starts no more."""
        self.session = session
        self.cache = cache
        self.models = models
        self.max_workers = max_workers
        self.on_event = on_event
        self.registry = registry
        self.llm = llm
        self.cancel = cancel or threading.Event()
        self.backend = backend or LocalBackend()
        """Where a step's tool runs (here, or on a Ray worker); everything around the call stays here."""

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
                outputs = self._adopt(hit, recipe)
                if any(source.root != self.session.root for source, _ in hit.values()):
                    self.cache.store(sig, self.session, outputs)  # later hits here reuse the copy
                return finish(StepResult(step.id, tool.name, "cached", {k: a.id for k, a in outputs.items()}))

            if self.cancel.is_set():
                raise ToolFailure("cancelled")
            ctx = ToolContext(
                step_id=step.id,
                seed=seed,
                scratch_parent=self.session.root,
                models=self.models,
                report=lambda s, fraction, note, preview=None: self.on_event(Event("progress", s, tool.name, fraction, note, preview=preview)),
                cancelled=self.cancel,
                llm=self.llm,
            )
            ctx.run_plan = self._sub_runner(ctx)
            try:
                call = ToolCall(tool, params, {name: inputs.get(name) for name in tool.inputs}, ctx, self.session.limits)
                produced = self.backend.run(call)
                outputs = self._store(tool.name, tool.outputs, produced, recipe)
            finally:
                ctx.cleanup()
            if self.cache is not None:
                self.cache.store(sig, self.session, outputs)
            return finish(StepResult(step.id, tool.name, "ran", {k: a.id for k, a in outputs.items()}, warnings=ctx.warnings))
        except Exception as exc:  # a tool failure is data for the plan, not a crash
            return finish(StepResult(step.id, tool.name, "failed", error=describe_failure(exc)))

    def _store(self, tool: str, declared: dict[str, Kind], produced: Any, recipe: dict[str, Any]) -> dict[str, Artifact]:
        """Turn a tool's return value into artifacts; all of them or none (one ``add_many`` commit:
        a crash or a refused output leaves no step half stored)."""
        if not isinstance(produced, dict) or set(produced) != set(declared):
            got = sorted(produced) if isinstance(produced, dict) else type(produced).__name__
            raise LlmgaError(f"tool {tool} returned {got}, but declares outputs {sorted(declared)}")
        items = []
        profile = getattr(getattr(self.models, "profile", None), "name", None)  # recorded so a recipe can be re-run alike
        for name, value in produced.items():
            meta: dict[str, Any] = {}
            if isinstance(value, Produced):
                value, meta = value.value, value.meta
            _check_value(tool, name, declared[name], value)
            items.append((declared[name], value, {"output": name, **({"profile": profile} if profile else {}), **meta}))
        return dict(zip(produced, self.session.add_many(items, **recipe), strict=True))

    def _adopt(self, hit: dict[str, tuple[Session, Artifact]], recipe: dict[str, Any]) -> dict[str, Artifact]:
        """Use a cached step: as it is in the same session, copied in (all outputs at once) from another."""
        if all(source.root == self.session.root for source, _ in hit.values()):
            return {name: artifact for name, (_, artifact) in hit.items()}
        items = []
        for source, artifact in hit.values():
            value: Any = source.path(artifact)
            if artifact.kind in (Kind.IMAGE, Kind.MASK):
                value = Image.open(value)
            items.append((artifact.kind, value, {**artifact.meta, "cached_from": f"{source.id}/{artifact.id}"}))
        return dict(zip(hit, self.session.add_many(items, **recipe), strict=True))

    def _sub_runner(self, ctx: ToolContext) -> Callable[[dict[str, Any]], SubRun] | None:
        """The plan runner a composite tool gets: same session, cache, models, LLMs and events."""
        if self.registry is None:
            return None
        registry = self.registry

        def run(spec: dict[str, Any]) -> SubRun:
            try:
                plan = Plan.model_validate(spec)
            except ValidationError as exc:
                raise ToolFailure(f"{ctx.step_id}: its sub-plan is invalid: {format_validation_error(exc)}") from None
            child = Executor(self.session, self.cache, models=self.models, max_workers=1, registry=registry, llm=self.llm, cancel=self.cancel,
                             backend=self.backend, on_event=lambda e: self.on_event(replace(e, step=f"{ctx.step_id}/{e.step}")))
            result = child.run(bind(plan, registry, self.session))
            for step in result.steps.values():
                ctx.warnings.extend(w for w in step.warnings if w not in ctx.warnings)
            failed = {s: r.error for s, r in result.steps.items() if r.status not in FINISHED}
            if failed:
                raise ToolFailure(f"{ctx.step_id}: sub-steps did not finish: " + "; ".join(f"{s}: {e}" for s, e in failed.items()))
            handle = self.session.handle
            return SubRun({s: {n: handle(a) for n, a in r.outputs.items()} for s, r in result.steps.items()},
                          {n: handle(a) for n, a in result.outputs.items()})

        return run

    # -- a whole plan ------------------------------------------------------------------------
    def run(self, plan: BoundPlan) -> RunResult:
        """Run every step once its dependencies are done; skip the dependents of a failure."""
        done: dict[str, StepResult] = {}
        deps = {s: set(plan.steps[s].deps) for s in plan.order}
        finished: queue.SimpleQueue[tuple[str, Future[StepResult]]] = queue.SimpleQueue()
        in_flight: set[str] = set()
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="llmga-step") as pool:
            while True:
                ready, skipped = schedule(deps, {s: r.status for s, r in done.items()})
                for step_id, blocker in skipped.items():
                    done[step_id] = skipped_result(step_id, plan.steps[step_id].tool.name, blocker)
                    self.on_event(Event("end", step_id, done[step_id].tool, result=done[step_id]))
                for step_id in ready:
                    if step_id in in_flight:
                        continue
                    step = plan.steps[step_id]
                    future = pool.submit(self.execute_step, step, {d: done[d] for d in step.deps})
                    future.add_done_callback(lambda f, s=step_id: finished.put((s, f)))
                    in_flight.add(step_id)
                if not in_flight:
                    break
                step_id, future = finished.get()
                in_flight.discard(step_id)
                done[step_id] = future.result()
        outputs = {}
        for name, ref in plan.outputs.items():
            if isinstance(ref, ArtifactRef):
                outputs[name] = ref.id
            elif isinstance(ref, StepRef) and ref.output and done[ref.step].status in FINISHED:
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
