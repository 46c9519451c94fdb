"""The Ray backend's wire path without a cluster (fast): a step encoded as it travels, run by a
``FamilyWorker`` in this process, decoded and stored by the executor gives the bytes, errors,
warnings and progress of a local run. The real cluster is in test_ray.py."""

from __future__ import annotations

import pytest

pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[scale]' (./setup.sh --dev installs it)")

from graphs.backends import LocalBackend, ToolCall
from graphs.backends.ray_backend import FamilyWorker, decode_outputs, family_of, handle_event, to_wire
from graphs.executor import Event, Executor
from graphs.plan import Plan, bind
from tests.scale.support import SCALE_TOOLS
from tools.artifacts import Workspace
from tools.builtin import TOOLS as BUILTIN
from tools.models import load_profile
from tools.registry import Registry


class WorkerHere:
    """The backend's encode -> worker -> decode path with the worker in this process."""

    def __init__(self) -> None:
        self.worker = FamilyWorker("light", {"profile": "tiny"})

    def run(self, call: ToolCall):
        for event in self.worker.run(to_wire(call)):
            if (result := handle_event(event, call.ctx)) is not None:
                call.ctx.warnings.extend(result.warnings)
                return decode_outputs(result, call.ctx)
        raise AssertionError("the worker sent no result")

    def close(self) -> None:
        return None


PLAN = {
    "steps": [
        {"id": "paint", "tool": "paint", "args": {"prompt": "a teal boat at dusk", "red": 10}},
        {"id": "small", "tool": "resize", "args": {"image": "${paint.image}", "width": 12, "height": 8}},
        {"id": "edges", "tool": "canny", "args": {"image": "${small.image}"}},
        {"id": "prompt", "tool": "prompt_of", "args": {"image": "${edges.image}"}},
        {"id": "beep", "tool": "beep", "args": {"hz": 660}},
        {"id": "nap", "tool": "sleepy", "args": {"seconds": 0.1}},
        {"id": "bad", "tool": "wrong_type", "args": {}},
    ]
}


def run(tmp_path, backend, name):
    registry = Registry()
    for tool in [*BUILTIN, *SCALE_TOOLS]:
        registry.register(tool, origin="test")
    session = Workspace(tmp_path / "ws").session(name, create=True)
    events: list[Event] = []
    result = Executor(session, max_workers=1, backend=backend, on_event=events.append).run(bind(Plan.model_validate(PLAN), registry, session))
    return session, result, events


def test_worker_path_matches_a_local_run(tmp_path):
    local_session, local, local_events = run(tmp_path, LocalBackend(), "local")
    wire_session, wire, wire_events = run(tmp_path, WorkerHere(), "wire")
    assert {s: r.status for s, r in wire.steps.items()} == {s: r.status for s, r in local.steps.items()}
    assert wire.steps["bad"].status == "failed" and wire.steps["bad"].error == local.steps["bad"].error
    for step, result in local.steps.items():
        assert wire.steps[step].warnings == result.warnings
        for output, artifact_id in result.outputs.items():
            mine, theirs = local_session.get(artifact_id), wire_session.get(wire.steps[step].outputs[output])
            assert local_session.path(mine).read_bytes() == wire_session.path(theirs).read_bytes(), step
            assert (mine.sha256, mine.meta, mine.parents) == (theirs.sha256, theirs.meta, theirs.parents)
    assert wire_session.handle(wire.steps["prompt"].outputs["text"]).text() == "a teal boat at dusk", "lineage travels"
    progress = [(e.step, round(e.fraction, 2)) for e in wire_events if e.kind == "progress"]
    assert progress == [(e.step, round(e.fraction, 2)) for e in local_events if e.kind == "progress"] and progress


def test_families_follow_the_profile_base_chain():
    profile = load_profile("tiny")
    tools = {t.name: t for t in [*BUILTIN, *SCALE_TOOLS]}
    assert family_of(tools["canny"], profile) == "light"
    assert family_of(tools["sleepy"], profile) == "music"
    from tools.diffusion import TOOLS as DIFFUSION

    by_name = {t.name: t for t in DIFFUSION}
    assert family_of(by_name["inpaint"], profile) == family_of(by_name["text_to_image"], profile) == "text2img"
