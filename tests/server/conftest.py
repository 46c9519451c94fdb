"""A real uvicorn server on 127.0.0.1 (a free port, in a thread of the test process) over a real
Service, with the scripted planner: replies are chosen by the request text, so jobs may run in any
order and each still gets its own plan."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from agent.config import Settings
from agent.llm.fake import FakeBackend
from agent.runtime import Runtime
from agent.server.app import create_app
from agent.server.config import ServerSettings
from agent.server.service import Service

ASSETS = Path(__file__).resolve().parents[2] / "examples" / "assets"

#: request keyword -> the plan the scripted planner answers with
PLANS: dict[str, dict[str, Any]] = {  # first match wins: "inpaint" before "paint"
    "inpaint": {"reply": "I will repaint the masked area.", "steps": [
        {"id": "fill", "tool": "inpaint", "args": {"image": "${image-1}", "mask": "${mask-1}", "prompt": "a big blue truck", "steps": 4}},
    ]},
    "slow": {"reply": "A wider canvas, then a long painting.", "steps": [
        {"id": "wide", "tool": "pad_canvas", "args": {"image": "${image-1}", "left": 8}},
        {"id": "paint", "tool": "text_to_image", "args": {"prompt": "a blue truck", "width": 64, "height": 64, "steps": 200}},
    ]},
    "edges": {"reply": "I will extract the edges and widen the canvas.", "steps": [
        {"id": "edges", "tool": "canny", "args": {"image": "${image-1}"}},
        {"id": "wide", "tool": "pad_canvas", "args": {"image": "${image-1}", "left": 8, "right": 8}},
    ]},
    "paint": {"reply": "I will paint a small picture.", "steps": [
        {"id": "paint", "tool": "text_to_image", "args": {"prompt": "a red car on a road", "width": 64, "height": 64, "steps": 6}},
    ]},
    "shrink": {"reply": "A smaller copy.", "steps": [{"id": "small", "tool": "resize", "args": {"image": "${image-1}", "width": 32, "height": 32}}]},
}


def scripted_reply(messages, schema) -> str:
    """Pick the plan whose keyword appears in the user's request (the last message)."""
    text = str(messages[-1].content).lower()
    request = text.rsplit("request:", 1)[-1]
    for keyword, plan in PLANS.items():
        if keyword in request:
            return json.dumps(plan)
    return json.dumps({"reply": "I cannot do that.", "steps": []})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    service: Service
    workspace: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def start_server(workspace: Path, *, models: Path | None = None, tokens: dict[str, str] | None = None, ui: bool = False, workers: int = 2,
                 queue_size: int = 64, approve: bool = False) -> Iterator[Server]:
    if models is not None:  # tiny models are built once per test session, whatever the workspace
        workspace.mkdir(parents=True, exist_ok=True)
        (workspace / "models").symlink_to(models, target_is_directory=True)
    runtime = Runtime(Settings(workspace=workspace, max_workers=2, model_budget_mb=None))
    settings = ServerSettings(tokens=tokens or {}, workers=workers, queue_size=queue_size, approve=approve)
    service = Service(runtime, settings, backend=FakeBackend([scripted_reply] * 10_000))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(service, ui=ui), host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Server(f"http://127.0.0.1:{port}", service, workspace)
    finally:
        server.should_exit = True
        thread.join(30)


TOKENS = {"alice": "alice-token-0123456789", "bob": "bob-token-0123456789ab"}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-models")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_models: Path) -> Iterator[Server]:
    """One server per test module, with two users."""
    yield from start_server(tmp_path_factory.mktemp("serve") / "workspace", models=tiny_models, tokens=TOKENS)


def events_of(client: httpx.Client, job_id: str, until: Callable[[dict], bool] | None = None, timeout: float = 120) -> list[dict]:
    """Read the job's SSE stream (with httpx-sse) until the job finishes or ``until`` says stop."""
    from httpx_sse import connect_sse

    seen = []
    with connect_sse(client, "GET", f"/v1/jobs/{job_id}/events", timeout=timeout) as source:
        for sse in source.iter_sse():
            if not sse.data:  # a keep-alive comment
                continue
            event = {"id": int(sse.id), "event": sse.event, **json.loads(sse.data)}
            seen.append(event)
            if sse.event == "job_finished" or (until and until(event)):
                break
    return seen
