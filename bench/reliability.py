"""Reliability under hostile input, crashes and concurrency: cases tried / behaved / failed.

A case behaves when it ends in a project error with a message, or in a success that really
happened (outputs whole and hash-true); crash and concurrency cases also need an intact store and
a rerun that completes. Prints a Markdown table (the one in issue 13's "Show"); ``--plans`` sets
the plan-fuzz size (10,000 by default), ``--seed`` the generators' seed.

    .venv/bin/python bench/reliability.py [--plans 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from hypothesis import HealthCheck, given, settings
from PIL import Image

from graphs.plan import Plan, bind
from tests.reliability import cases
from tests.reliability.cases import Outcome, Tally, audit, judge
from tests.support import make_runtime, write_workflow
from tools.artifacts import TEST_CRASH_ENV, Kind, Limits, Workspace
from tools.errors import LlmgaError

FUZZ = settings(max_examples=1, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def bad_workflow_files(root: Path, rng: random.Random, generated: int) -> Tally:
    tally = Tally()
    session = cases.seeded_session(root / "ws")
    folder = root / "wf"
    folder.mkdir()
    for name, data in cases.FIXED_BAD_WORKFLOWS.items():
        tally.add(judge(lambda d=data: cases.check_workflow_bytes(d, folder, session), max_seconds=5), name)

    @settings(FUZZ, max_examples=generated)
    @given(cases.hostile_workflow_bytes)
    def fuzz(data: bytes) -> None:
        tally.add(judge(lambda: cases.check_workflow_bytes(data, folder, session), max_seconds=5), repr(data[:60]))

    fuzz()
    return tally


def bad_media_files(root: Path) -> Tally:
    tally = Tally()
    session = cases.seeded_session(root / "ws")
    for name, (path, kind) in cases.bad_media(root / "media").items():
        before = len(session.artifacts())

        def attempt(p: Path = path, k: Kind = kind) -> None:
            session.import_file(p, k)
            raise AssertionError("a bad file was imported")

        outcome = judge(attempt)
        if outcome.behaved and len(session.artifacts()) != before:
            outcome = Outcome(False, "refused, but something was stored")
        tally.add(outcome, name)
    return tally


def plan_fuzz(root: Path, count: int, valid: int) -> Tally:
    tally = Tally()
    session = cases.seeded_session(root / "ws")

    @settings(FUZZ, max_examples=count)
    @given(cases.hostile_plan_texts)
    def hostile(text: str) -> None:
        tally.add(judge(lambda: cases.check_plan_text(text, session), max_seconds=5), text[:80])

    @settings(FUZZ, max_examples=valid)
    @given(cases.valid_plan_texts())
    def accepted(text: str) -> None:
        tally.add(judge(lambda: cases.run_plan_text(text, cases.seeded_session(root / "ws", "valid"))), text[:80])

    hostile()
    accepted()
    problems = audit(root / "ws")
    if problems:
        tally.add(Outcome(False, f"store after the fuzz: {problems[:3]}"), "audit")
    return tally


def _child(workspace: Path, session: str, *extra: str, crash: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != TEST_CRASH_ENV}
    if crash:
        env[TEST_CRASH_ENV] = crash
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.crash_child", str(workspace), session, *extra],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _store_ok(workspace: Path, session_id: str) -> str | None:
    problems = audit(workspace)
    pads = [a for a in Workspace(workspace).session(session_id).artifacts() if a.tool == "pad_canvas"]
    if problems:
        return f"store: {problems[:2]}"
    if len(pads) % 2:
        return "half a step visible"
    return None


def kill_points(root: Path, rng: random.Random, random_kills: int) -> Tally:
    tally = Tally()
    for point in ["reserve", "encode", "data", "sidecar", "cache"]:
        workspace = root / point
        cases.seeded_session(workspace, "crash")
        process = _child(workspace, "crash", crash=point)
        process.communicate(timeout=120)
        problem = None if process.returncode == 86 else f"exit {process.returncode}: never reached {point}"
        problem = problem or _store_ok(workspace, "crash")
        rerun = _child(workspace, "crash")
        rerun.communicate(timeout=120)
        problem = problem or (None if rerun.returncode == 0 else f"rerun exit {rerun.returncode}") or _store_ok(workspace, "crash")
        tally.add(Outcome(problem is None, problem or ""), f"kill at {point}")
    for number in range(random_kills):
        workspace = root / f"kill{number}"
        cases.seeded_session(workspace, "kill")
        process = _child(workspace, "kill", "12")
        assert process.stdout is not None
        process.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.6))
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=120)
        problem = _store_ok(workspace, "kill")
        rerun = _child(workspace, "kill", "12")
        rerun.communicate(timeout=120)
        problem = problem or (None if rerun.returncode == 0 else f"rerun exit {rerun.returncode}") or _store_ok(workspace, "kill")
        tally.add(Outcome(problem is None, problem or ""), f"SIGKILL {number}")
    return tally


def _sessions_child(workspace: Path, start: float, *session: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.session_child", str(workspace), str(start), *session],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def concurrency(root: Path) -> Tally:
    tally = Tally()
    for label, into in [("16 processes create sessions at once", ()), ("16 processes add to one session at once", ("one",))]:
        workspace = root / label.split()[3]
        if into:
            Workspace(workspace).session("one", create=True)
        start = time.time() + 3.0
        outs = [p.communicate(timeout=120)[0].split() for p in [_sessions_child(workspace, start, *into) for _ in range(16)]]
        ids = [" ".join(o) for o in outs if len(o) == 2]
        problem = None if len(set(ids)) == 16 else f"{16 - len(set(ids))} ids shared or lost: {sorted(ids)}"
        problem = problem or (f"store: {audit(workspace)[:2]}" if audit(workspace) else None)
        tally.add(Outcome(problem is None, problem or ""), label)
    tally.add(_failing_beside_succeeding(root / "pair"), "failing and succeeding run in one session")
    return tally


def _failing_beside_succeeding(root: Path) -> Outcome:
    root.mkdir(parents=True)
    Image.new("RGB", (12, 12), "red").save(root / "red.png")
    Image.new("RGB", (12, 12), "blue").save(root / "blue.png")
    flow = write_workflow(root / "edges.yaml", {
        "inputs": {"picture": {"type": "image"}},
        "steps": [{"id": "e", "tool": "canny", "args": {"image": "${picture}"}}, {"id": "p", "tool": "pad_canvas", "args": {"image": "${e}", "left": 2}}],
        "outputs": {"edges": "${e}", "padded": "${p.image}", "mask": "${p.mask}"},
    })
    failing, succeeding = make_runtime(workspace=root / "ws"), make_runtime(workspace=root / "ws")
    reached, proceed = threading.Event(), threading.Event()
    original = failing.bind_workflow

    def paused(workflow, path, session, given):  # the check of the bad row waits for the other run
        if given.get("picture") == "missing.png":
            reached.set()
            proceed.wait(30)
        return original(workflow, path, session, given)

    failing.bind_workflow = paused  # type: ignore[method-assign]
    errors: list[BaseException] = []

    def run_failing() -> None:
        try:
            failing.run_workflow(flow, [{"picture": str(root / "blue.png")}, {"picture": "missing.png"}], session_id="shared")
        except BaseException as exc:  # noqa: BLE001 - judged below
            errors.append(exc)

    thread = threading.Thread(target=run_failing)
    thread.start()
    reached.wait(30)
    _, runs = succeeding.run_workflow(flow, [{"picture": str(root / "red.png")}], session_id="shared")
    proceed.set()
    thread.join(30)
    shared = Workspace(root / "ws").session("shared")
    lost = [a for a in runs[0].result.outputs.values() if not shared.exists(a)]
    if lost:
        return Outcome(False, f"the succeeding run lost {lost}")
    if not errors or not isinstance(errors[0], LlmgaError):
        return Outcome(False, f"the failing run ended with {errors!r}")
    return Outcome(not audit(root / "ws"), "")


def resource_limits(root: Path) -> Tally:
    tally = Tally()
    registry = cases.REGISTRY

    def session(limits: Limits | None = None, name: str = "r"):
        s = Workspace(root / "ws" / name, limits).session("r", create=True)
        if not s.exists("image-1"):
            s.add(Kind.IMAGE, Image.new("RGB", (64, 64)), tool="import")
        return s

    def refused_at_bind(steps: list[dict], limits: Limits | None, step: str) -> Callable[[], None]:
        def attempt() -> None:
            s = session(limits, f"b{len(tally.failures)}{tally.tried}")
            try:
                bind(Plan.model_validate({"steps": steps}), registry, s)
            except LlmgaError as exc:
                assert getattr(exc, "step", None) == step, f"refused, but naming {getattr(exc, 'step', None)}: {exc}"
                assert [a.id for a in s.artifacts()] == ["image-1"]
                raise
            raise AssertionError("not refused")

        return attempt

    pad = {"id": "wide", "tool": "pad_canvas", "args": {"image": "${image-1}", "left": 8192, "right": 8192, "top": 8192, "bottom": 8192}}
    tally.add(judge(refused_at_bind([pad], None, "wide")), "pad_canvas 8192 px a side")
    chain = [{"id": f"p{n}", "tool": "pad_canvas", "args": {"image": "${image-1}" if n == 0 else f"${{p{n - 1}.image}}", "left": 4000, "top": 4000}}
             for n in range(3)]
    tally.add(judge(refused_at_bind(chain, None, "p1")), "chained pads")
    tally.add(judge(refused_at_bind([{"id": "r", "tool": "resize", "args": {"image": "${image-1}", "width": 8192, "height": 8192}}], None, "r")),
              "resize to 8192x8192")
    tally.add(judge(refused_at_bind([{"id": "m", "tool": "mask_from_boxes", "args": {"width": 8192, "height": 8192, "boxes": [[0, 0, 1, 1]]}}],
                                    None, "m")), "mask 8192x8192")
    tally.add(judge(refused_at_bind([{"id": "r", "tool": "resize", "args": {"image": "${image-1}", "width": True}}], None, "r")), "width: true")

    def store_refuses(kind: Kind, value, meta: dict, limits: Limits) -> Callable[[], None]:
        def attempt() -> None:
            s = Workspace(root / "ws" / f"s{tally.tried}", limits).session("s", create=True)
            try:
                s.add(kind, value, tool="t", meta=meta)
            finally:
                assert s.artifacts() == [], "something was stored"
            raise AssertionError("stored over budget")

        return attempt

    tally.add(judge(store_refuses(Kind.IMAGE, Image.new("RGB", (300, 300)), {}, Limits(max_pixels=10_000))), "image over pixels at write")
    tally.add(judge(store_refuses(Kind.TEXT, "x" * 5000, {}, Limits(max_file_bytes=1000))), "text over bytes at write")
    clip = root / "long.wav"
    with wave.open(str(clip), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(100)
        out.writeframes(b"\x00\x00" * 300)
    tally.add(judge(store_refuses(Kind.AUDIO, clip, {"duration": 3.0}, Limits(max_duration_s=1.0))), "audio over duration at write")

    def import_refused() -> None:
        s = Workspace(root / "ws" / "imp", Limits(max_duration_s=1.0)).session("s", create=True)
        s.import_file(clip, Kind.AUDIO)
        raise AssertionError("imported")

    tally.add(judge(import_refused), "audio over duration at import (probed)")
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--valid", type=int, default=200, help="generated valid plans that must run")
    parser.add_argument("--workflows", type=int, default=500, help="generated hostile workflow files")
    parser.add_argument("--kills", type=int, default=10, help="random SIGKILLs besides the five named write points")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows: list[tuple[str, Tally, float]] = []
    with tempfile.TemporaryDirectory(prefix="llmga-reliability-") as tmp:
        root = Path(tmp)
        for name, run in [
            ("bad workflow files", lambda: bad_workflow_files(root / "wf", rng, args.workflows)),
            ("bad media files", lambda: bad_media_files(root / "media")),
            (f"plan fuzz ({args.plans:,} hostile + {args.valid} valid run)", lambda: plan_fuzz(root / "plans", args.plans, args.valid)),
            ("kill points (5 named + random SIGKILL)", lambda: kill_points(root / "kill", rng, args.kills)),
            ("concurrency", lambda: concurrency(root / "conc")),
            ("resource limits", lambda: resource_limits(root / "res")),
        ]:
            started = time.perf_counter()
            tally = run()
            rows.append((name, tally, time.perf_counter() - started))
            print(f"{name}: {tally.behaved}/{tally.tried} behaved", file=sys.stderr, flush=True)
    print("| category | tried | behaved | failed | seconds |")
    print("|---|---:|---:|---:|---:|")
    for name, tally, seconds in rows:
        print(f"| {name} | {tally.tried} | {tally.behaved} | {len(tally.failures)} | {seconds:.1f} |")
    for name, tally, _ in rows:
        for failure in tally.failures[:10]:
            print(f"- {name}: {failure}")


if __name__ == "__main__":
    main()
