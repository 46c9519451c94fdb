"""Conversation state in a real PostgreSQL server (see conftest): resume and undo after the process
that wrote the state has died, and two processes on one database and workspace see one session.
The first test (one turn, the server start) runs in the default suite; the process tests are slow."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.conversation import Conversation, checkpointer, sessions_with_turns
from agent.llm.fake import FakeBackend
from agent.nodes import AgentContext
from tests.scale.pg_child import note_plan
from tests.support import Calls, make_runtime

PostgresSaver = pytest.importorskip("langgraph.checkpoint.postgres", reason="pip install -e '.[scale]'").PostgresSaver
REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("pg_child.py")


@pytest.fixture
def env(postgres_dsn: str, workspace_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process and its children: one workspace folder, one database."""
    monkeypatch.setenv("LLMGA_POSTGRES_DSN", postgres_dsn)
    return {**os.environ, "LLMGA_WORKSPACE": str(workspace_dir), "LLMGA_POSTGRES_DSN": postgres_dsn, "PYTHONPATH": str(REPO)}


def child(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHILD), *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=180, check=True)


def open_chat(session_id: str, *replies: str) -> Conversation:
    return Conversation.open(AgentContext(runtime=make_runtime(), backend=FakeBackend(list(replies))), session_id, create=False)


def test_state_is_in_postgres_not_sqlite(env, workspace_dir):
    runtime = make_runtime()
    assert isinstance(checkpointer(runtime), PostgresSaver)
    chat = Conversation.open(AgentContext(runtime=runtime, backend=FakeBackend([note_plan(1)])), "pg-here")
    chat.send("one note")
    assert not (workspace_dir / "checkpoints.sqlite").exists()


@pytest.mark.slow
def test_resume_after_the_process_was_killed(env, workspace_dir, monkeypatch):
    process = subprocess.Popen([sys.executable, str(CHILD), "crash", "pg-crashy"], env=env, cwd=REPO)
    done_b = workspace_dir / "sessions" / "pg-crashy" / "text-2.artifact.json"
    deadline = time.monotonic() + 120
    while not done_b.exists():  # b finished; c is now sleeping
        assert process.poll() is None, "the child ended before it could be killed"
        assert time.monotonic() < deadline, "the child never reached step c"
        time.sleep(0.1)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    monkeypatch.setenv("LLMGA_TEST_NO_SLEEP", "1")
    Calls.reset()
    chat = open_chat("pg-crashy")
    assert chat.pending(), "the killed turn is unfinished in PostgreSQL"
    assert {s: r["status"] for s, r in chat.state()["results"].items()} == {"a": "ran", "b": "ran"}
    state = chat.resume()
    assert state["status"] == "done"
    assert Calls.counts == {"note": 1}, "only the interrupted step runs again"
    assert state["results"]["c"]["status"] == "ran"


@pytest.mark.slow
def test_undo_after_the_process_ended_and_two_processes_see_one_session(env):
    child(env, "turns", "pg-shared", "2")  # another process wrote two turns and is gone
    chat = open_chat("pg-shared", note_plan(3))
    assert chat.state()["turn"] == 2
    assert chat.undo() == 1
    seen = json.loads(child(env, "show", "pg-shared").stdout.strip().splitlines()[-1])
    assert seen["turn"] == 1 and seen["turns"] == 1 and seen["pending"] == [], "the other process sees the undo"

    chat.send("a third note, after the undo")
    seen = json.loads(child(env, "show", "pg-shared").stdout.strip().splitlines()[-1])
    assert seen["turn"] == 2 and seen["sessions"]["pg-shared"] == 2
    assert dict(sessions_with_turns(make_runtime(), checkpointer(make_runtime())))["pg-shared"] == 2
