"""Kill a run at each write point, and at random moments: what is visible stays whole, a rerun completes.

The named points (``tools.artifacts.crash_point``) are where a data file is claimed, half-way
through encoding, after a step's data files and before its sidecars, between a step's two
sidecars, and while a cache entry is written; the child dies there with ``os._exit`` as a kill
would. After each, every visible artifact must be whole, hash-true and with all its siblings,
no half step may be visible, and the same run started again must finish.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.reliability.cases import audit, seeded_session
from tools.artifacts import TEST_CRASH_ENV, Workspace

POINTS = ["reserve", "encode", "data", "sidecar", "cache"]


def child(workspace: Path, session: str, *extra: str, crash: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != TEST_CRASH_ENV}
    if crash:
        env[TEST_CRASH_ENV] = crash
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.crash_child", str(workspace), session, *extra],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> int:
    _, err = process.communicate(timeout=120)
    assert process.returncode in (0, 1, 86, -signal.SIGKILL), err
    return process.returncode


def no_half_steps(workspace: Path, session_id: str) -> None:
    session = Workspace(workspace).session(session_id)
    pads = [a for a in session.artifacts() if a.tool == "pad_canvas"]
    assert len(pads) % 2 == 0, f"a pad step is half visible: {[a.id for a in pads]}"


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_each_write_point_leaves_the_store_whole(tmp_path: Path, point: str):
    workspace = tmp_path / "ws"
    seeded_session(workspace, "crash")
    assert finish(child(workspace, "crash", crash=point)) == 86, f"the run never reached {point}"
    assert audit(workspace) == []
    no_half_steps(workspace, "crash")
    assert finish(child(workspace, "crash")) == 0  # the rerun completes
    assert audit(workspace) == []
    session = Workspace(workspace).session("crash")
    assert {a.tool for a in session.artifacts()} >= {"pad_canvas", "resize"}
    leftovers = [p.name for p in session.root.iterdir() if p.name.startswith(".") and p.stat().st_size == 0]
    assert leftovers == [] or point in ("reserve", "encode"), leftovers


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5])
def test_sigkill_at_random_moments(tmp_path: Path, delay: float):
    workspace = tmp_path / "ws"
    seeded_session(workspace, "kill")
    process = child(workspace, "kill", "12")
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    finish(process)
    assert audit(workspace) == []
    no_half_steps(workspace, "kill")
    assert finish(child(workspace, "kill", "12")) == 0
    assert audit(workspace) == []
