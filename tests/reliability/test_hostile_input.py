"""Hostile plans and workflow files, generated: both sides are asserted.

Every rejection is a project error with a message (never a TypeError, RecursionError or a hang),
and every plan that is valid by construction is accepted and runs, its outputs whole and
hash-true. The default run is small; ``-m slow`` runs the 10,000-plan fuzz.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from tests.reliability.cases import (
    FIXED_BAD_WORKFLOWS,
    VALID_WORKFLOW,
    audit,
    check_plan_text,
    check_workflow_bytes,
    hostile_plan_texts,
    hostile_workflow_bytes,
    judge,
    run_plan_text,
    seeded_session,
    valid_plan_texts,
)
from tests.support import make_runtime
from tools.errors import PlanError


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@settings(settings.get_profile("reliability"), max_examples=150)
@given(hostile_plan_texts)
def test_hostile_plans_end_in_a_project_error_or_a_valid_plan(fuzz_root: Path, text: str):
    outcome = judge(lambda: check_plan_text(text, seeded_session(fuzz_root / "ws")), max_seconds=5)
    assert outcome.behaved, outcome.detail


@pytest.mark.slow
@settings(settings.get_profile("reliability"), max_examples=10_000)
@given(hostile_plan_texts)
def test_hostile_plans_10000(fuzz_root: Path, text: str):
    outcome = judge(lambda: check_plan_text(text, seeded_session(fuzz_root / "ws")), max_seconds=5)
    assert outcome.behaved, outcome.detail


@settings(settings.get_profile("reliability"), max_examples=40)
@given(valid_plan_texts())
def test_generated_valid_plans_are_accepted_and_run(fuzz_root: Path, text: str):
    session = seeded_session(fuzz_root / "ws", "valid")
    run_plan_text(text, session)
    assert audit(fuzz_root / "ws") == []


@pytest.mark.parametrize("text", ['{"steps": true}', '{"steps": 5}', '{"steps": 1.5}', '{"steps": "x"}'])
def test_non_list_steps_is_a_plan_error(tmp_path: Path, text: str):
    with pytest.raises(PlanError, match="'steps' must be a list"):
        check_plan_text(text, seeded_session(tmp_path))


def test_deep_json_is_a_plan_error(tmp_path: Path):
    with pytest.raises(PlanError):
        check_plan_text('{"steps": [{"id": "a", "tool": "note", "args": {"t": ' + "[" * 100_000 + "]" * 100_000 + "}}]}", seeded_session(tmp_path))


@settings(settings.get_profile("reliability"), max_examples=80)
@given(hostile_workflow_bytes)
def test_hostile_workflow_files_end_in_a_project_error_or_bind(fuzz_root: Path, data: bytes):
    folder = fuzz_root / "wf"
    folder.mkdir(exist_ok=True)
    outcome = judge(lambda: check_workflow_bytes(data, folder, seeded_session(fuzz_root / "ws")), max_seconds=5)
    assert outcome.behaved, outcome.detail


@pytest.mark.parametrize("name", sorted(FIXED_BAD_WORKFLOWS))
def test_known_bad_workflows(tmp_path: Path, name: str):
    outcome = judge(lambda: check_workflow_bytes(FIXED_BAD_WORKFLOWS[name], tmp_path, seeded_session(tmp_path / "ws")), max_seconds=5)
    assert outcome.behaved, outcome.detail


def test_billion_laughs_is_refused_fast(tmp_path: Path):
    from tests.reliability.cases import billion_laughs

    outcome = judge(lambda: check_workflow_bytes(billion_laughs(12, 10).encode(), tmp_path, seeded_session(tmp_path / "ws")), max_seconds=1)
    assert outcome.behaved and "too large" in outcome.detail, outcome.detail


@settings(settings.get_profile("reliability"), max_examples=15)
@given(valid_plan_texts())
def test_generated_valid_workflows_run(tmp_path_factory: pytest.TempPathFactory, text: str):
    """The same generated plans written as workflow files run through the runtime."""
    import json

    import yaml

    folder = tmp_path_factory.mktemp("wfrun")
    runtime = make_runtime(workspace=folder / "ws")
    session = seeded_session(folder / "ws", "valid")
    steps = json.loads(text)["steps"]
    path = folder / "gen.yaml"
    path.write_text(yaml.safe_dump({"steps": steps}, allow_unicode=True))
    _, runs = runtime.run_workflow(path, [{}], session_id=session.id, use_cache=False)
    assert all(run.result.ok for run in runs), [r.error for run in runs for r in run.result.steps.values()]
    assert audit(folder / "ws") == []


def test_valid_workflow_constant_runs(tmp_path: Path):
    path = tmp_path / "ok.yaml"
    path.write_text(VALID_WORKFLOW)
    _, runs = make_runtime(workspace=tmp_path / "ws").run_workflow(path, [{}])
    assert runs[0].result.ok
