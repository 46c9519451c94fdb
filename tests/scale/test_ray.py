"""The Ray backend against a real local Ray head (see conftest): same bytes as a local run, warm
workers, a worker killed mid-step, cancel. Slow (a Ray head and worker processes on 2 cores)."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.config import Settings
from agent.conversation import Conversation
from agent.llm.fake import FakeBackend
from agent.nodes import AgentContext
from agent.runtime import Runtime
from graphs.executor import Event
from graphs.plan import Plan, bind
from tests.scale.support import AGENT_PLAN, GENERATE, SCALE_TOOLS, WORKFLOW
from tests.support import write_workflow
from tools.registry import Registry, load_registry

pytestmark = pytest.mark.slow


def registry() -> Registry:
    found = load_registry(only=["builtin", "diffusion"])
    for tool in SCALE_TOOLS:
        found.register(tool, origin="test")
    return found


@pytest.fixture(scope="module")
def shared_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace for the module: the tiny models are built once and the workers (named by the
    pool they own) are shared by the tests, as the workers of one service would be."""
    return tmp_path_factory.mktemp("scale-ws")


@pytest.fixture(scope="module")
def runtimes(ray_address: str, shared_workspace: Path):
    def make(executor: str, **extra: object) -> Runtime:
        settings = Settings(workspace=shared_workspace, executor=executor, ray_address=ray_address, max_workers=2, **extra)
        return Runtime(settings, registry=registry())

    made = {"local": make("local"), "ray": make("ray")}
    yield made
    made["ray"].backend.close(kill_workers=True)


def data_files(runtime: Runtime, session_id: str, ids: list[str]) -> dict[str, bytes]:
    session = runtime.workspace.session(session_id)
    return {artifact_id: session.path(session.get(artifact_id)).read_bytes() for artifact_id in ids}


def test_workflow_same_bytes_on_local_and_ray_and_one_cache(runtimes, tmp_path):
    path = write_workflow(tmp_path / "car.yaml", WORKFLOW)
    local, ray_rt = runtimes["local"], runtimes["ray"]
    session_l, [run_l] = local.run_workflow(path, [{}], session_id="wf-local")
    session_r, [run_r] = ray_rt.run_workflow(path, [{}], session_id="wf-ray", use_cache=False)
    assert run_l.result.ok and run_r.result.ok, (run_l.result.steps, run_r.result.steps)
    assert {r.status for r in run_r.result.steps.values()} == {"ran"}
    ids = [a for r in run_l.result.steps.values() for a in r.outputs.values()]
    assert ids == [a for r in run_r.result.steps.values() for a in r.outputs.values()]
    assert data_files(local, session_l.id, ids) == data_files(ray_rt, session_r.id, ids)  # PNG bytes, recipe chunks included

    _, [again] = ray_rt.run_workflow(path, [{}], session_id="wf-ray-cached")
    assert {r.status for r in again.result.steps.values()} == {"cached"}, "the local run's signatures hit on ray"


def test_agent_plan_same_bytes_on_local_and_ray(runtimes):
    outputs = {}
    for name, runtime in runtimes.items():
        context = AgentContext(runtime=runtime, backend=FakeBackend([json.dumps(AGENT_PLAN)]))
        chat = Conversation.open(context, f"agent-{name}")
        state = chat.send("draw a car, and give me a small copy and its edges")
        assert state["status"] == "done", state.get("results")
        session = runtime.workspace.session(chat.session.id)
        # by step: each output is compared with the same step's output on the other backend
        outputs[name] = {step: session.path(session.get(r["outputs"]["image"])).read_bytes() for step, r in state["results"].items()}
    assert outputs["local"] == outputs["ray"]
    assert sorted(outputs["ray"]) == ["edges", "gen", "small"]


def test_second_request_loads_nothing_on_the_worker(runtimes):
    ray_rt = runtimes["ray"]
    session = ray_rt.session(None)
    plan = Plan.model_validate({"steps": [GENERATE]})
    _, first = ray_rt.run_plan(plan, session, use_cache=False)
    assert first.ok, first.steps
    before = ray_rt.backend.worker_stats("text2img")
    second_step = {**GENERATE, "args": {**GENERATE["args"], "seed": 99, "prompt": "a green bus"}}
    _, second = ray_rt.run_plan(Plan.model_validate({"steps": [second_step]}), session, use_cache=False)
    assert second.ok, second.steps
    after = ray_rt.backend.worker_stats("text2img")
    assert after["pid"] == before["pid"]
    assert after["loads"] == before["loads"], f"the warm worker loaded {after['loaded_keys'][len(before['loaded_keys']):]}"
    assert after["hits"] > before["hits"]
    assert ray_rt.models.stats.loads == 0, "the driver loaded no model: the step ran on the worker"


def _kill_when_running(runtime: Runtime, family: str, step: str) -> tuple[Callable[[Event], None], threading.Event]:
    """An event handler that SIGKILLs ``family``'s worker process at ``step``'s first progress event."""
    pid = runtime.backend.worker_stats(family)["pid"]
    killed = threading.Event()

    def on_event(event: Event) -> None:
        if event.kind == "progress" and event.step == step and not killed.is_set():
            killed.set()
            os.kill(pid, signal.SIGKILL)

    return on_event, killed


def test_killed_worker_fails_only_its_step(runtimes):
    ray_rt = runtimes["ray"]
    plan = Plan.model_validate({"steps": [
        {"id": "doomed", "tool": "sleepy", "args": {"seconds": 20, "label": "doomed"}},
        {"id": "fine", "tool": "text_to_image", "args": {**GENERATE["args"], "seed": 5}},
    ]})
    on_event, killed = _kill_when_running(ray_rt, "music", "doomed")
    _, result = ray_rt.run_plan(plan, ray_rt.session(None), use_cache=False, on_event=on_event)
    assert killed.is_set()
    assert result.steps["doomed"].status == "failed"
    assert "died" in result.steps["doomed"].error
    assert result.steps["fine"].status == "ran", "a step on another worker is not touched"

    # the restarted worker serves the next request
    _, later = ray_rt.run_plan(Plan.model_validate({"steps": [{"id": "z", "tool": "sleepy", "args": {"seconds": 0.1}}]}),
                               ray_rt.session(None), use_cache=False)
    assert later.steps["z"].status == "ran", later.steps["z"].error


def test_a_request_sent_while_the_worker_restarts_waits_for_it(runtimes):
    ray_rt = runtimes["ray"]
    os.kill(ray_rt.backend.worker_stats("music")["pid"], signal.SIGKILL)
    # no wait: the call reaches an actor Ray is restarting, which never ran it
    _, result = ray_rt.run_plan(Plan.model_validate({"steps": [{"id": "z", "tool": "sleepy", "args": {"seconds": 0.1}}]}),
                                ray_rt.session(None), use_cache=False)
    assert result.steps["z"].status == "ran", result.steps["z"].error


def test_killed_worker_step_is_retried_when_the_policy_says_so(ray_address, shared_workspace):
    runtime = Runtime(Settings(workspace=shared_workspace, executor="ray", ray_address=ray_address, ray_retries=1), registry=registry())
    on_event, killed = _kill_when_running(runtime, "music", "doomed")
    plan = Plan.model_validate({"steps": [{"id": "doomed", "tool": "sleepy", "args": {"seconds": 1, "label": "retried"}}]})
    _, result = runtime.run_plan(plan, runtime.session(None), use_cache=False, on_event=on_event)
    assert killed.is_set()
    assert result.steps["doomed"].status == "ran", result.steps["doomed"].error


def test_cancel_reaches_the_worker(runtimes):
    ray_rt = runtimes["ray"]
    cancel = threading.Event()
    progress: list[Event] = []

    def on_event(event: Event) -> None:
        if event.kind == "progress":
            progress.append(event)
            cancel.set()  # the job is cancelled while the step runs on the worker

    plan = Plan.model_validate({"steps": [
        {"id": "gen", "tool": "text_to_image", "args": {**GENERATE["args"], "steps": 40, "seed": 11}},
        {"id": "next", "tool": "canny", "args": {"image": "${gen.image}"}},
    ]})
    session = ray_rt.session(None)
    executor = ray_rt.executor(session, use_cache=False, on_event=on_event, cancel=cancel)
    result = executor.run(bind(plan, ray_rt.registry, session))
    assert progress, "progress events travel from the worker to the job"
    assert result.steps["gen"].status == "failed" and result.steps["gen"].error == "cancelled"
    assert result.steps["next"].status == "skipped"
    assert progress[-1].fraction < 1.0, "the worker stopped before the end"
