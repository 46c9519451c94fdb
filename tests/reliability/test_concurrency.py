"""Runs that overlap: nothing of another run is lost, no id is shared.

* A workflow run whose check fails (its second row is bad) takes back only what *it* imported,
  while another run finishes in the same session: all of that run's results stay.
* 16 processes creating sessions in the same second get 16 different sessions; 16 processes
  adding to one session get 16 different artifact ids, every one of them readable.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO
from tests.reliability.cases import audit
from tests.support import make_runtime, write_workflow
from tools.artifacts import Workspace
from tools.errors import InputError


class PausingRuntime:
    """Wraps a runtime so that the check of a bad row waits until told to go on: it makes the
    interleaving that lost data on main (a run finishing while another's check is failing) certain."""

    def __init__(self, runtime, reached: threading.Event, proceed: threading.Event):
        self.runtime = runtime
        original = runtime.bind_workflow

        def bind_workflow(workflow, path, session, given):
            if given.get("picture") == "missing.png":
                reached.set()
                proceed.wait(30)
            return original(workflow, path, session, given)

        runtime.bind_workflow = bind_workflow


def test_a_failing_run_leaves_a_concurrent_run_in_the_same_session_intact(tmp_path: Path):
    workspace = tmp_path / "ws"
    Image.new("RGB", (12, 12), "red").save(tmp_path / "red.png")
    Image.new("RGB", (12, 12), "blue").save(tmp_path / "blue.png")
    edges = write_workflow(tmp_path / "edges.yaml", {
        "inputs": {"picture": {"type": "image"}},
        "steps": [{"id": "e", "tool": "canny", "args": {"image": "${picture}"}},
                  {"id": "p", "tool": "pad_canvas", "args": {"image": "${e}", "left": 2}}],
        "outputs": {"edges": "${e}", "padded": "${p.image}", "mask": "${p.mask}"},
    })
    failing, succeeding = make_runtime(workspace=workspace), make_runtime(workspace=workspace)
    reached, proceed = threading.Event(), threading.Event()
    PausingRuntime(failing, reached, proceed)
    errors: list[Exception] = []

    def run_failing() -> None:
        try:
            failing.run_workflow(edges, [{"picture": str(tmp_path / "blue.png")}, {"picture": "missing.png"}], session_id="shared")
        except InputError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run_failing)
    thread.start()
    assert reached.wait(30)  # the failing run has imported blue.png and is checking its bad row
    _, runs = succeeding.run_workflow(edges, [{"picture": str(tmp_path / "red.png")}], session_id="shared")
    proceed.set()
    thread.join(30)
    assert errors and "missing.png" in str(errors[0])
    assert runs[0].result.ok
    shared = Workspace(workspace).session("shared")
    for artifact_id in runs[0].result.outputs.values():
        assert shared.exists(artifact_id) and shared.path(shared.get(artifact_id)).is_file()
    sources = {a.args.get("source") for a in shared.artifacts() if a.tool == "import"}
    assert sources == {"red.png"}, "the failing run's own import is taken back, the other run's stays"
    assert audit(workspace) == []


def test_a_failed_check_in_a_new_session_leaves_no_session(tmp_path: Path):
    workflow = write_workflow(tmp_path / "w.yaml", {"inputs": {"picture": {"type": "image"}},
                                                     "steps": [{"id": "e", "tool": "canny", "args": {"image": "${picture}"}}]})
    Image.new("RGB", (8, 8)).save(tmp_path / "ok.png")
    runtime = make_runtime(workspace=tmp_path / "ws")
    with pytest.raises(InputError):
        runtime.run_workflow(workflow, [{"picture": str(tmp_path / "ok.png")}, {"picture": "nope.png"}])
    assert runtime.workspace.sessions() == []


def _spawn(workspace: Path, start: float, *session: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.session_child", str(workspace), str(start), *session],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _collect(processes: list[subprocess.Popen]) -> list[tuple[str, str]]:
    lines = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        session_id, artifact_id = out.split()
        lines.append((session_id, artifact_id))
    return lines


def test_16_processes_creating_sessions_at_once_get_16_sessions(tmp_path: Path):
    workspace = tmp_path / "ws"
    start = time.time() + 3.0  # every child is imported and waiting by then
    made = _collect([_spawn(workspace, start) for _ in range(16)])
    ids = [session_id for session_id, _ in made]
    assert len(set(ids)) == 16, ids
    assert sorted(Workspace(workspace).sessions()) == sorted(ids)
    for session_id in ids:  # each holds exactly its own artifact
        assert [a.id for a in Workspace(workspace).session(session_id).artifacts()] == ["text-1"]
    assert audit(workspace) == []


def test_16_processes_adding_to_one_session_share_no_id(tmp_path: Path):
    workspace = tmp_path / "ws"
    Workspace(workspace).session("one", create=True)
    start = time.time() + 3.0
    made = _collect([_spawn(workspace, start, "one") for _ in range(16)])
    ids = [artifact_id for _, artifact_id in made]
    assert len(set(ids)) == 16, ids
    session = Workspace(workspace).session("one")
    texts = {session.handle(i).text() for i in ids}
    assert len(texts) == 16  # nobody's text was overwritten
    assert audit(workspace) == []
