"""The HTTP API: one router per resource (sessions, artifacts, jobs), typed bodies at the edge.

Every handler is a thin call into ``Service``; long work is a job with a status and an event stream
(server-sent events), never a request held open while a model runs.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import FileResponse, PlainTextResponse, StreamingResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from agent.server.service import Service, job_view
from tools.artifacts import EXTENSION, Kind

KEEPALIVE_SECONDS = 15.0
MEDIA_TYPES = {Kind.IMAGE: "image/png", Kind.MASK: "image/png", Kind.TEXT: "text/plain; charset=utf-8",
               Kind.LAYOUT: "application/json", Kind.VIDEO: "video/mp4", Kind.AUDIO: "audio/wav"}


# -- bodies -------------------------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TurnIn(_Body):
    text: str = Field(min_length=1, max_length=20_000, description="what to make or change")
    attachments: list[str] = Field(default_factory=list, description="artifact ids of this session to attach (upload first)")
    approve: bool | None = Field(None, description="wait for approval of the plan before running it (default: the server's)")
    webhook: AnyHttpUrl | None = Field(None, description="POSTed the finished job's JSON")


class WorkflowIn(_Body):
    workflow: str = Field(min_length=1, max_length=200_000, description="the workflow file's YAML text")
    inputs: dict[str, Any] = Field(default_factory=dict, description="input values; file inputs are artifact ids of the session")
    webhook: AnyHttpUrl | None = None


class UndoIn(_Body):
    turns: int = Field(1, ge=1, le=1000)


class SessionIn(_Body):
    pass


class SessionOut(BaseModel):
    id: str
    turns: int
    artifacts: int
    active_job: str | None = None


class SessionDetail(BaseModel):
    id: str
    turns: list[dict[str, Any]]
    pending: list[str]
    artifacts: list[dict[str, Any]]
    active_job: str | None = None


class StepOut(BaseModel):
    tool: str
    status: str
    percent: float
    outputs: dict[str, str]
    error: str | None
    seconds: float


class JobOut(BaseModel):
    id: str
    session_id: str
    kind: Literal["turn", "workflow"]
    state: Literal["queued", "planning", "awaiting_approval", "running", "done", "failed", "cancelled"]
    approve: bool
    created_at: float
    started_at: float | None
    finished_at: float | None
    queue_seconds: float | None
    reply: str
    plan: dict[str, Any] | None
    steps: dict[str, StepOut]
    outputs: list[str]
    artifacts: list[str]
    error: str | None
    webhook: str | None
    webhook_status: str | None
    events: int


class UndoOut(BaseModel):
    turn: int


# -- auth ---------------------------------------------------------------------------------------
def service(request: Request) -> Service:
    return request.app.state.service


def user(
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
    access_token: Annotated[str | None, Query(description="the token, for clients that cannot send headers (EventSource, <img>)")] = None,
) -> str:
    token = access_token
    if authorization:
        scheme, _, value = authorization.partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else None
    return service(request).user_for_token(token)


User = Annotated[str, Depends(user)]
Svc = Annotated[Service, Depends(service)]


# -- sessions -----------------------------------------------------------------------------------
sessions = APIRouter(prefix="/v1/sessions", tags=["sessions"])


@sessions.post("", status_code=201, response_model=SessionOut)
def create_session(svc: Svc, who: User) -> dict[str, Any]:
    """A new empty conversation owned by the caller."""
    return svc.session_summary(who, svc.create_session(who).id)


@sessions.get("", response_model=list[SessionOut])
def list_sessions(svc: Svc, who: User) -> list[dict[str, Any]]:
    """The caller's sessions, oldest first."""
    return svc.sessions(who)


@sessions.get("/{session_id}", response_model=SessionDetail)
def show_session(session_id: str, svc: Svc, who: User) -> dict[str, Any]:
    """Turns (request, plan, per-step results, outputs), unfinished nodes, and every artifact with its parents."""
    return svc.show(who, session_id)


@sessions.post("/{session_id}/undo", response_model=UndoOut)
def undo(session_id: str, body: UndoIn, svc: Svc, who: User) -> dict[str, int]:
    """Rewind to the end of an earlier turn (its artifacts stay on disk, out of the planner's view)."""
    return {"turn": svc.undo(who, session_id, body.turns)}


@sessions.get("/{session_id}/export", response_model=None)
def export(session_id: str, svc: Svc, who: User, format: Literal["json", "yaml"] = "json") -> Any:
    """The session as a workflow file that replays it exactly (seeds pinned)."""
    workflow = svc.export(who, session_id)
    if format == "yaml":
        return PlainTextResponse(yaml.safe_dump(workflow, sort_keys=False), media_type="application/yaml",
                                 headers={"Content-Disposition": f'attachment; filename="{session_id}.yaml"'})
    return workflow


@sessions.post("/{session_id}/turns", status_code=202, response_model=JobOut)
def submit_turn(session_id: str, body: TurnIn, svc: Svc, who: User) -> dict[str, Any]:
    """Queue a turn; follow it at ``/v1/jobs/{id}/events``."""
    job = svc.submit_turn(who, session_id, body.text, body.attachments, approve=body.approve, webhook=str(body.webhook) if body.webhook else None)
    return job_view(job)


@sessions.post("/{session_id}/workflows", status_code=202, response_model=JobOut)
def submit_workflow(session_id: str, body: WorkflowIn, svc: Svc, who: User) -> dict[str, Any]:
    """Queue a workflow run in the session (checked in full first: a bad file is refused here, not later)."""
    job = svc.submit_workflow(who, session_id, body.workflow, body.inputs, webhook=str(body.webhook) if body.webhook else None)
    return job_view(job)


# -- artifacts ----------------------------------------------------------------------------------
artifacts = APIRouter(prefix="/v1/sessions/{session_id}/artifacts", tags=["artifacts"])


@artifacts.post("", status_code=201)
async def upload(
    session_id: str,
    svc: Svc,
    who: User,
    file: Annotated[UploadFile, File(description="an image, mask, video or audio file")],
    kind: Annotated[Literal["image", "mask", "video", "audio"], Form()] = "image",
) -> dict[str, Any]:
    """Add a file to the session, checked as ``kind`` (readable, not over the size and pixel budgets)."""
    data = await file.read(svc.runtime.workspace.limits.max_file_bytes + 1)
    artifact = await asyncio.to_thread(svc.upload, who, session_id, file.filename or "upload", data, kind)
    return svc.artifact_view(artifact)


@artifacts.get("")
def list_artifacts(session_id: str, svc: Svc, who: User) -> list[dict[str, Any]]:
    return [svc.artifact_view(a) for a in svc.session(who, session_id).artifacts()]


@artifacts.get("/{artifact_id}")
def recipe(session_id: str, artifact_id: str, svc: Svc, who: User) -> dict[str, Any]:
    """The artifact's recipe (tool, arguments, seed, models, parents) and its ancestors."""
    return svc.recipe(who, session_id, artifact_id)


@artifacts.get("/{artifact_id}/file", response_class=FileResponse)
def download(session_id: str, artifact_id: str, svc: Svc, who: User) -> FileResponse:
    session, artifact = svc.artifact(who, session_id, artifact_id)
    return FileResponse(session.path(artifact), media_type=MEDIA_TYPES[artifact.kind], filename=f"{artifact.id}{EXTENSION[artifact.kind]}")


# -- jobs ---------------------------------------------------------------------------------------
jobs = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@jobs.get("", response_model=list[JobOut])
def list_jobs(svc: Svc, who: User, session: str | None = None) -> list[dict[str, Any]]:
    return [job_view(j) for j in svc.jobs(who, session)]


@jobs.get("/{job_id}", response_model=JobOut)
def show_job(job_id: str, svc: Svc, who: User) -> dict[str, Any]:
    return job_view(svc.job(who, job_id))


@jobs.post("/{job_id}/approve", response_model=JobOut)
def approve(job_id: str, svc: Svc, who: User) -> dict[str, Any]:
    """Run the plan of a job awaiting approval."""
    return job_view(svc.approve(who, job_id, True))


@jobs.post("/{job_id}/decline", response_model=JobOut)
def decline(job_id: str, svc: Svc, who: User) -> dict[str, Any]:
    """Do not run the plan; the job ends as cancelled and the turn is recorded as declined."""
    return job_view(svc.approve(who, job_id, False))


@jobs.post("/{job_id}/cancel", response_model=JobOut)
def cancel(job_id: str, svc: Svc, who: User) -> dict[str, Any]:
    """Stop the job: a running diffusion step stops at its next denoising step and commits nothing;
    finished steps and their artifacts stay."""
    return job_view(svc.cancel(who, job_id))


@jobs.get("/{job_id}/events", response_class=StreamingResponse)
async def events(
    job_id: str, request: Request, svc: Svc, who: User, last_event_id: Annotated[int | None, Header()] = None, after: int = 0
) -> StreamingResponse:
    """Server-sent events: ``state``, ``plan``, ``step_started``, ``step_progress`` (percent, and a small
    ``preview`` data URL where the tool gives one), ``step_done`` (artifact ids), ``job_finished``.
    Reconnect with ``Last-Event-ID`` (or ``?after=``) to get only what came after."""
    job = svc.job(who, job_id)

    async def stream():
        last = max(last_event_id or 0, after)
        while True:
            batch, closed = job.events.since(last)
            for event in batch:
                last = event.id
                yield f"id: {event.id}\nevent: {event.kind}\ndata: {json.dumps(event.data)}\n\n"
            if closed and not batch:
                return
            if not batch:
                if await request.is_disconnected():
                    return
                await job.events.wait(last, KEEPALIVE_SECONDS)
                if not job.events.since(last)[0] and not job.events.since(last)[1]:
                    yield ": keep-alive\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
