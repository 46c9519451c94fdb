"""A conversation survives its process being killed mid-run, and resumes where it stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from agent.conversation import Conversation
from agent.llm.fake import FakeBackend
from agent.nodes import AgentContext
from tests.support import Calls, make_runtime

REPO = Path(__file__).resolve().parents[2]


def test_killed_mid_run_then_resumed(workspace_dir, monkeypatch):
    env = {**os.environ, "LLMGA_WORKSPACE": str(workspace_dir), "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("crash_child.py")), "crashy"], env=env, cwd=REPO)
    session_dir = workspace_dir / "sessions" / "crashy"
    deadline = time.monotonic() + 120
    while not (session_dir / "text-2.artifact.json").exists():  # b finished; c is now sleeping
        assert child.poll() is None, "the child ended before it could be killed"
        assert time.monotonic() < deadline, "the child never reached step c"
        time.sleep(0.1)
    time.sleep(0.5)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)

    monkeypatch.setenv("LLMGA_TEST_NO_SLEEP", "1")
    Calls.reset()
    chat = Conversation.open(AgentContext(runtime=make_runtime(), backend=FakeBackend([])), "crashy", create=False)
    assert chat.pending(), "the killed turn should be unfinished"
    assert {s: r["status"] for s, r in chat.state()["results"].items()} == {"a": "ran", "b": "ran"}
    state = chat.resume()
    assert state["status"] == "done"
    assert Calls.counts == {"note": 1}, "only the interrupted step runs again"
    assert chat.session.handle(state["results"]["b"]["outputs"]["text"]).text() == "ALPHA"
    assert state["results"]["c"]["status"] == "ran"
