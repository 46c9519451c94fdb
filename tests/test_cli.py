"""The `llmga` command: exit codes, one-line errors, progress and results."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli import main
from tests.support import write_workflow

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "outpaint_prep.yaml"


def test_the_real_command_runs_the_example_and_lists_artifacts(tmp_path):
    exe = Path(sys.executable).parent / "llmga"
    env = {**os.environ, "LLMGA_WORKSPACE": str(tmp_path / "ws")}
    run = subprocess.run([str(exe), "workflow", "run", str(EXAMPLE)], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "Plan (6 steps):" in run.stderr and "Steps: 6 done" in run.stderr
    assert "blended: image-" in run.stdout and str(tmp_path / "ws") in run.stdout
    listing = subprocess.run([str(exe), "artifacts"], capture_output=True, text=True, env=env, timeout=60)
    assert "pad_canvas <- image=image-1" in listing.stdout and "composite <- image=" in listing.stdout
    rerun = subprocess.run([str(exe), "workflow", "run", str(EXAMPLE), "--set", "object=a red bus"], capture_output=True, text=True, env=env, timeout=120)
    assert rerun.returncode == 0
    assert "executed: plan, preview, object_mask, blend" in rerun.stderr
    assert "from cache: wide, edges" in rerun.stderr


def test_the_real_command_reports_bad_input_in_one_line_with_exit_2(tmp_path):
    exe = Path(sys.executable).parent / "llmga"
    wf = write_workflow(tmp_path / "bad.yaml", {"steps": [{"id": "grow", "tool": "resize", "args": {"image": "${nowhere}", "width": 8}}]})
    env = {**os.environ, "LLMGA_WORKSPACE": str(tmp_path / "ws")}
    run = subprocess.run([str(exe), "workflow", "run", str(wf)], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip() == "error: step 'grow': unknown reference ${nowhere}: no step 'nowhere'"
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "ws" / "sessions").exists() or not any((tmp_path / "ws" / "sessions").iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["workflow", "run", "missing.yaml"], "cannot read workflow missing.yaml"),
        (["workflow", "run", str(EXAMPLE), "--set", "pad"], "--set expects name=value"),
        (["workflow", "run", str(EXAMPLE), "--set", "pad=wide"], "input 'pad' must be integer"),
        (["workflow", "run", str(EXAMPLE), "--set", "photo=/etc/hostname"], "outside the allowed folders"),
        (["workflow", "run", str(EXAMPLE), "--batch", "rows.txt"], "cannot read batch file"),
        (["tools", "show", "resise"], "did you mean resize"),
        (["artifacts", "--session", "nope"], "no session 'nope'"),
        (["tools", "chain", "--have", "image", "--want", "audio"], "no chain of at most 3 tools"),
    ],
)
def test_bad_input_exits_2_with_one_message(args, message, workspace_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LLMGA_PLUGINS", "builtin")  # the light tools make no audio or video
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.glob("*.png")), "nothing written outside the workspace"


def test_workflow_validate_prints_the_plan_and_writes_no_session(workspace_dir):
    result = CliRunner().invoke(main, ["workflow", "validate", str(EXAMPLE), "--set", "pad=16"])
    assert result.exit_code == 0, result.output
    assert "outpaint_prep.yaml is valid (6 steps)" in result.output
    assert "pad_canvas(image=${image-1}, left=16, right=16" in result.output
    assert not (workspace_dir / "sessions").exists()


def test_batch_run_and_failed_step_exit_code(workspace_dir, tmp_path, car_png):
    rows = tmp_path / "rows.csv"
    rows.write_text("pad,object\n8,a cat\n16,a dog\n")
    result = CliRunner().invoke(main, ["workflow", "run", str(EXAMPLE), "--batch", str(rows)])
    assert result.exit_code == 0, result.output
    assert result.output.count("Results (session wf-outpaint-prep") == 2
    crop = write_workflow(tmp_path / "crop.yaml", {
        "inputs": {"photo": {"type": "image", "default": str(car_png)}},
        "steps": [{"id": "cut", "tool": "crop", "args": {"image": "${photo}", "left": 0, "top": 0, "right": 9999, "bottom": 10}}],
    })
    shutil.copy(car_png, tmp_path / "car.png")
    failed = CliRunner().invoke(main, ["workflow", "run", str(crop), "--set", f"photo={tmp_path / 'car.png'}"])
    assert failed.exit_code == 1
    assert "cut: crop box reaches (9999, 10) but the image is 256x192" in failed.output


def test_tools_commands(tmp_path):
    listing = CliRunner().invoke(main, ["tools", "list"])
    assert "pad_canvas" in listing.output and "(image:image) -> (image:image, mask:mask)" in listing.output
    show = CliRunner().invoke(main, ["tools", "show", "mask_from_boxes"])
    assert '"grow"' in show.output and "input  layout: layout (optional)" in show.output
    dot = CliRunner().invoke(main, ["tools", "graph", "--format", "dot"])
    assert dot.output.startswith("digraph")
    chain = CliRunner().invoke(main, ["tools", "chain", "--have", "layout", "--want", "mask"])
    assert "1. mask_from_boxes" in chain.output
    if shutil.which("dot"):
        png = CliRunner().invoke(main, ["tools", "graph", "--format", "png", "--out", str(tmp_path / "g.png")])
        assert png.exit_code == 0 and (tmp_path / "g.png").stat().st_size > 1000
