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
        (["workflow", "run", "missing.yaml"], "missing.yaml: No such file"),
        (["workflow", "run", str(EXAMPLE), "--set", "pad"], "--set expects name=value"),
        (["workflow", "run", str(EXAMPLE), "--set", "pad=wide"], "input 'pad' must be integer"),
        (["workflow", "run", str(EXAMPLE), "--set", "photo=/etc/hostname"], "outside the allowed folders"),
        (["workflow", "run", str(EXAMPLE), "--batch", "rows.txt"], "batch file rows.txt"),
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


# --- the root command: lazy commands, settings, output, the error boundary ----------------------


def test_help_and_version_load_no_command_module():
    """`llmga --help` lists every command from the table without importing any command (or torch)."""
    probe = ("import sys\nfrom agent.cli import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith(('agent.cli.', 'agent.runtime', 'torch'))))")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("[]") and "workflow" in run.stdout and "bench" in run.stdout
    version = CliRunner().invoke(main, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("llmga 0.")


def test_the_help_table_matches_each_commands_own_docstring():
    import click

    from agent.cli import COMMANDS

    ctx = click.Context(main)
    for name, (_, _, text) in COMMANDS.items():
        assert main.get_command(ctx, name).get_short_help_str(limit=200) == text, name


def test_a_bad_setting_is_one_line_and_exit_2(workspace_dir):
    result = CliRunner().invoke(main, ["tools", "list"], env={"LLMGA_MAX_WORKERS": "abc"})
    assert result.exit_code == 2
    assert result.output.startswith("error: bad setting: max_workers='abc': Input should be a valid integer")
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_the_config_file_is_honoured_below_env_and_flags(tmp_path, monkeypatch):
    from agent.config import load_settings

    config = tmp_path / "config.yaml"
    config.write_text(f"workspace: {tmp_path / 'from-file'}\nprofile: sd15\nmax_workers: 2\nplanner:\n  backend: fake\n")
    monkeypatch.setenv("LLMGA_CONFIG", str(config))
    monkeypatch.delenv("LLMGA_WORKSPACE")
    settings = load_settings()
    assert (settings.workspace, settings.profile, settings.max_workers) == (tmp_path / "from-file", "sd15", 2)
    monkeypatch.setenv("LLMGA_PROFILE", "sdxl")
    assert load_settings().profile == "sdxl" and load_settings(profile="tiny").profile == "tiny"
    result = CliRunner().invoke(main, ["artifacts"])
    assert result.exit_code == 2 and f"no sessions yet in {tmp_path / 'from-file'}" in result.output
    result = CliRunner().invoke(main, ["--workspace", str(tmp_path / "flag"), "artifacts"])
    assert f"no sessions yet in {tmp_path / 'flag'}" in result.output
    config.write_text("profle: sd15\n")
    result = CliRunner().invoke(main, ["artifacts"])
    assert result.exit_code == 2 and "unknown setting 'profle'" in result.output


def test_an_unexpected_error_is_one_line_exit_1_and_a_traceback_file(workspace_dir, monkeypatch):
    def broken(self):
        raise RuntimeError("the disk caught fire\nsecond line")

    monkeypatch.setattr("agent.runtime.Runtime.latest_session", broken)
    result = CliRunner().invoke(main, ["artifacts"])
    assert result.exit_code == 1
    line = result.output.strip()
    assert "\n" not in line and line.startswith("error: RuntimeError: the disk caught fire (traceback in ")
    log = Path(line.split("(traceback in ")[1].rstrip(")"))
    assert log.parent == workspace_dir / "logs" and "Traceback" in log.read_text() and "broken" in log.read_text()


def test_library_warnings_are_filtered_by_module_not_process_wide():
    import warnings

    from agent.cli import configure_output

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        configure_output(0)
        warnings.warn_explicit("old api", FutureWarning, "pipeline.py", 1, module="diffusers.pipelines.x")
        warnings.warn_explicit("old api", FutureWarning, "planner.py", 1, module="agent.planner")
    assert [str(w.message) for w in seen] == ["old api"] and seen[0].filename == "planner.py"
