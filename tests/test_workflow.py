"""Workflows through the executor: results, caching, concurrency, failures, batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from graphs.workflow import load_workflow, read_batch
from tests.support import Calls, make_runtime, write_workflow
from tools.artifacts import png_recipe
from tools.errors import InputError, PlanError


@pytest.fixture(autouse=True)
def _reset_calls():
    Calls.reset()


def notes_workflow(tmp_path: Path, **overrides) -> Path:
    data = {
        "inputs": {"word": {"type": "string", "default": "hi"}, "nap": {"type": "number", "default": 0.0}},
        "steps": [
            {"id": "a", "tool": "note", "args": {"text": "${word} a", "sleep": "${nap}"}},
            {"id": "b", "tool": "note", "args": {"text": "b", "sleep": "${nap}"}},
            {"id": "loud", "tool": "shout", "args": {"text": "${a}"}},
        ],
        "outputs": {"loud": "${loud}", "b": "${b.text}"},
    }
    data.update(overrides)
    return write_workflow(tmp_path / "notes.yaml", data)


def test_run_produces_outputs_with_lineage(tmp_path):
    rt = make_runtime()
    session, [run] = rt.run_workflow(notes_workflow(tmp_path), [{"word": "hey"}])
    assert run.result.ok and run.result.count("ran") == 3
    loud = session.get(run.result.outputs["loud"])
    assert session.handle(loud.id).text() == "HEY"
    assert loud.parents == {"text": run.result.steps["a"].outputs["text"]}


def test_rerun_executes_nothing_and_a_changed_argument_reruns_only_its_dependents(tmp_path):
    rt = make_runtime()
    wf = notes_workflow(tmp_path)
    session, [first] = rt.run_workflow(wf, [{}])
    assert Calls.counts == {"note": 2, "shout": 1}
    Calls.reset()
    _, [again] = rt.run_workflow(wf, [{}], session_id=session.id)
    assert Calls.counts == {}
    assert {s: r.status for s, r in again.result.steps.items()} == {"a": "cached", "b": "cached", "loud": "cached"}
    assert again.result.outputs == first.result.outputs, "same session: the cached artifacts are reused, not copied"
    Calls.reset()
    _, [changed] = rt.run_workflow(wf, [{"word": "yo"}], session_id=session.id)
    assert {s: r.status for s, r in changed.result.steps.items()} == {"a": "ran", "b": "cached", "loud": "ran"}
    assert Calls.counts == {"note": 1, "shout": 1}


def test_cache_hit_in_a_new_session_copies_the_artifact_in(tmp_path):
    rt = make_runtime()
    wf = notes_workflow(tmp_path)
    first_session, [first] = rt.run_workflow(wf, [{}])
    second_session, [second] = rt.run_workflow(wf, [{}])
    assert second.result.count("cached") == 3 and Calls.counts == {"note": 2, "shout": 1}
    copied = second_session.get(second.result.outputs["b"])
    assert copied.meta["cached_from"] == f"{first_session.id}/{first.result.outputs['b']}"
    assert second_session.handle(copied.id).text() == first_session.handle(first.result.outputs["b"]).text()


def test_no_cache_runs_everything(tmp_path):
    rt = make_runtime()
    wf = notes_workflow(tmp_path)
    rt.run_workflow(wf, [{}])
    Calls.reset()
    rt.run_workflow(wf, [{}], use_cache=False)
    assert Calls.counts == {"note": 2, "shout": 1}


def test_independent_steps_overlap_in_time(tmp_path):
    rt = make_runtime()
    session, [run] = rt.run_workflow(notes_workflow(tmp_path), [{"nap": 0.5}])
    spans = []
    for step in ("a", "b"):
        start, end = session.handle(run.result.steps[step].outputs["text"]).text().split(" ")[-2:]
        spans.append((float(start), float(end)))
    (s1, e1), (s2, e2) = spans
    assert max(s1, s2) < min(e1, e2), f"steps ran one after the other: {spans}"


def test_a_failing_tool_fails_its_step_keeps_the_rest_and_resumes_from_cache(tmp_path, car_png):
    rt = make_runtime()
    data = {
        "inputs": {"photo": {"type": "image", "default": str(car_png)}, "fail": {"type": "boolean", "default": True}},
        "steps": [
            {"id": "small", "tool": "resize", "args": {"image": "${photo}", "width": 64}},
            {"id": "edges", "tool": "canny", "args": {"image": "${small}"}},
            {"id": "hot", "tool": "boom", "args": {"image": "${small}", "fail": "${fail}"}},
            {"id": "after", "tool": "resize", "args": {"image": "${hot}", "width": 32}},
        ],
        "outputs": {"edges": "${edges}", "after": "${after}"},
    }
    wf = write_workflow(tmp_path / "hot.yaml", data)
    session, [run] = rt.run_workflow(wf, [{}])
    status = {s: r.status for s, r in run.result.steps.items()}
    assert status == {"small": "ran", "edges": "ran", "hot": "failed", "after": "skipped"}
    assert "RuntimeError: the GPU caught fire" in run.result.steps["hot"].error
    assert "needs 'hot'" in run.result.steps["after"].error
    assert set(run.result.outputs) == {"edges"}
    assert {a.tool for a in session.artifacts()} == {"import", "resize", "canny"}
    assert not [p for p in session.root.iterdir() if p.name.startswith(".")], "scratch and temp files are cleaned up"
    Calls.reset()
    _, [rerun] = rt.run_workflow(wf, [{"fail": "false"}], session_id=session.id)
    status = {s: r.status for s, r in rerun.result.steps.items()}
    assert status == {"small": "cached", "edges": "cached", "hot": "ran", "after": "ran"}


def test_seeds_are_derived_recorded_and_reproducible(tmp_path):
    rt = make_runtime()
    data = {
        "steps": [
            {"id": "x", "tool": "seeded", "args": {"label": "x"}},
            {"id": "y", "tool": "seeded", "args": {"label": "y"}},
            {"id": "z", "tool": "seeded", "args": {"label": "z", "seed": 5}},
        ],
        "outputs": {"x": "${x}", "y": "${y}", "z": "${z}"},
    }
    wf = write_workflow(tmp_path / "seeds.yaml", data)
    session, [run] = rt.run_workflow(wf, [{}])
    texts = {k: session.handle(v).text() for k, v in run.result.outputs.items()}
    seeds = {k: int(t.split(":")[1]) for k, t in texts.items()}
    assert seeds["z"] == 5 and seeds["x"] != seeds["y"]
    assert session.get(run.result.outputs["x"]).seed == seeds["x"]
    other, [again] = rt.run_workflow(wf, [{}], use_cache=False)
    assert {k: other.handle(v).text() for k, v in again.result.outputs.items()} == texts


def test_batch_rows_from_jsonl_and_csv(tmp_path):
    rt = make_runtime()
    wf = notes_workflow(tmp_path)
    (tmp_path / "rows.jsonl").write_text('{"word": "one"}\n\n{"word": "two"}\n')
    (tmp_path / "rows.csv").write_text("word,nap\nthree,0\nfour,0.0\n")
    rows = read_batch(tmp_path / "rows.jsonl") + read_batch(tmp_path / "rows.csv")
    session, runs = rt.run_workflow(wf, rows)
    assert [session.handle(r.result.outputs["loud"]).text() for r in runs] == ["ONE", "TWO", "THREE", "FOUR"]
    (tmp_path / "bad.jsonl").write_text('{"word": "one"}\n[1, 2]\n')
    with pytest.raises(InputError, match="line 2"):
        read_batch(tmp_path / "bad.jsonl")


def test_a_bad_batch_row_stops_the_batch_before_anything_runs(tmp_path):
    rt = make_runtime()
    with pytest.raises(InputError, match="must be number"):
        rt.run_workflow(notes_workflow(tmp_path), [{"nap": "0"}, {"nap": "soon"}])
    assert Calls.counts == {}
    assert rt.workspace.sessions() == []


def test_light_tools_in_the_example_workflow(tmp_path):
    rt = make_runtime()
    example = Path(__file__).resolve().parent.parent / "examples" / "outpaint_prep.yaml"
    session, [run] = rt.run_workflow(example, [{}])
    assert run.result.ok
    out = {k: session.get(v) for k, v in run.result.outputs.items()}
    assert (out["canvas"].meta["width"], out["canvas"].meta["height"]) == (384, 192)
    mask = Image.open(session.path(out["outpaint_mask"]))
    assert mask.getpixel((0, 0)) == 255 and mask.getpixel((192, 96)) == 0
    assert png_recipe(session.path(out["blended"]))["tool"] == "composite"
    assert out["blended"].parents == {"image": out["canvas"].id, "overlay": out["layout_preview"].id, "mask": out["object_mask"].id}


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([{"id": "a", "tool": "nope"}], "step 'a': unknown tool 'nope'"),
        ([{"id": "a", "tool": "resize", "args": {"width": 8}}], "step 'a': missing input 'image'"),
        ([{"id": "a", "tool": "note", "args": {"colour": "red"}}], "step 'a': unexpected argument 'colour'"),
        ([{"id": "a", "tool": "note"}, {"id": "b", "tool": "canny", "args": {"image": "${a}"}}], "step 'b': ${a} is a text, but an image is needed"),
        ([{"id": "a", "tool": "shout", "args": {"text": "${ghost.text}"}}], "step 'a': unknown reference ${ghost.text}"),
        ([{"id": "a", "tool": "shout", "args": {"text": "${b}"}}, {"id": "b", "tool": "shout", "args": {"text": "${a}"}}], "dependency cycle: a -> b -> a"),
        ([{"id": "a", "tool": "note"}, {"id": "a", "tool": "note"}], "step 'a': duplicate step id"),
        ([{"id": "a", "tool": "pad_canvas", "args": {"image": "${image-9}", "left": 4}}], "unknown artifact ${image-9}"),
        ([{"id": "a", "tool": "note", "args": {"sleep": "long"}}], "argument 'sleep'"),
        ([{"id": "a", "tool": "resize", "args": {"image": "photo.png", "width": 8}}], "needs a reference to an image"),
        ([{"id": "a", "tool": "pad_canvas", "args": {"image": "${x.y.z}"}}], "malformed reference"),
        ([{"id": "a", "tool": "note"}, {"id": "b", "tool": "shout", "args": {"text": "${a}x"}}], "step 'b': malformed reference '${a}x'"),
    ],
)
def test_invalid_plans_name_the_step_and_problem(tmp_path, steps, message):
    rt = make_runtime()
    wf = write_workflow(tmp_path / "bad.yaml", {"steps": steps})
    with pytest.raises(PlanError) as err:
        rt.validate_workflow(wf)
    assert message in str(err.value)


def test_workflow_files_are_data_only(tmp_path):
    (tmp_path / "extra.yaml").write_text("steps: [{id: a, tool: note}]\nrun: rm -rf /\n")
    with pytest.raises(PlanError, match="unexpected argument 'run'"):
        load_workflow(tmp_path / "extra.yaml")
    (tmp_path / "broken.yaml").write_text("steps: [unclosed\n")
    with pytest.raises(PlanError, match="not valid YAML"):
        load_workflow(tmp_path / "broken.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(PlanError, match="a workflow is a mapping"):
        load_workflow(tmp_path / "list.yaml")
    (tmp_path / "default.yaml").write_text("inputs: {n: {type: integer, default: many}}\nsteps: [{id: a, tool: note}]\n")
    with pytest.raises(PlanError, match="must be integer"):
        load_workflow(tmp_path / "default.yaml")


def test_inputs_are_typed_and_required(tmp_path):
    rt = make_runtime()
    data = {"inputs": {"n": {"type": "integer"}, "flag": {"type": "boolean", "default": False}}, "steps": [{"id": "a", "tool": "note", "args": {"text": "${n} ${flag}"}}]}
    wf = write_workflow(tmp_path / "typed.yaml", data)
    with pytest.raises(InputError, match="has no default; give it with --set n="):
        rt.validate_workflow(wf)
    with pytest.raises(InputError, match="must be integer"):
        rt.validate_workflow(wf, {"n": "lots"})
    with pytest.raises(InputError, match="unknown input"):
        rt.validate_workflow(wf, {"n": "1", "m": "2"})
    plan = rt.validate_workflow(wf, {"n": "3", "flag": "yes"})
    assert plan.steps["a"].params["text"] == "3 True"


def test_file_inputs_outside_allowed_folders_are_refused(tmp_path, car_png, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rt = make_runtime()
    data = {"inputs": {"photo": {"type": "image"}}, "steps": [{"id": "a", "tool": "canny", "args": {"image": "${photo}"}}]}
    wf = write_workflow(tmp_path / "in.yaml", data)
    with pytest.raises(InputError, match="outside the allowed folders"):
        rt.validate_workflow(wf, {"photo": str(car_png)})
    default_escape = write_workflow(tmp_path / "esc.yaml", {**data, "inputs": {"photo": {"type": "image", "default": "../../../../etc/hostname"}}})
    with pytest.raises(InputError, match="outside the allowed folders"):
        rt.validate_workflow(default_escape)
    (tmp_path / "not_an_image.png").write_text("hello")
    with pytest.raises(InputError, match="input 'photo': not_an_image.png is not a readable image"):
        rt.validate_workflow(wf, {"photo": "not_an_image.png"})
    big = tmp_path / "big.png"
    Image.new("RGB", (200, 200)).save(big)
    with pytest.raises(InputError, match="over the"):
        make_runtime(max_pixels=10_000).validate_workflow(wf, {"photo": "big.png"})


def test_artifact_ids_are_accepted_as_file_inputs(tmp_path, car_png, monkeypatch):
    monkeypatch.chdir(car_png.parent)
    rt = make_runtime()
    data = {"inputs": {"photo": {"type": "image"}}, "steps": [{"id": "a", "tool": "canny", "args": {"image": "${photo}"}}], "outputs": {"e": "${a}"}}
    wf = write_workflow(tmp_path / "in.yaml", data)
    session, [run] = rt.run_workflow(wf, [{"photo": car_png.name}])
    _, [again] = rt.run_workflow(wf, [{"photo": "image-1"}], session_id=session.id)
    assert again.result.outputs == run.result.outputs
    with pytest.raises(InputError, match="no artifact 'image-7'"):
        rt.run_workflow(wf, [{"photo": "image-7"}], session_id=session.id)
    assert json.loads((session.root / "image-1.artifact.json").read_text())["tool"] == "import"
