"""The HTTP API against a real uvicorn server on 127.0.0.1: upload, turn, plan, approve, progress,
download, cancel mid-step, webhooks, per-user isolation and every bad-input answer."""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from PIL import Image

from tests.server.conftest import ASSETS, TOKENS, Server, events_of

CAR = (ASSETS / "car_on_road.png").read_bytes()


def new_session(client) -> str:
    response = client.post("/v1/sessions")
    assert response.status_code == 201, response.text
    return response.json()["id"]


def upload(client, session: str, data: bytes = CAR, kind: str = "image", name: str = "car.png"):
    return client.post(f"/v1/sessions/{session}/artifacts", files={"file": (name, data, "application/octet-stream")}, data={"kind": kind})


def wait_finished(client, job_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def assert_error(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == status
    for word in words:
        assert word in body["error"]["message"], body
    return body["error"]


def test_upload_turn_plan_approve_progress_done_download(server: Server):
    alice = server.client(TOKENS["alice"])
    session = new_session(alice)
    up = upload(alice, session)
    assert up.status_code == 201 and up.json()["id"] == "image-1" and up.json()["tool"] == "import"

    job = alice.post(f"/v1/sessions/{session}/turns", json={"text": "paint me a car", "approve": True}).json()
    assert job["state"] == "queued"
    before = events_of(alice, job["id"], until=lambda e: e.get("state") == "awaiting_approval")
    kinds = [e["event"] for e in before]
    assert kinds.index("plan") < len(kinds) - 1
    plan = next(e for e in before if e["event"] == "plan")
    assert plan["steps"] == [{"id": "paint", "tool": "text_to_image", "deps": []}] and plan["reply"] == "I will paint a small picture."
    assert [e["state"] for e in before if e["event"] == "state"] == ["queued", "planning", "awaiting_approval"]

    shown = alice.get(f"/v1/jobs/{job['id']}").json()
    assert shown["state"] == "awaiting_approval" and shown["steps"]["paint"]["status"] == "pending"
    assert alice.post(f"/v1/jobs/{job['id']}/approve").json()["state"] == "running"
    assert_error(alice.post(f"/v1/jobs/{job['id']}/approve"), 409, "only a job awaiting approval")

    rest = events_of(alice, job["id"])  # replays from the start, then follows to the end
    after = rest[len(before):]
    progress = [e for e in after if e["event"] == "step_progress"]
    assert [e["percent"] for e in progress] == [round(100 * i / 6, 1) for i in range(1, 7)]
    assert any(e.get("preview", "").startswith("data:image/png;base64,") for e in progress)
    done = next(e for e in after if e["event"] == "step_done")
    assert done["status"] == "ran" and done["outputs"] == {"image": "image-2"}
    finished = rest[-1]
    assert finished["event"] == "job_finished" and finished["state"] == "done" and finished["outputs"] == ["image-2"]
    assert [e["id"] for e in rest] == list(range(1, len(rest) + 1))

    job = alice.get(f"/v1/jobs/{job['id']}").json()
    assert job["state"] == "done" and job["steps"]["paint"]["percent"] == 100 and job["queue_seconds"] >= 0
    file = alice.get(f"/v1/sessions/{session}/artifacts/image-2/file")
    assert file.status_code == 200 and file.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(file.content)).size == (64, 64)
    recipe = alice.get(f"/v1/sessions/{session}/artifacts/image-2").json()
    assert recipe["tool"] == "text_to_image" and recipe["args"]["prompt"] == "a red car on a road" and recipe["seed"] is not None

    detail = alice.get(f"/v1/sessions/{session}").json()
    assert [t["status"] for t in detail["turns"]] == ["done"] and detail["pending"] == []
    assert {a["id"] for a in detail["artifacts"]} == {"image-1", "image-2"}
    exported = alice.get(f"/v1/sessions/{session}/export").json()
    assert exported["steps"][0]["tool"] == "text_to_image" and exported["steps"][0]["args"]["seed"] == recipe["seed"]
    assert "steps:" in alice.get(f"/v1/sessions/{session}/export?format=yaml").text


def test_lineage_undo_and_a_workflow_job(server: Server):
    alice = server.client(TOKENS["alice"])
    session = new_session(alice)
    upload(alice, session)
    job = alice.post(f"/v1/sessions/{session}/turns", json={"text": "edges please", "attachments": ["image-1"]}).json()
    job = wait_finished(alice, job["id"])
    assert job["state"] == "done" and sorted(job["outputs"]) == ["image-2", "image-3", "mask-1"]
    recipe = alice.get(f"/v1/sessions/{session}/artifacts/mask-1").json()
    assert recipe["parents"] == {"image": "image-1"} and [a["id"] for a in recipe["lineage"]] == ["image-1"]

    assert alice.post(f"/v1/sessions/{session}/undo", json={"turns": 1}).json() == {"turn": 0}
    assert alice.get(f"/v1/sessions/{session}").json()["turns"] == []
    assert_error(alice.post(f"/v1/sessions/{session}/undo", json={"turns": 1}), 400, "cannot undo")

    workflow = "version: 1\ninputs:\n  photo: {type: image}\nsteps:\n  - {id: small, tool: resize, args: {image: '${photo}', width: 16}}\noutputs:\n  small: '${small.image}'\n"
    run = alice.post(f"/v1/sessions/{session}/workflows", json={"workflow": workflow, "inputs": {"photo": "image-1"}})
    assert run.status_code == 202, run.text
    run = wait_finished(alice, run.json()["id"])
    assert run["state"] == "done" and run["kind"] == "workflow" and run["steps"]["small"]["status"] in ("ran", "cached")
    small = alice.get(f"/v1/sessions/{session}/artifacts/{run['outputs'][0]}/file")
    assert Image.open(io.BytesIO(small.content)).width == 16
    leak = alice.post(f"/v1/sessions/{session}/workflows", json={"workflow": workflow, "inputs": {"photo": "/etc/hostname"}})
    assert_error(leak, 400, "artifact id of the session")


def test_cancel_mid_step_keeps_finished_steps_and_commits_nothing_partial(server: Server):
    alice = server.client(TOKENS["alice"])
    session = new_session(alice)
    upload(alice, session)
    job = alice.post(f"/v1/sessions/{session}/turns", json={"text": "slow painting", "attachments": ["image-1"]}).json()
    seen = events_of(alice, job["id"], until=lambda e: e["event"] == "step_progress" and e["step"] == "paint" and e["percent"] >= 2)
    cancelled = alice.post(f"/v1/jobs/{job['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    rest = events_of(alice, job["id"])
    job = alice.get(f"/v1/jobs/{job['id']}").json()
    assert job["state"] == "cancelled", job
    paint = next(e for e in rest if e["event"] == "step_done" and e["step"] == "paint")
    assert paint["status"] == "failed" and paint["error"] == "cancelled" and paint["outputs"] == {}
    last_percent = max(e["percent"] for e in rest if e["event"] == "step_progress" and e["step"] == "paint")
    assert last_percent < 100, "the step ran to the end instead of stopping"
    assert job["steps"]["wide"]["status"] == "ran" and job["steps"]["wide"]["outputs"] == {"image": "image-2", "mask": "mask-1"}
    ids = {a["id"] for a in alice.get(f"/v1/sessions/{session}/artifacts").json()}
    assert ids == {"image-1", "image-2", "mask-1"}, "a cancelled step left an artifact"
    turns = alice.get(f"/v1/sessions/{session}").json()["turns"]
    assert turns[-1]["status"] == "cancelled"
    assert_error(alice.post(f"/v1/jobs/{job['id']}/cancel"), 409, "already cancelled")
    assert seen[0]["event"] == "state"


def test_cancel_while_awaiting_approval_and_decline(server: Server):
    alice = server.client(TOKENS["alice"])
    session = new_session(alice)
    upload(alice, session)
    job = alice.post(f"/v1/sessions/{session}/turns", json={"text": "shrink it", "attachments": ["image-1"], "approve": True}).json()
    events_of(alice, job["id"], until=lambda e: e.get("state") == "awaiting_approval")
    alice.post(f"/v1/jobs/{job['id']}/cancel")
    assert wait_finished(alice, job["id"])["state"] == "cancelled"
    job = alice.post(f"/v1/sessions/{session}/turns", json={"text": "shrink it", "attachments": ["image-1"], "approve": True}).json()
    events_of(alice, job["id"], until=lambda e: e.get("state") == "awaiting_approval")
    alice.post(f"/v1/jobs/{job['id']}/decline")
    job = wait_finished(alice, job["id"])
    assert job["state"] == "cancelled" and job["error"] == "plan declined"
    assert [t["status"] for t in alice.get(f"/v1/sessions/{session}").json()["turns"]] == ["declined", "declined"]


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self):
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_completion_webhook_gets_the_finished_job(server: Server):
    hook = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        alice = server.client(TOKENS["alice"])
        session = new_session(alice)
        upload(alice, session)
        url = f"http://127.0.0.1:{hook.server_port}/done"
        job = alice.post(f"/v1/sessions/{session}/turns", json={"text": "shrink it", "attachments": ["image-1"], "webhook": url}).json()
        wait_finished(alice, job["id"])
        deadline = time.monotonic() + 10
        while not _Hook.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _Hook.received and _Hook.received[0]["id"] == job["id"] and _Hook.received[0]["state"] == "done"
    finally:
        hook.shutdown()


def test_users_see_only_their_own_sessions_and_jobs(server: Server):
    alice, bob = server.client(TOKENS["alice"]), server.client(TOKENS["bob"])
    session = new_session(alice)
    upload(alice, session)
    job = alice.post(f"/v1/sessions/{session}/turns", json={"text": "shrink it", "attachments": ["image-1"]}).json()
    wait_finished(alice, job["id"])
    assert session not in [s["id"] for s in bob.get("/v1/sessions").json()]
    assert session in [s["id"] for s in alice.get("/v1/sessions").json()]
    for response in (
        bob.get(f"/v1/sessions/{session}"),
        bob.get(f"/v1/sessions/{session}/artifacts/image-1/file"),
        upload(bob, session),
        bob.post(f"/v1/sessions/{session}/turns", json={"text": "shrink it"}),
        bob.post(f"/v1/sessions/{session}/undo", json={}),
    ):
        assert_error(response, 404, f"no session '{session}'")
    assert_error(bob.get(f"/v1/jobs/{job['id']}"), 404, "no job")
    assert_error(bob.post(f"/v1/jobs/{job['id']}/cancel"), 404, "no job")
    assert_error(server.client().get("/v1/sessions"), 401, "API token")
    assert_error(server.client("not-a-token-at-all").get("/v1/sessions"), 401, "unknown API token")


def test_bad_input_is_one_json_error_with_the_right_status(server: Server):
    alice = server.client(TOKENS["alice"])
    session = new_session(alice)
    malformed = alice.post(f"/v1/sessions/{session}/turns", content=b'{"text": "oops', headers={"Content-Type": "application/json"})
    assert_error(malformed, 400, "not valid JSON")
    assert_error(alice.post(f"/v1/sessions/{session}/turns", json={"txt": "typo"}), 422, "text: Field required")
    assert_error(alice.post(f"/v1/sessions/{session}/turns", json={"text": "x", "webhook": "ftp://nope"}), 422, "webhook")
    assert_error(alice.get("/v1/sessions/no-such-session"), 404, "no session 'no-such-session'")
    assert_error(alice.get("/v1/jobs/job-000000000000"), 404, "no job 'job-000000000000'")
    assert_error(alice.get(f"/v1/sessions/{session}/artifacts/image-9/file"), 404, "no artifact 'image-9'")
    assert_error(alice.post(f"/v1/sessions/{session}/turns", json={"text": "shrink", "attachments": ["image-7"]}), 400, "no artifact image-7")
    assert_error(upload(alice, session, b"this is not a picture", name="fake.png"), 400, "fake.png is not a readable image")
    assert_error(upload(alice, session, CAR[: len(CAR) // 2], name="cut.png"), 400, "cut.png is not a readable image")
    assert_error(upload(alice, session, CAR, kind="video", name="car.mp4"), 400, "car.mp4")
    assert_error(upload(alice, session, CAR, kind="pdf"), 422, "kind")
    huge = io.BytesIO()
    Image.new("RGB", (9000, 8000)).save(huge, format="PNG")
    assert_error(upload(alice, session, huge.getvalue(), name="huge.png"), 413, "huge.png")
    assert alice.get(f"/v1/sessions/{session}/artifacts").json() == [], "a refused upload left something behind"
    assert_error(alice.get("/v1/nowhere"), 404, "no such endpoint")
    bad_workflow = alice.post(f"/v1/sessions/{session}/workflows", json={"workflow": "steps: [{id: a, tool: teleport}]"})
    assert bad_workflow.status_code == 400 and "teleport" in bad_workflow.json()["error"]["message"]


def test_one_job_per_session_at_a_time(server: Server):
    alice = server.client(TOKENS["alice"])
    session = new_session(alice)
    upload(alice, session)
    first = alice.post(f"/v1/sessions/{session}/turns", json={"text": "shrink it", "attachments": ["image-1"], "approve": True}).json()
    second = alice.post(f"/v1/sessions/{session}/turns", json={"text": "shrink it", "attachments": ["image-1"]})
    assert_error(second, 409, "unfinished job")
    alice.post(f"/v1/jobs/{first['id']}/cancel")
    wait_finished(alice, first["id"])


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1"])
def test_refuses_to_listen_beyond_loopback_without_tokens(host):
    from agent.server.config import ServerSettings
    from tools.errors import ConfigError

    with pytest.raises(ConfigError, match="refusing to listen"):
        ServerSettings(host=host).check_exposure()
    ServerSettings(host=host, tokens=TOKENS).check_exposure()
    ServerSettings(host="127.0.0.1").check_exposure()
