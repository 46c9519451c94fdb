"""`llmga run`, `llmga chat` and `llmga sessions` with a scripted planner from the config file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from agent.cli import main

ASSETS = Path(__file__).resolve().parents[2] / "examples" / "assets"


def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *plans: dict) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"planner": {"backend": "fake", "responses": [json.dumps(p) for p in plans]}}))
    monkeypatch.setenv("LLMGA_CONFIG", str(config))
    monkeypatch.setenv("LLMGA_PLUGINS", "builtin")


EDGES = {"reply": "I will extract the edges and make the canvas wider.", "steps": [
    {"id": "edges", "tool": "canny", "args": {"image": "${image-1}"}},
    {"id": "wide", "tool": "pad_canvas", "args": {"image": "${image-1}", "left": 16, "right": 16}},
]}


def test_run_prints_plan_progress_and_artifacts(tmp_path, monkeypatch, workspace_dir):
    script(tmp_path, monkeypatch, EDGES)
    result = CliRunner().invoke(main, ["run", "edges and a wider canvas", "--image", str(ASSETS / "car_on_road.png"), "--session", "demo"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Plan (I will extract the edges and make the canvas wider.) (2 steps):" in out
    assert "edges: canny(image=${image-1}" in out
    assert "< edges done" in out and "< wide done" in out
    for artifact in ("image-2", "image-3", "mask-1"):
        assert f"- {artifact}: {workspace_dir}/sessions/demo/" in out
    listing = CliRunner().invoke(main, ["sessions", "list"])
    assert "demo" in listing.output and "1 turns" in listing.output
    show = CliRunner().invoke(main, ["sessions", "show", "demo"])
    assert "turn 1 [done] edges and a wider canvas" in show.output and "edges:canny, wide:pad_canvas" in show.output
    exported = CliRunner().invoke(main, ["sessions", "export", "demo", "--out", str(tmp_path / "replay.yaml")])
    assert exported.exit_code == 0, exported.output
    replay = CliRunner().invoke(main, ["workflow", "run", str(tmp_path / "replay.yaml")])
    assert replay.exit_code == 0 and "Steps: 2 cached" in replay.output, replay.output


def test_run_with_bad_attachment_or_impossible_request(tmp_path, monkeypatch):
    script(tmp_path, monkeypatch, {"reply": "I cannot write emails; I can make and edit images.", "steps": []})
    (tmp_path / "notes.txt").write_text("hello")
    bad = CliRunner().invoke(main, ["run", "edit this", "--image", str(tmp_path / "notes.txt")])
    assert bad.exit_code == 2 and "notes.txt is not a readable image" in bad.output and "Traceback" not in bad.output
    impossible = CliRunner().invoke(main, ["run", "write an email"])
    assert impossible.exit_code == 1 and "I cannot write emails" in impossible.output


def test_approve_flag_without_a_terminal_declines(tmp_path, monkeypatch):
    script(tmp_path, monkeypatch, EDGES)
    result = CliRunner().invoke(main, ["run", "edges", "--image", str(ASSETS / "car_on_road.png"), "--approve"])
    assert result.exit_code == 0, result.output
    assert "Plan not run (not approved)." in result.output and "< edges done" not in result.output


def test_chat_turns_undo_and_resume_later(tmp_path, monkeypatch):
    second = {"reply": "wider", "steps": [{"id": "w", "tool": "pad_canvas", "args": {"image": "${image-3}", "left": 8}}]}
    script(tmp_path, monkeypatch, EDGES, second)
    lines = f"/image {ASSETS / 'car_on_road.png'}\nedges and wider\nmake it wider\n/undo\n/bogus\n/quit\n"
    result = CliRunner().invoke(main, ["chat", "--session", "talk"], input=lines)
    assert result.exit_code == 0, result.output
    assert "attached image-1" in result.output
    assert "back at the end of turn 1" in result.output
    assert "unknown command /bogus" in result.output
    show = CliRunner().invoke(main, ["sessions", "show", "talk", "--json"])
    turns = json.loads(show.output)
    assert [t["request"] for t in turns] == ["edges and wider"]


def test_check_flag_says_when_no_image_reading_model_is_configured(tmp_path, monkeypatch):
    script(tmp_path, monkeypatch, EDGES)
    monkeypatch.delenv("LLMGA_VISION", raising=False)
    result = CliRunner().invoke(main, ["run", "edges", "--image", str(ASSETS / "car_on_road.png"), "--check"])
    assert result.exit_code == 0, result.output
    assert "not checked:" in result.output, result.output  # builtin tools only: no evaluator, said so
