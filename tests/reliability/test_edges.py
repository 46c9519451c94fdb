"""The edges, through the real CLI: each hostile input is one line and exit 2, never a traceback;
sidecars and model text are treated as untrusted."""

from __future__ import annotations

import http.server
import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from agent.cli import main
from agent.display import Display, terminal_safe
from tests.reliability.cases import VALID_WORKFLOW
from tools.artifacts import SIDECAR, Kind, Workspace
from tools.errors import ConfigError


def llmga(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def one_line_exit_2(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize(("name", "data"), [
    ("latin1.yaml", b"steps:\n  - {id: a, tool: note, args: {text: caf\xe9}}\n"),
    ("deep.yaml", b"steps: " + b"[" * 200_000 + b"]" * 200_000 + b"\n"),
    ("laughs.yaml", b"steps:\n  - id: a\n    tool: note\n    args:\n      l0: &a [x, x, x, x, x, x, x, x, x, x]\n"
     + b"".join(f"      l{n}: &{chr(97 + n)} [{', '.join([f'*{chr(96 + n)}'] * 10)}]\n".encode() for n in range(1, 9))),
    ("image.png", None),
    ("steps.yaml", b"steps: true\n"),
    ("bool.yaml", b"steps:\n  - {id: a, tool: resize, args: {image: '${image-1}', width: true}}\n"),
])
def test_bad_workflow_files_are_one_line_and_exit_2(tmp_path: Path, car_png: Path, name: str, data: bytes | None):
    path = tmp_path / name
    path.write_bytes(car_png.read_bytes() if data is None else data)
    for command in ("validate", "run"):
        one_line_exit_2(llmga("workflow", command, str(path)))


def test_bad_batch_file_is_one_line_and_exit_2(tmp_path: Path):
    (tmp_path / "ok.yaml").write_text(VALID_WORKFLOW)
    for name, data in [("rows.jsonl", b'{"word": "caf\xe9"}\n'), ("rows.csv", b"word\n" + b"x" * 200_000 + b"\n"), ("deep.jsonl", b"[" * 100_000 + b"\n")]:
        (tmp_path / name).write_bytes(data)
        one_line_exit_2(llmga("workflow", "run", str(tmp_path / "ok.yaml"), "--batch", str(tmp_path / name)))


@pytest.mark.parametrize(("key", "value"), [("LLMGA_MAX_WORKERS", "lots"), ("LLMGA_MAX_PIXELS", "-5"), ("LLMGA_MAX_FILE_MB", "1e999")])
def test_bad_environment_values_are_one_line_and_exit_2(tmp_path: Path, key: str, value: str):
    (tmp_path / "ok.yaml").write_text(VALID_WORKFLOW)
    line = one_line_exit_2(llmga("workflow", "validate", str(tmp_path / "ok.yaml"), env={key: value}))
    assert key.removeprefix("LLMGA_").lower() in line.lower()


def test_a_workspace_that_is_a_file_is_one_line_and_exit_2(tmp_path: Path):
    (tmp_path / "ok.yaml").write_text(VALID_WORKFLOW)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    one_line_exit_2(llmga("--workspace", str(blocker), "workflow", "run", str(tmp_path / "ok.yaml")))
    one_line_exit_2(llmga("--workspace", str(blocker / "below"), "workflow", "run", str(tmp_path / "ok.yaml")))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_workspace_is_one_line_and_exit_2(tmp_path: Path):
    (tmp_path / "ok.yaml").write_text(VALID_WORKFLOW)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    one_line_exit_2(llmga("--workspace", str(locked), "workflow", "run", str(tmp_path / "ok.yaml")))


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_tools_graph_on_a_full_device_is_one_line_and_exit_2():
    one_line_exit_2(llmga("tools", "graph", "--out", "/dev/full"))


def test_a_bad_attachment_leaves_no_session(tmp_path: Path, workspace_dir: Path):
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    one_line_exit_2(llmga("run", "make it blue", "--image", str(fake), "--planner", "fake"))
    assert Workspace(workspace_dir).sessions() == []


def test_a_fake_mp4_is_refused_at_import(tmp_path: Path):
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    session = Workspace(tmp_path / "ws").session("s", create=True)
    with pytest.raises(Exception) as info:
        session.import_file(fake, Kind.VIDEO)
    assert type(info.value).__name__ == "InputError"
    assert session.artifacts() == []


def test_a_tampered_sidecar_cannot_reach_outside_its_session(tmp_path: Path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    session = Workspace(tmp_path / "ws").session("s", create=True)
    artifact = session.add(Kind.TEXT, "mine", tool="note")
    sidecar = session.root / f"{artifact.id}{SIDECAR}"
    data = json.loads(sidecar.read_text())
    for bad in ["../../../precious.txt", str(victim), "text-9.txt", "sub/text-1.txt"]:
        sidecar.write_text(json.dumps({**data, "file": bad}))
        assert not session.exists(artifact.id)
        assert session.artifacts() == []
        with pytest.raises(Exception, match="no artifact"):
            session.remove(artifact.id)
    assert victim.read_text() == "keep me"
    sidecar.write_text("{not json")  # a damaged sidecar is skipped, not a crash
    assert session.artifacts() == []


def test_model_text_reaches_the_terminal_escaped_and_bounded():
    import io

    out = io.StringIO()
    Display(out=out, err=out)._say("reply: \x1b]0;owned\x07\x1b[2J\u202egnp.exe " + "x" * 50_000)
    printed = out.getvalue()
    assert "\x1b" not in printed and "\x07" not in printed and "\u202e" not in printed
    assert "\\x1b]0;owned" in printed and len(printed) < 21_000 and "more characters not shown" in printed
    assert terminal_safe("line one\nline two\ttab") == "line one\nline two\ttab"


def test_an_openai_url_that_answers_html_is_a_config_error():
    class Html(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            body = b"<html><body>Welcome to nginx</body></html>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        from langchain_core.messages import HumanMessage

        from agent.llm.openai_compat import OpenAICompatBackend

        backend = OpenAICompatBackend(base_url=f"http://127.0.0.1:{server.server_port}/v1", model="m", max_retries=0, timeout=10)
        with pytest.raises(ConfigError, match="did not answer like an OpenAI-compatible API"):
            backend.generate([HumanMessage("hi")])
    finally:
        server.shutdown()


def test_an_image_as_a_text_input_is_one_error(tmp_path: Path, car_png: Path):
    path = tmp_path / "t.yaml"
    path.write_text("inputs:\n  words: {type: text}\nsteps:\n  - {id: a, tool: shout, args: {text: '${words}'}}\n")
    Image.open(car_png).save(tmp_path / "words.txt", format="PNG")
    one_line_exit_2(llmga("workflow", "run", str(path), "--set", f"words={tmp_path / 'words.txt'}"))


def test_a_non_utf8_config_file_or_profile_is_one_line_and_exit_2(tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_bytes(b"profile: tiny\xff\xfe\n")
    assert "not UTF-8" in one_line_exit_2(llmga("tools", "list", env={"LLMGA_CONFIG": str(config)}))
    profile = tmp_path / "mine.yaml"
    profile.write_bytes(b"name: mine\xff\n")
    assert "not UTF-8" in one_line_exit_2(llmga("models", "check", str(profile)))


def test_an_error_message_quoting_untrusted_text_is_escaped(tmp_path: Path):
    workflow = tmp_path / "w.yaml"
    workflow.write_text('version: 1\nsteps:\n  - {id: a, tool: "evil\\e]0;pwned\\a"}\n')
    line = one_line_exit_2(llmga("workflow", "validate", str(workflow)))
    assert "\x1b" not in line and "\\x1b" in line
