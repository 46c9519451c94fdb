"""The Ray backend: tool steps run on long-lived Ray actors, one per model family.

Why actors per family: a family (``text2img`` and its ``from_pipe`` siblings img2img, inpaint,
ControlNet, AnimateDiff; ``music``; ``realesrgan``; ``light`` for tools without models) shares
loaded weights, so the actor that serves it owns one ``ModelPool`` for the profile and keeps
it warm: the second request to a worker loads nothing. A family with models asks Ray for a GPU
when the cluster has GPUs (for a CPU otherwise); light tools ask for nothing and run anywhere.

What travels: the driver sends the tool class (by reference: workers have the same packages),
the validated parameters and each input as bytes plus its metadata; the worker runs the tool in a
private temp folder and sends back plain values (image pixels, file bytes, text, layouts) plus the
metadata and warnings. The driver then stores them through the executor exactly as a local run
does, so the session store has one writer and the step cache one signature for both backends.

Progress and cancel: a call is a streaming generator; the worker yields progress events while the
tool runs and the result last. The driver watches the job's cancel flag while it waits and tells
the worker, whose tool sees ``ctx.cancelled`` set at its next model step.

Worker death: a worker process that dies mid-step fails that step (Ray restarts the actor for the
next one); ``retries`` (setting ``ray_retries``) re-runs it on the restarted worker first. A call
that reaches an actor still restarting (no event came back) waits for the restart and is sent
again: it never ran, so it is not a death and uses no retry.

Stays in the driver: tools marked ``runs_in_driver`` (the LLM tools and composite tools, which
need ``ctx.llm`` and ``ctx.run_plan``: LLM backends and the sub-plan runner live in the driver;
a composite tool's sub-steps go through this backend again).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ray
from PIL import Image
from ray.exceptions import (
    ActorUnavailableError,
    GetTimeoutError,
    NodeDiedError,
    ObjectLostError,
    OutOfMemoryError,
    RayActorError,
    RayTaskError,
    WorkerCrashedError,
)

from graphs.backends.base import LocalBackend, ToolCall
from tools.artifacts import SIDECAR, Artifact, ArtifactHandle, Kind, Limits, Session
from tools.base import Produced, Tool, ToolContext, ToolParams
from tools.errors import ToolFailure

logger = logging.getLogger(__name__)

NAMESPACE = "llmga"
LIGHT = "light"
_POLL_SECONDS = 0.05
_LINEAGE_DEPTH = 8
_RESENDS = 3
_WORKER_DIED = (RayActorError, WorkerCrashedError, ObjectLostError, OutOfMemoryError, NodeDiedError)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _NotDelivered(Exception):
    """The actor was restarting when the call arrived: the tool never started."""


# -- what travels --------------------------------------------------------------------------------
@dataclass(frozen=True)
class WireInput:
    """An input artifact as bytes: its sidecar, its file, and the sidecars of the image/video
    ancestors ``ArtifactHandle.recorded_prompt`` walks (metadata only, no files)."""

    artifact: str
    data: bytes
    lineage: tuple[str, ...] = ()


@dataclass(frozen=True)
class WireValue:
    """One output value: ``kind`` is image (pixels), file (bytes) or value (str, Layout, other)."""

    kind: str
    payload: Any
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class WireCall:
    id: str
    tool: type[Tool]
    params: ToolParams
    inputs: dict[str, WireInput | None]
    step_id: str
    seed: int | None
    limits: Limits


@dataclass
class WireResult:
    outputs: Any
    """A dict of output name -> ``WireValue`` (or what the tool returned when it was not a dict)."""
    warnings: list[str] = field(default_factory=list)


def _lineage(handle: ArtifactHandle) -> tuple[str, ...]:
    session = Session(handle.path.parent)
    found: list[str] = []
    artifact = handle.artifact
    for _ in range(_LINEAGE_DEPTH):
        parents = [p for p in artifact.parents.values() if p.split("-")[0] in ("image", "video") and session.exists(p)]
        if not parents:
            break
        artifact = session.get(parents[0])
        found.append(artifact.model_dump_json())
    return tuple(found)


def encode_input(handle: ArtifactHandle | None) -> WireInput | None:
    if handle is None:
        return None
    return WireInput(handle.artifact.model_dump_json(), handle.path.read_bytes(), _lineage(handle))


def _encode_output(declared: Kind | None, value: Any) -> WireValue:
    meta = None
    if isinstance(value, Produced):
        value, meta = value.value, value.meta
    if isinstance(value, Image.Image) and declared in (Kind.IMAGE, Kind.MASK):
        img = value.convert("L" if declared is Kind.MASK else "RGB")  # what Session.add stores
        return WireValue("image", (img.mode, img.size, img.tobytes()), meta)
    if isinstance(value, Path):
        return WireValue("file", (value.name, value.read_bytes()), meta)
    return WireValue("value", value, meta)


def decode_outputs(result: WireResult, ctx: ToolContext) -> Any:
    """Back to what the tool's ``run`` returned; files land in the driver's scratch folder."""
    if not isinstance(result.outputs, dict):
        return result.outputs
    produced: dict[str, Any] = {}
    for name, wire in result.outputs.items():
        if wire.kind == "image":
            mode, size, pixels = wire.payload
            value: Any = Image.frombytes(mode, size, pixels)
        elif wire.kind == "file":
            file_name, data = wire.payload
            value = ctx.scratch / f"{name}-{file_name}"
            value.write_bytes(data)
        else:
            value = wire.payload
        produced[name] = Produced(value, wire.meta) if wire.meta is not None else value
    return produced


def to_wire(call: ToolCall) -> WireCall:
    """The call as it travels: the inputs read into bytes here, where the session is."""
    return WireCall(
        id=uuid.uuid4().hex,
        tool=call.tool,
        params=call.params,
        inputs={name: encode_input(handle) for name, handle in call.inputs.items()},
        step_id=call.ctx.step_id,
        seed=call.ctx.seed,
        limits=call.limits,
    )


def handle_event(event: tuple[Any, ...], ctx: ToolContext) -> WireResult | None:
    """One item of a worker's stream: progress goes to the job's ``report``, an error is raised as
    the step's ``ToolFailure``, the result is returned."""
    if event[0] == "progress":
        _, step, fraction, note, preview = event
        if preview is None:
            ctx.report(step, fraction, note)
        else:
            ctx.report(step, fraction, note, preview)
        return None
    if event[0] == "error":
        raise ToolFailure(event[1])
    return event[1]


# -- the worker ----------------------------------------------------------------------------------
class FamilyWorker:
    """A Ray actor that runs one model family's tools and keeps its models loaded."""

    def __init__(self, family: str, pool_args: dict[str, Any]):
        from tools.models import ModelPool

        self.family = family
        self.pool = ModelPool(**pool_args)
        self._cancels: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    @ray.method(concurrency_group="control")
    def ready(self) -> int:
        return os.getpid()

    @ray.method(concurrency_group="control")
    def stats(self) -> dict[str, Any]:
        stats = self.pool.stats.snapshot()
        return {"pid": os.getpid(), "family": self.family, "loads": stats.loads, "hits": stats.hits,
                "loaded_keys": stats.loaded_keys}

    @ray.method(concurrency_group="control")
    def cancel(self, call_id: str) -> None:
        with self._lock:
            self._cancels.setdefault(call_id, threading.Event()).set()

    def run(self, call: WireCall):  # a streaming generator: progress tuples, then the result
        with self._lock:
            cancelled = self._cancels.setdefault(call.id, threading.Event())
        events: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["result"] = self._execute(call, cancelled, events)
            except Exception as exc:  # the step's failure, sent back as its one line
                from graphs.executor import describe_failure

                logger.info("step %s failed on the %s worker", call.step_id, self.family, exc_info=True)
                outcome["error"] = describe_failure(exc)
            finally:
                events.put(None)

        thread = threading.Thread(target=work, name=f"llmga-{self.family}-{call.step_id}", daemon=True)
        thread.start()
        try:
            while (event := events.get()) is not None:
                yield event
            thread.join()
            yield ("error", outcome["error"]) if "error" in outcome else ("done", outcome["result"])
        finally:
            with self._lock:
                self._cancels.pop(call.id, None)

    def _execute(self, call: WireCall, cancelled: threading.Event, events: queue.SimpleQueue) -> WireResult:
        folder = Path(tempfile.mkdtemp(prefix=f"llmga-{call.step_id}-"))
        try:
            inputs = {name: self._materialise(folder, wire, call.limits) for name, wire in call.inputs.items()}
            ctx = ToolContext(
                step_id=call.step_id,
                seed=call.seed,
                scratch_parent=folder,
                models=self.pool,
                report=lambda step, fraction, note, preview=None: events.put(("progress", step, fraction, note, preview)),
                cancelled=cancelled,
            )
            try:
                produced = call.tool().run(ctx, call.params, **inputs)
                if isinstance(produced, dict):
                    produced = {name: _encode_output(call.tool.outputs.get(name), value) for name, value in produced.items()}
                return WireResult(produced, list(ctx.warnings))
            finally:
                ctx.cleanup()
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def _materialise(folder: Path, wire: WireInput | None, limits: Limits) -> ArtifactHandle | None:
        if wire is None:
            return None
        for sidecar in wire.lineage:
            ancestor = Artifact.model_validate_json(sidecar)
            (folder / f"{ancestor.id}{SIDECAR}").write_text(sidecar)
        artifact = Artifact.model_validate_json(wire.artifact)
        path = folder / artifact.file
        path.write_bytes(wire.data)
        (folder / f"{artifact.id}{SIDECAR}").write_text(wire.artifact)
        return ArtifactHandle(artifact, path, limits)


@functools.cache
def _remote_worker() -> Any:
    """The actor class; ``control`` calls (ready, stats, cancel) have threads of their own, so a
    cancel is heard while every default thread runs a tool."""
    return ray.remote(concurrency_groups={"control": 2})(FamilyWorker)


# -- the driver side -----------------------------------------------------------------------------
def family_of(tool: type[Tool], profile: Any = None) -> str:
    """The model family a tool's first role belongs to (its ``base`` chain's root role)."""
    if not tool.models:
        return LIGHT
    role = tool.models[0]
    roles = getattr(profile, "roles", {}) if profile is not None else {}
    seen = {role}
    while (spec := roles.get(role)) is not None and spec.base and spec.base not in seen:
        role = spec.base
        seen.add(role)
    return role


class RayBackend:
    """Runs tool steps on Ray actors; see the module docstring for what goes where and why."""

    def __init__(
        self,
        address: str | None = None,
        pool_args: dict[str, Any] | None = None,
        *,
        retries: int = 0,
        max_concurrency: int = 4,
        start_timeout: float = 180.0,
    ):
        """``address``: a running cluster (``auto``, ``host:6379`` or ``ray://host:10001``); ``None``
        starts a local Ray instance on first use. ``pool_args`` are each worker's ``ModelPool``
        arguments (the driver's profile, budget and model cache)."""
        self.address = address
        self.pool_args = dict(pool_args or {})
        self.retries = retries
        self.max_concurrency = max_concurrency
        self.start_timeout = start_timeout
        self._workers: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._started_ray = False
        self._local = LocalBackend()
        digest = json.dumps({k: str(v) for k, v in sorted(self.pool_args.items())})
        self._pool_tag = hashlib.sha256(digest.encode()).hexdigest()[:10]

    # -- workers -------------------------------------------------------------------------------
    def _connect(self) -> None:
        if ray.is_initialized():
            return
        if self.address is None:
            ray.init(include_dashboard=False, namespace=NAMESPACE, log_to_driver=False)
            self._started_ray = True
            return
        try:
            ray.init(address=self.address, namespace=NAMESPACE, log_to_driver=False)
        except ConnectionError as exc:
            raise ToolFailure(f"cannot reach the Ray cluster at {self.address} (LLMGA_RAY_ADDRESS): {_first_line(exc)}") from None

    def worker(self, family: str) -> Any:
        """The actor handle for ``family``, started (and checked to be placed) on first use."""
        with self._lock:
            if family in self._workers:
                return self._workers[family]
            self._connect()
            options: dict[str, Any] = {
                "name": f"{family}@{self._pool_tag}",
                "namespace": NAMESPACE,
                "get_if_exists": True,
                "max_restarts": -1,
                "max_task_retries": 0,
                "max_concurrency": self.max_concurrency,
                **self._resources(family),
            }
            if self.address is not None:
                options["lifetime"] = "detached"  # a cluster's workers outlive one job: models stay warm
            handle = _remote_worker().options(**options).remote(family, self.pool_args)
            try:
                ray.get(handle.ready.remote(), timeout=self.start_timeout)
            except GetTimeoutError:
                ray.kill(handle)
                raise ToolFailure(
                    f"no Ray node could host the '{family}' worker within {self.start_timeout:.0f} s "
                    f"(it asks for {self._resources(family)}); add a node with those resources"
                ) from None
            except _WORKER_DIED as exc:
                raise ToolFailure(f"the Ray worker for '{family}' could not start: {_first_line(exc)}") from None
            self._workers[family] = handle
            return handle

    def _resources(self, family: str) -> dict[str, float]:
        if family == LIGHT:
            return {"num_cpus": 0}
        if ray.cluster_resources().get("GPU", 0) > 0:
            return {"num_cpus": 1, "num_gpus": 1}
        return {"num_cpus": 1}

    def worker_stats(self, family: str) -> dict[str, Any]:
        """The worker's pid and model-pool counters (a warm second request adds hits only)."""
        return ray.get(self.worker(family).stats.remote())

    # -- one call --------------------------------------------------------------------------------
    def run(self, call: ToolCall) -> Any:
        if getattr(call.tool, "runs_in_driver", False):
            return self._local.run(call)
        if call.tool.__module__ == "__main__":
            raise ToolFailure(f"tool {call.tool.name} is defined in __main__, which Ray workers cannot import: "
                              "define it in a module (a plugin package) installed on the workers")
        family = family_of(call.tool, getattr(call.ctx.models, "profile", None))
        wire = to_wire(call)
        worker = self.worker(family)
        attempt = resent = 0
        while True:
            try:
                result = self._stream(worker, wire, call.ctx)
                break
            except _NotDelivered:
                resent += 1
                if resent > _RESENDS:
                    raise ToolFailure(f"the Ray worker for '{family}' kept restarting; the step was never run") from None
                self._await_restart(worker, family)
                wire = replace(wire, id=uuid.uuid4().hex)
                continue
            except RayTaskError as exc:  # the call itself broke on the worker (e.g. it could not unpickle it)
                raise ToolFailure(f"the Ray worker for '{family}' could not run the step: {_first_line(exc.cause or exc)}") from None
            except _WORKER_DIED as exc:
                if attempt == self.retries:
                    raise ToolFailure(f"the Ray worker for '{family}' died during the step ({_first_line(exc)})") from None
                attempt += 1
                logger.warning("the %s worker died during step %s; retrying (%d of %d)",
                               family, call.ctx.step_id, attempt, self.retries)
                wire = replace(wire, id=uuid.uuid4().hex)
        call.ctx.warnings.extend(result.warnings)
        return decode_outputs(result, call.ctx)

    def _stream(self, worker: Any, wire: WireCall, ctx: ToolContext) -> WireResult:
        stream = worker.run.options(num_returns="streaming").remote(wire)
        told_cancel = False
        delivered = False
        while True:
            if ctx.cancelled.is_set() and not told_cancel:
                worker.cancel.remote(wire.id)
                told_cancel = True
            ready, _ = ray.wait([stream], timeout=_POLL_SECONDS)
            if not ready:
                continue
            try:
                event = ray.get(next(stream))
            except StopIteration:
                raise ToolFailure("the Ray worker ended the call without a result") from None
            except ActorUnavailableError:
                if delivered:
                    raise
                raise _NotDelivered from None
            delivered = True
            if (result := handle_event(event, ctx)) is not None:
                return result

    def _await_restart(self, worker: Any, family: str) -> None:
        """Block until a restarting actor answers, for at most ``start_timeout`` seconds."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                ray.get(worker.ready.remote(), timeout=max(0.1, deadline - time.monotonic()))
                return
            except ActorUnavailableError:
                if time.monotonic() > deadline:
                    break
                time.sleep(_POLL_SECONDS * 4)
            except GetTimeoutError:
                break
            except _WORKER_DIED as exc:
                raise ToolFailure(f"the Ray worker for '{family}' did not come back: {_first_line(exc)}") from None
        raise ToolFailure(f"the Ray worker for '{family}' was still restarting after {self.start_timeout:.0f} s")

    def close(self, *, kill_workers: bool = False) -> None:
        """Forget the workers (killing them when asked, or when they belong to a local instance
        this backend started) and stop that local instance."""
        with self._lock:
            if kill_workers or self._started_ray:
                for handle in self._workers.values():
                    try:
                        ray.kill(handle)
                    except (ValueError, RayActorError):  # already gone
                        pass
            self._workers.clear()
            if self._started_ray:
                ray.shutdown()
                self._started_ray = False


def _first_line(exc: BaseException) -> str:
    text = _ANSI.sub("", str(exc)).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


__all__ = ["FamilyWorker", "RayBackend", "WireCall", "WireInput", "WireResult", "WireValue", "decode_outputs", "family_of",
           "handle_event", "to_wire"]
