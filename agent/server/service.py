"""The service behind both faces (HTTP API and web UI): sessions, artifacts and jobs per user.

One ``Runtime`` (registry, model pool, step cache) and one planner backend serve every job of the
process; each job runs the same ``Conversation`` the CLI runs, with an ``AgentContext`` that carries
the job's event callbacks and cancel flag. The conversation checkpointer comes from
``agent.conversation.checkpointer(runtime)``, once per process, so another store (PostgreSQL)
plugs in there for every face at once.

Ownership: a session made through the service belongs to the user whose token made it (recorded in
``<workspace>/server/owners.json``); another user's session is reported as unknown (404), never as
forbidden, so its existence does not leak. Without tokens there is one local user who sees the
whole workspace (the CLI's sessions too).
"""

from __future__ import annotations

import base64
import hmac
import io
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import Any

from agent.conversation import Conversation, checkpointer
from agent.nodes import AgentContext
from agent.runtime import Runtime
from agent.server.config import LOCAL_USER, ServerSettings
from agent.server.jobs import Job, JobEvent, JobQueue, JobState, StepStatus
from graphs.executor import Event
from graphs.plan import BoundPlan
from graphs.workflow import load_workflow
from tools.artifacts import ARTIFACT_ID, Artifact, Kind, Session
from tools.errors import InputError, LlmgaError, UserError
from tools.llm.protocol import LLMBackend

log = logging.getLogger(__name__)

UPLOAD_KINDS = (Kind.IMAGE, Kind.MASK, Kind.VIDEO, Kind.AUDIO)
PREVIEW_INTERVAL = 0.25
"""Seconds between two previews of one step on the stream (progress itself is never dropped)."""


class NotFound(UserError):
    """An unknown session, artifact or job, or one that belongs to another user (HTTP 404)."""


class Conflict(UserError):
    """The request does not fit the current state: a second approval, cancelling a finished job,
    a turn on a session that already has one running (HTTP 409)."""


class Unauthorized(UserError):
    """No token, or one the server does not know (HTTP 401)."""


class Owners:
    """Which user made which session: a small JSON file in the workspace. Reads follow the file and a
    change is made under an exclusive lock on it, so service processes sharing one workspace agree."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._owners: dict[str, str] = {}
        self._stamp: float | None = None

    def _load(self) -> None:
        stamp = self.path.stat().st_mtime_ns if self.path.is_file() else None
        if stamp != self._stamp:
            self._owners = json.loads(self.path.read_text()) if stamp is not None else {}
            self._stamp = stamp

    def get(self, session_id: str) -> str | None:
        with self._lock:
            self._load()
            return self._owners.get(session_id)

    def set(self, session_id: str, user: str) -> None:
        import fcntl

        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_suffix(".lock"), "w") as guard:
                fcntl.flock(guard, fcntl.LOCK_EX)
                self._stamp = None
                self._load()
                self._owners[session_id] = user
                tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(self._owners, indent=1, sort_keys=True))
                os.replace(tmp, self.path)


def data_url(image: Any, side: int = 96) -> str:
    """A small PNG preview as a data URL: the stream carries it inline, no extra request."""
    thumb = image.copy()
    thumb.thumbnail((side, side))
    buffer = io.BytesIO()
    thumb.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class Service:
    def __init__(self, runtime: Runtime, settings: ServerSettings | None = None, backend: LLMBackend | None = None):
        self.runtime = runtime
        self.settings = settings or ServerSettings()
        self._backend = backend
        self.saver = checkpointer(runtime)
        self.owners = Owners(runtime.workspace.root / "server" / "owners.json")
        self._jobs: dict[str, Job] = {}
        self._active: dict[str, str] = {}
        self._lock = threading.RLock()
        self._last_preview: dict[tuple[str, str], float] = {}
        self.queue = JobQueue(self._run, workers=self.settings.workers, limit=self.settings.queue_size)

    @cached_property
    def backend(self) -> LLMBackend:
        from agent.llm import get_backend

        return self._backend if self._backend is not None else get_backend(self.settings.planner)

    def close(self) -> None:
        """Stop: running jobs are cancelled (a diffusion step stops at its next step), workers are joined,
        so no model call is still running when the process exits."""
        for job in list(self._jobs.values()):
            if not job.state.finished:
                job.cancel.set()
        self.queue.stop(timeout=30.0)

    # -- users -------------------------------------------------------------------------------
    @property
    def open_access(self) -> bool:
        return not self.settings.tokens

    def user_for_token(self, token: str | None) -> str:
        if self.open_access:
            return LOCAL_USER
        if not token:
            raise Unauthorized("this server needs an API token: send `Authorization: Bearer <token>`")
        for user, known in self.settings.tokens.items():
            if hmac.compare_digest(token.encode(), known.encode()):
                return user
        raise Unauthorized("unknown API token")

    def check_login(self, user: str, token: str) -> bool:
        """The web UI's login: the user name and that user's token as the password."""
        known = self.settings.tokens.get(user)
        return known is not None and hmac.compare_digest(token.encode(), known.encode())

    # -- sessions ----------------------------------------------------------------------------
    def _visible(self, user: str, session_id: str) -> bool:
        if session_id not in self.runtime.workspace.sessions():
            return False
        return self.open_access or self.owners.get(session_id) == user

    def session(self, user: str, session_id: str) -> Session:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}", session_id) or not self._visible(user, session_id):
            raise NotFound(f"no session '{session_id}'")
        return self.runtime.workspace.session(session_id)

    def create_session(self, user: str, prefix: str = "chat") -> Session:
        with self._lock:  # the id is picked by checking the folder: one creator at a time
            session = self.runtime.session(None, prefix=prefix)
            self.owners.set(session.id, user)
        return session

    def sessions(self, user: str) -> list[dict[str, Any]]:
        return [self.session_summary(user, sid) for sid in self.runtime.workspace.sessions() if self._visible(user, sid)]

    def conversation(self, session: Session) -> Conversation:
        return Conversation(AgentContext(runtime=self.runtime, backend=self._backend), session, self.saver)

    def session_summary(self, user: str, session_id: str) -> dict[str, Any]:
        session = self.session(user, session_id)
        checkpoint = self.saver.get_tuple({"configurable": {"thread_id": session_id}})
        turns = checkpoint.checkpoint.get("channel_values", {}).get("turn", 0) if checkpoint else 0
        return {"id": session_id, "turns": turns, "artifacts": len(session.artifacts()), "active_job": self._active.get(session_id)}

    def show(self, user: str, session_id: str) -> dict[str, Any]:
        session = self.session(user, session_id)
        chat = self.conversation(session)
        state = chat.state()
        return {
            **self.session_summary(user, session_id),
            "turns": state.get("turns", []),
            "pending": list(chat.pending()),
            "artifacts": [self.artifact_view(a) for a in session.artifacts()],
        }

    def _idle(self, session_id: str) -> None:
        busy = self._active.get(session_id)
        if busy:
            raise Conflict(f"session {session_id} has an unfinished job {busy}: wait for it to finish, or cancel it")

    def undo(self, user: str, session_id: str, turns: int = 1) -> int:
        session = self.session(user, session_id)
        with self._lock:
            self._idle(session_id)
            return self.conversation(session).undo(turns)

    def export(self, user: str, session_id: str) -> dict[str, Any]:
        return self.conversation(self.session(user, session_id)).export_workflow()

    # -- artifacts ---------------------------------------------------------------------------
    @staticmethod
    def artifact_view(artifact: Artifact) -> dict[str, Any]:
        return artifact.model_dump(mode="json")

    def artifact(self, user: str, session_id: str, artifact_id: str) -> tuple[Session, Artifact]:
        session = self.session(user, session_id)
        if not ARTIFACT_ID.match(artifact_id) or not session.exists(artifact_id):
            raise NotFound(f"no artifact '{artifact_id}' in session {session_id}")
        return session, session.get(artifact_id)

    def recipe(self, user: str, session_id: str, artifact_id: str) -> dict[str, Any]:
        """The artifact's record plus its ancestors, oldest last: enough to see and replay how it was made."""
        session, artifact = self.artifact(user, session_id, artifact_id)
        lineage, seen, todo = [], {artifact.id}, list(artifact.parents.values())
        while todo:
            parent_id = todo.pop(0)
            if parent_id in seen or not session.exists(parent_id):
                continue
            seen.add(parent_id)
            parent = session.get(parent_id)
            lineage.append(self.artifact_view(parent))
            todo.extend(parent.parents.values())
        return {**self.artifact_view(artifact), "lineage": lineage}

    def upload(self, user: str, session_id: str, filename: str, data: bytes, kind: str) -> Artifact:
        """Check an uploaded file as ``kind`` exactly as ``--image`` checks a path; store it or nothing."""
        session = self.session(user, session_id)
        try:
            wanted = Kind(kind)
        except ValueError:
            raise InputError(f"unknown kind {kind!r}: upload one of {', '.join(k.value for k in UPLOAD_KINDS)}") from None
        if wanted not in UPLOAD_KINDS:
            raise InputError(f"kind {kind!r} cannot be uploaded: use one of {', '.join(k.value for k in UPLOAD_KINDS)}")
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(filename or "upload").name)[:80].lstrip(".") or "upload"
        limits = self.runtime.workspace.limits
        limits.check_bytes(len(data), name)
        scratch = self.runtime.workspace.root / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="upload-", dir=scratch) as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            return session.import_file(path, wanted)

    # -- jobs --------------------------------------------------------------------------------
    def job(self, user: str, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.user != user:
            raise NotFound(f"no job '{job_id}'")
        return job

    def jobs(self, user: str, session_id: str | None = None) -> list[Job]:
        return [j for j in self._jobs.values() if j.user == user and (session_id is None or j.session_id == session_id)]

    def submit_turn(
        self, user: str, session_id: str, text: str, attachments: list[str] | None = None, *, approve: bool | None = None, webhook: str | None = None
    ) -> Job:
        session = self.session(user, session_id)
        missing = [a for a in attachments or [] if not ARTIFACT_ID.match(a) or not session.exists(a)]
        if missing:
            raise InputError(f"session {session_id} has no artifact {', '.join(missing)}: upload it first")
        if not text.strip():
            raise InputError("the request text is empty: say what to make or change")
        job = Job(user, session_id, "turn", {"text": text, "attachments": list(attachments or [])},
                  approve=self.settings.approve if approve is None else approve, webhook=webhook)
        return self._admit(job)

    def submit_workflow(
        self, user: str, session_id: str, workflow_yaml: str, inputs: dict[str, Any] | None = None, *, webhook: str | None = None
    ) -> Job:
        """A workflow file run as a job in the session; it is checked in full before it is queued."""
        session = self.session(user, session_id)
        folder = Path(tempfile.mkdtemp(prefix="workflow-", dir=self._scratch()))
        path = folder / "workflow.yaml"
        path.write_text(workflow_yaml)
        try:
            workflow = load_workflow(path)
            given = dict(inputs or {})
            self._confine_inputs(user, workflow, given)
            self.runtime.bind_workflow(workflow, path, session, given)  # every check a run makes, before it is queued
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        job = Job(user, session.id, "workflow", {"path": str(path), "inputs": given, "name": workflow.name}, webhook=webhook)
        return self._admit(job)

    def _scratch(self) -> Path:
        scratch = self.runtime.workspace.root / "tmp"
        scratch.mkdir(parents=True, exist_ok=True)
        return scratch

    def _confine_inputs(self, user: str, workflow: Any, given: dict[str, Any]) -> None:
        """On a shared server a file input is an artifact id or a file of the user's own sessions, never
        any path the server process can read."""
        own = [self.runtime.workspace.sessions_dir / sid for sid in self.runtime.workspace.sessions() if self._visible(user, sid)]
        for name, spec in workflow.inputs.items():
            if not spec.is_file:
                continue
            value = given.get(name, spec.default)
            if value is None or ARTIFACT_ID.match(str(value)):
                continue
            resolved = Path(str(value)).expanduser().resolve()
            if not any(resolved.is_relative_to(folder.resolve()) for folder in own):
                raise InputError(f"input '{name}': on the service a file input is an artifact id of the session (upload the file first), "
                                 f"or a file of one of your sessions; {value!r} is neither")

    def _admit(self, job: Job) -> Job:
        with self._lock:
            self._idle(job.session_id)
            self.queue.put(job)
            self._jobs[job.id] = job
            self._active[job.session_id] = job.id
        job.emit("state", {"state": job.state.value})
        return job

    def approve(self, user: str, job_id: str, yes: bool = True) -> Job:
        job = self.job(user, job_id)
        with job.lock:
            if job.state is not JobState.AWAITING_APPROVAL or job.answer is not None:
                raise Conflict(f"job {job_id} is {job.state.value}" + (" and already answered" if job.answer is not None else "")
                               + ": only a job awaiting approval can be approved or declined, once")
            job.answer = yes
        if yes:
            job.set_state(JobState.RUNNING)
        self.queue.put(job, resumed=True)
        return job

    def cancel(self, user: str, job_id: str) -> Job:
        job = self.job(user, job_id)
        with job.lock:
            if job.state.finished:
                raise Conflict(f"job {job_id} is already {job.state.value}: there is nothing to cancel")
            job.cancel.set()
            waiting = job.state
            unanswered = job.answer is None
            if waiting is JobState.AWAITING_APPROVAL and unanswered:
                job.answer = False  # the graph is told "declined" so the turn closes cleanly
        if waiting is JobState.QUEUED and unanswered:
            self._finish(job, JobState.CANCELLED, error="cancelled before it started")
        elif waiting is JobState.AWAITING_APPROVAL and unanswered:
            self.queue.put(job, resumed=True)
        job.emit("cancel_requested", {"state": job.state.value})
        return job

    # -- running -----------------------------------------------------------------------------
    def _run(self, job: Job) -> None:
        with job.lock:
            if job.state.finished:
                return
            if job.started_at is None:
                job.started_at = time.time()
        try:
            if job.kind == "turn":
                self._run_turn(job)
            else:
                self._run_workflow(job)
        except LlmgaError as exc:
            self._finish(job, JobState.CANCELLED if job.cancel.is_set() else JobState.FAILED, error=str(exc))
        except Exception as exc:  # the face's error boundary: log the traceback, keep the session, say one line
            log.exception("job %s failed unexpectedly", job.id)
            self._finish(job, JobState.FAILED, error=f"internal error ({type(exc).__name__}: {str(exc)[:200]}); the session is intact")

    def _context(self, job: Job) -> AgentContext:
        return AgentContext(
            runtime=self.runtime,
            backend=self.backend,
            approve=job.approve,
            on_event=lambda event: self._on_step_event(job, event),
            on_plan=lambda bound, reply: self._on_plan(job, bound, reply),
            cancel=job.cancel,
        )

    def _run_turn(self, job: Job) -> None:
        chat = Conversation(self._context(job), self.runtime.workspace.session(job.session_id), self.saver)
        if job.answer is None:
            job.set_state(JobState.PLANNING)
            chat.send(job.request["text"], job.request["attachments"])
        else:
            chat.resume(job.answer)
        if chat.pending() == ("approve",):
            if job.cancel.is_set():
                chat.resume(False)
            else:
                with job.lock:
                    job.answer = None  # a replanned turn asks again
                job.set_state(JobState.AWAITING_APPROVAL, plan=job.plan)
                return  # the worker is free; approve() puts the job back in the queue
        state = chat.state()
        turn = state["turns"][-1] if state.get("turns") else {}
        messages = state.get("messages", [])
        job.reply = str(messages[-1].content) if messages else ""
        job.outputs = list(turn.get("outputs", []))
        status = turn.get("status")
        if job.cancel.is_set() or status == "cancelled":
            self._finish(job, JobState.CANCELLED, error="cancelled")
        elif status == "declined":
            self._finish(job, JobState.CANCELLED, error="plan declined")
        elif status == "done":
            self._finish(job, JobState.DONE)
        else:
            self._finish(job, JobState.FAILED, error=job.reply or f"the turn ended as {status}")

    def _run_workflow(self, job: Job) -> None:
        job.set_state(JobState.RUNNING)
        path = Path(job.request["path"])
        try:
            _, runs = self.runtime.run_workflow(
                path, [job.request["inputs"]], session_id=job.session_id,
                on_plan=lambda bound, row: self._on_plan(job, bound, job.request.get("name", "")),
                on_event=lambda event: self._on_step_event(job, event), cancel=job.cancel,
            )
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)
        result = runs[0].result
        job.outputs = list(result.outputs.values())
        if job.cancel.is_set():
            self._finish(job, JobState.CANCELLED, error="cancelled")
        elif result.ok:
            self._finish(job, JobState.DONE)
        else:
            failed = [f"{s}: {r.error}" for s, r in result.steps.items() if r.status not in ("ran", "cached")]
            self._finish(job, JobState.FAILED, error="; ".join(failed))

    def _on_plan(self, job: Job, bound: BoundPlan, reply: str) -> None:
        view = {"reply": reply, "steps": [
            {"id": sid, "tool": bound.steps[sid].tool.name, "deps": sorted(bound.steps[sid].deps)} for sid in bound.order
        ]}
        with job.lock:
            replan = job.plan is not None
            job.plan, job.reply = view, reply
            job.steps = {s["id"]: StepStatus(tool=s["tool"]) for s in view["steps"]}
        job.emit("plan", {**view, "replan": replan})

    def _on_step_event(self, job: Job, event: Event) -> None:
        """The one event channel: executor events become job state and stream events."""
        step = job.steps.get(event.step)
        if event.kind == "start":
            if job.state in (JobState.QUEUED, JobState.PLANNING):
                job.set_state(JobState.RUNNING)
            if step:
                step.status = "running"
            job.emit("step_started", {"step": event.step, "tool": event.tool})
        elif event.kind == "progress":
            percent = round(100 * min(max(event.fraction, 0.0), 1.0), 1)
            if step:
                step.percent = percent
            data: dict[str, Any] = {"step": event.step, "tool": event.tool, "percent": percent, "note": event.note}
            key = (job.id, event.step)
            now = time.monotonic()
            if event.preview is not None and (now - self._last_preview.get(key, 0.0) >= PREVIEW_INTERVAL or percent >= 100):
                self._last_preview[key] = now
                data["preview"] = data_url(event.preview)
            job.emit("step_progress", data)
        elif event.kind == "end" and event.result is not None:
            result = event.result
            if step:
                step.status, step.outputs, step.error, step.seconds = result.status, dict(result.outputs), result.error, round(result.seconds, 3)
                step.percent = 100.0 if result.status in ("ran", "cached") else step.percent
            with job.lock:
                job.artifacts.extend(a for a in result.outputs.values() if a not in job.artifacts)
            self._last_preview.pop((job.id, event.step), None)
            job.emit("step_done", {"step": event.step, "tool": event.tool, "status": result.status, "outputs": dict(result.outputs),
                                   "error": result.error, "seconds": round(result.seconds, 3)})

    def _finish(self, job: Job, state: JobState, *, error: str | None = None) -> None:
        with job.lock:
            if job.state.finished:
                return
            job.state, job.error, job.finished_at = state, error, time.time()
        with self._lock:
            if self._active.get(job.session_id) == job.id:
                del self._active[job.session_id]
        job.emit("state", {"state": state.value})
        job.emit("job_finished", {"state": state.value, "outputs": job.outputs, "artifacts": job.artifacts, "error": error})
        if job.webhook:
            threading.Thread(target=self._notify, args=(job,), name=f"llmga-webhook-{job.id}", daemon=True).start()

    def _notify(self, job: Job) -> None:
        import httpx

        try:
            response = httpx.post(job.webhook, json=job_view(job), timeout=self.settings.webhook_timeout)
            job.request["webhook_status"] = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            log.warning("job %s: webhook %s failed: %s", job.id, job.webhook, exc)
            job.request["webhook_status"] = f"failed: {type(exc).__name__}"

    def wait(self, job: Job, after: int = 0, timeout: float = 30.0) -> Iterator[JobEvent]:
        """Events after ``after`` as they come, until the job finishes (for the web UI's threads)."""
        last = after
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events, closed = job.events.since(last)
            for event in events:
                last = event.id
                yield event
            if closed and not events:
                return
            if not events:
                job.events.wait_sync(last, min(1.0, max(deadline - time.monotonic(), 0.01)))


def job_view(job: Job) -> dict[str, Any]:
    """The job as JSON: what ``GET /v1/jobs/{id}`` and the webhook send."""
    with job.lock:
        return {
            "id": job.id,
            "session_id": job.session_id,
            "kind": job.kind,
            "state": job.state.value,
            "approve": job.approve,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "queue_seconds": job.queue_seconds,
            "reply": job.reply,
            "plan": job.plan,
            "steps": {sid: asdict(s) for sid, s in job.steps.items()},
            "outputs": list(job.outputs),
            "artifacts": list(job.artifacts),
            "error": job.error,
            "webhook": job.webhook,
            "webhook_status": job.request.get("webhook_status"),
            "events": job.events.since(0)[0][-1].id if job.events.since(0)[0] else 0,
        }
