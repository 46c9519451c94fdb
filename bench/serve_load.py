"""Load on `llmga serve`: N concurrent jobs from M users on the tiny profile, over real HTTP.

Starts the service (uvicorn on 127.0.0.1, a free port, in this process) with the scripted planner,
gives each user a token, and has every user submit their share of the N jobs at once, each in its own
session, then follow each job's event stream to its end. A job is "lost" if its stream ends without
``job_finished`` or its final state is not ``done``. Reports p50/p95 time in queue (submit -> a worker
starts it), p50/p95 total time, wall time and throughput. Bounded: ``--timeout`` seconds at most.

    .venv/bin/python bench/serve_load.py [--jobs 24] [--users 4] [--workers 2] [--out bench/results/serve_load.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx
import uvicorn
from httpx_sse import connect_sse

from agent.config import Settings
from agent.llm.fake import FakeBackend
from agent.runtime import Runtime
from agent.server.app import create_app
from agent.server.config import ServerSettings
from agent.server.service import Service

ASSET = Path(__file__).resolve().parent.parent / "examples" / "assets" / "car_on_road.png"
PLANS = {
    "paint": {"reply": "A small picture.", "steps": [
        {"id": "paint", "tool": "text_to_image", "args": {"prompt": "a red car on a road", "width": 64, "height": 64, "steps": 4}}]},
    "shrink": {"reply": "A smaller copy.", "steps": [
        {"id": "small", "tool": "resize", "args": {"image": "${image-1}", "width": 48}}]},
}


def reply(messages, schema) -> str:
    request = str(messages[-1].content).lower().rsplit("request:", 1)[-1]
    return json.dumps(next(plan for key, plan in PLANS.items() if key in request))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def run_job(url: str, token: str, index: int, deadline: float) -> dict:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        session = client.post("/v1/sessions").json()["id"]
        kind = "paint" if index % 2 == 0 else "shrink"
        attachments = []
        if kind == "shrink":
            up = client.post(f"/v1/sessions/{session}/artifacts", files={"file": ("car.png", ASSET.read_bytes())}, data={"kind": "image"})
            attachments = [up.json()["id"]]
        submitted = time.monotonic()
        job = client.post(f"/v1/sessions/{session}/turns", json={"text": f"{kind} number {index}", "attachments": attachments})
        if job.status_code != 202:
            return {"index": index, "kind": kind, "refused": job.json()["error"]["message"]}
        job_id = job.json()["id"]
        finished = False
        with connect_sse(client, "GET", f"/v1/jobs/{job_id}/events", timeout=max(deadline - time.monotonic(), 1)) as source:
            for event in source.iter_sse():
                if event.event == "job_finished":
                    finished = True
                    break
        view = client.get(f"/v1/jobs/{job_id}").json()
        return {"index": index, "kind": kind, "job": job_id, "finished_event": finished, "state": view["state"],
                "queue_seconds": view["queue_seconds"], "total_seconds": time.monotonic() - submitted, "error": view["error"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--users", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="jobs the server runs at once")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    workspace = Path(tempfile.mkdtemp(prefix="llmga-load-")) / "workspace"
    tokens = {f"user{u}": f"load-token-{u:02d}-0123456789abcdef" for u in range(args.users)}
    runtime = Runtime(Settings(workspace=workspace, max_workers=2))
    service = Service(runtime, ServerSettings(tokens=tokens, workers=args.workers, queue_size=max(64, args.jobs)),
                      backend=FakeBackend([reply] * (args.jobs + 10)))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service, ui=False), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    warm = time.monotonic()
    runtime.models.pipeline("text2img")  # load once, so the figures are the queue's and not the first load's
    warm = time.monotonic() - warm

    deadline = time.monotonic() + args.timeout
    started = time.monotonic()
    users = list(tokens.values())
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda i: run_job(url, users[i % len(users)], i, deadline), range(args.jobs)))
    wall = time.monotonic() - started
    server.should_exit = True
    thread.join(10)

    done = [r for r in results if r.get("state") == "done" and r.get("finished_event")]
    queue = [r["queue_seconds"] for r in done]
    total = [r["total_seconds"] for r in done]
    summary = {
        "jobs": args.jobs, "users": args.users, "server_workers": args.workers, "profile": "tiny",
        "mix": "half text_to_image 64x64 4 steps, half resize", "cpu_threads": torch.get_num_threads(),
        "done": len(done), "lost": args.jobs - len(done), "refused": sum("refused" in r for r in results),
        "queue_p50_s": round(percentile(queue, 0.5), 3) if queue else None,
        "queue_p95_s": round(percentile(queue, 0.95), 3) if queue else None,
        "total_p50_s": round(percentile(total, 0.5), 3) if total else None,
        "total_p95_s": round(percentile(total, 0.95), 3) if total else None,
        "mean_total_s": round(statistics.mean(total), 3) if total else None,
        "wall_s": round(wall, 2), "jobs_per_s": round(len(done) / wall, 2), "model_warmup_s": round(warm, 2),
    }
    print(json.dumps(summary, indent=2))
    not_done = [r for r in results if r not in done]
    if not_done:
        print("not done:", json.dumps(not_done, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "jobs": results}, indent=1))


if __name__ == "__main__":
    main()
