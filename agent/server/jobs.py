"""Jobs: a turn or a workflow run with a state, a plan, per-step progress and an event log.

A job moves ``queued -> planning -> awaiting_approval -> running -> done | failed | cancelled``
(a workflow run skips planning and approval). Its events are kept in order, numbered from 1, so a
client that reconnects to the stream asks for what came after the last id it saw and misses nothing.
The queue is bounded for new jobs; a job that comes back after its approval never waits behind the
bound, so an approved plan is never refused.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tools.errors import UserError

log = logging.getLogger(__name__)


class JobState(StrEnum):
    QUEUED = "queued"
    PLANNING = "planning"
    AWAITING_APPROVAL = "awaiting_approval"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class QueueFull(UserError):
    """More jobs are waiting than the server's ``queue_size``: try again later (HTTP 503)."""


@dataclass
class StepStatus:
    tool: str
    status: str = "pending"
    """pending, running, then the executor's ran / cached / failed / skipped."""
    percent: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0


@dataclass
class JobEvent:
    id: int
    kind: str
    data: dict[str, Any]


class EventLog:
    """A job's events in order; readers in other threads or on an event loop wait for the next one."""

    def __init__(self) -> None:
        self._events: list[JobEvent] = []
        self._lock = threading.Condition()
        self._closed = False
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def append(self, kind: str, data: dict[str, Any], *, close: bool = False) -> JobEvent:
        with self._lock:
            event = JobEvent(len(self._events) + 1, kind, data)
            self._events.append(event)
            self._closed = self._closed or close
            waiters = list(self._waiters)
            self._lock.notify_all()
        for loop, flag in waiters:
            loop.call_soon_threadsafe(flag.set)
        return event

    def since(self, last_id: int) -> tuple[list[JobEvent], bool]:
        """Events after ``last_id`` and whether the log is closed (no more will come)."""
        with self._lock:
            return self._events[max(last_id, 0):], self._closed

    def wait_sync(self, last_id: int, timeout: float) -> None:
        """``wait`` for a thread (the web UI's handlers run in worker threads)."""
        with self._lock:
            self._lock.wait_for(lambda: len(self._events) > last_id or self._closed, timeout)

    async def wait(self, last_id: int, timeout: float) -> None:
        """Return when an event after ``last_id`` exists, the log closes, or ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        flag = asyncio.Event()
        entry = (loop, flag)
        with self._lock:
            if len(self._events) > last_id or self._closed:
                return
            self._waiters.add(entry)
        try:
            await asyncio.wait_for(flag.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.discard(entry)


@dataclass
class Job:
    """One unit of work for one user's session; mutated only under ``lock`` by the service."""

    user: str
    session_id: str
    kind: str
    """``turn`` or ``workflow``."""
    request: dict[str, Any]
    approve: bool = False
    webhook: str | None = None
    id: str = field(default_factory=lambda: f"job-{uuid.uuid4().hex[:12]}")
    state: JobState = JobState.QUEUED
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    reply: str = ""
    plan: dict[str, Any] | None = None
    steps: dict[str, StepStatus] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)
    error: str | None = None
    answer: bool | None = None
    """The approval answer a resumed job carries to the graph."""
    cancel: threading.Event = field(default_factory=threading.Event)
    events: EventLog = field(default_factory=EventLog)
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def queue_seconds(self) -> float | None:
        return None if self.started_at is None else self.started_at - self.created_at

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append(kind, {"job": self.id, **data}, close=kind == "job_finished")

    def set_state(self, state: JobState, **data: Any) -> None:
        with self.lock:
            if self.state is state:
                return
            self.state = state
        self.emit("state", {"state": state.value, **data})


class JobQueue:
    """A bounded FIFO of jobs and the worker threads that run them with ``run``."""

    def __init__(self, run: Callable[[Job], None], *, workers: int, limit: int):
        self._run = run
        self._limit = limit
        self._items: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, name=f"llmga-job-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, job: Job, *, resumed: bool = False) -> None:
        with self._cond:
            if not resumed and len(self._items) >= self._limit:
                raise QueueFull(f"the job queue is full ({self._limit} waiting): try again when some have finished")
            self._items.append(job)
            self._cond.notify()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                job = self._items.popleft()
            try:
                self._run(job)
            except Exception:  # the runner records its own failures; this keeps the worker alive regardless
                log.exception("job %s: the runner raised", job.id)

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
