"""The perception tools in the agent (scripted planner; the embedded planner is marked slow), `--check`
offline with the detector, and PNGs other tools can read and this one can re-run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from agent.cli import main
from tests.perception.photos import two_motorcycles

REMOVE = {"reply": "I will find the motorcycle on the left and remove it.", "steps": [
    {"id": "find", "tool": "mask_from_words", "args": {"image": "${image-1}", "phrase": "the motorcycle on the left"}},
    {"id": "erase", "tool": "remove_object", "args": {"image": "${image-1}", "mask": "${find.mask}", "grow": 4}},
]}  # fmt: skip


def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *plans: dict, plugins: str = "builtin,restore,perception") -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"planner": {"backend": "fake", "responses": [json.dumps(p) for p in plans]}}))
    monkeypatch.setenv("LLMGA_CONFIG", str(config))
    monkeypatch.setenv("LLMGA_PLUGINS", plugins)
    monkeypatch.delenv("LLMGA_VISION", raising=False)


def parameters(path: Path) -> dict[str, str]:
    """Read the `parameters` chunk the way AUTOMATIC1111-compatible readers do (prompt lines, an
    optional `Negative prompt:` line, then one `Key: value, ...` line)."""
    with Image.open(path) as img:
        text = img.info["parameters"]
    *head, settings = text.split("\n")
    found = dict(re.findall(r"\s*([\w ]+): ([^,]+)(?:,|$)", settings))
    negative = [line for line in head if line.startswith("Negative prompt: ")]
    found["prompt"] = "\n".join(line for line in head if not line.startswith("Negative prompt: "))
    found["negative"] = negative[0].removeprefix("Negative prompt: ") if negative else ""
    return found


def test_remove_the_motorcycle_on_the_left_with_the_scripted_planner(tmp_path, monkeypatch, workspace_dir) -> None:
    photo = tmp_path / "garage.png"
    two_motorcycles().save(photo)
    script(tmp_path, monkeypatch, REMOVE)
    result = CliRunner().invoke(main, ["run", "remove the motorcycle on the left of my photo", "--image", str(photo), "--session", "rm"])
    assert result.exit_code == 0, result.output
    assert "find: mask_from_words(" in result.output and "< erase done" in result.output
    session = workspace_dir / "sessions" / "rm"
    mask = np.asarray(Image.open(session / "mask-1.png")) > 127
    assert mask[:, :741].mean() > 0.3 and mask[:, 741:].mean() == 0, "the left motorcycle only"
    before, after = np.asarray(Image.open(photo)).astype(int), np.asarray(Image.open(session / "image-2.png")).astype(int)
    assert np.abs(before - after)[:, 741:].max() == 0 and np.abs(before - after)[mask].mean() > 20


def test_check_flag_answers_with_the_detector_offline(tmp_path, monkeypatch) -> None:
    photo = tmp_path / "garage.png"
    two_motorcycles().save(photo)
    script(tmp_path, monkeypatch, {"reply": "Here is your photo, smaller.", "steps": [
        {"id": "small", "tool": "resize", "args": {"image": "${image-1}", "width": 740}}]}, plugins="builtin,llm,perception")  # fmt: skip
    result = CliRunner().invoke(main, ["run", "two motorcycles, smaller", "--image", str(photo), "--check"])
    assert result.exit_code == 0, result.output
    assert "score 1.00" in result.output and "detector" in result.output, result.output


def test_png_parameters_and_a_three_step_image_remade_from_its_png_alone(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("LLMGA_PROFILE", "tiny")
    workflow = tmp_path / "three.yaml"
    workflow.write_text(yaml.safe_dump({"version": 1, "steps": [
        {"id": "gen", "tool": "text_to_image", "args": {"prompt": "a red car on a road", "negative_prompt": "blurry", "width": 32,
                                                       "height": 32, "steps": 2, "seed": 7}},
        {"id": "pad", "tool": "pad_canvas", "args": {"image": "${gen.image}", "right": 16}},
        {"id": "fill", "tool": "inpaint", "args": {"image": "${pad.image}", "mask": "${pad.mask}", "prompt": "more road", "steps": 2, "seed": 3}},
    ], "outputs": {"image": "${fill.image}"}}))  # fmt: skip
    monkeypatch.setenv("LLMGA_WORKSPACE", str(tmp_path / "first"))
    made = CliRunner().invoke(main, ["workflow", "run", str(workflow)])
    assert made.exit_code == 0, made.output
    first = next((tmp_path / "first" / "sessions").glob("*/image-3.png"))
    generated = parameters(next((tmp_path / "first" / "sessions").glob("*/image-1.png")))
    assert generated["prompt"] == "a red car on a road" and generated["negative"] == "blurry"
    assert generated["Seed"] == "7" and generated["Steps"] == "2" and generated["Size"] == "32x32" and generated["Model"] == "tiny:sd"
    last = parameters(first)
    assert last["prompt"] == "more road" and last["Seed"] == "3" and last["Size"] == "48x32"

    alone = tmp_path / "alone" / "image.png"  # only the PNG travels: a fresh workspace, no cache
    alone.parent.mkdir()
    alone.write_bytes(first.read_bytes())
    monkeypatch.setenv("LLMGA_WORKSPACE", str(tmp_path / "second"))
    again = CliRunner().invoke(main, ["workflow", "run", str(alone)])
    assert again.exit_code == 0, again.output
    assert "executed: s1_text_to_image, s2_pad_canvas, s3_inpaint" in again.output
    assert "the same pixels as image.png" in again.output, again.output


def test_an_image_made_from_an_imported_photo_needs_that_photo(tmp_path, monkeypatch) -> None:
    photo = tmp_path / "garage.png"
    two_motorcycles().resize((148, 50)).save(photo)
    script(tmp_path, monkeypatch, {"reply": "flipped", "steps": [
        {"id": "small", "tool": "resize", "args": {"image": "${image-1}", "width": 74}}]})  # fmt: skip
    monkeypatch.setenv("LLMGA_WORKSPACE", str(tmp_path / "first"))
    assert CliRunner().invoke(main, ["run", "smaller", "--image", str(photo), "--session", "a"]).exit_code == 0
    png = tmp_path / "first" / "sessions" / "a" / "image-2.png"
    monkeypatch.setenv("LLMGA_WORKSPACE", str(tmp_path / "second"))
    missing = CliRunner().invoke(main, ["workflow", "run", str(png)])
    assert missing.exit_code == 2 and "files not found here: input_1" in missing.output, missing.output
    found = CliRunner().invoke(main, ["workflow", "run", str(png), "--input", str(photo)])
    assert found.exit_code == 0 and "the same pixels as image-2.png" in found.output, found.output


@pytest.mark.slow
def test_the_embedded_planner_plans_mask_from_words_then_removal(tmp_path) -> None:
    from agent.llm import get_backend
    from agent.planner import Planner
    from tools.artifacts import Kind, Session
    from tools.registry import load_registry

    try:
        backend = get_backend("embedded")
        backend.server()
    except Exception as exc:  # noqa: BLE001 (no model here: skip, with the reason)
        pytest.skip(f"embedded model unavailable: {exc}")
    session = Session(tmp_path / "s")
    session.root.mkdir()
    session.add(Kind.IMAGE, two_motorcycles(), tool="import", args={"source": "garage.png"})
    outcome = Planner(backend, load_registry()).plan(session, "remove the bicycle on the left of my photo")
    assert outcome.plan is not None, outcome.errors
    tools = [s.tool for s in outcome.plan.steps]
    assert tools[0] == "mask_from_words" and tools[-1] in ("remove_object", "inpaint"), tools
    assert "bicycle" in outcome.plan.steps[0].args["phrase"] and "left" in outcome.plan.steps[0].args["phrase"]
