"""Hostile inputs and the checks that judge them, shared by the reliability tests and bench/reliability.py.

A case *behaves* when it ends in one of two ways: a project error (``LlmgaError``) with a message,
or success that really happened (the plan ran, every output is on disk and hash-true). Anything
else (another exception, a hang, an artifact that is empty, half or missing) is a failure.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from PIL import Image

from agent.planner import parse_plan
from graphs.executor import Executor
from graphs.plan import Plan, bind
from graphs.workflow import compile_workflow, load_workflow
from tests.support import make_registry
from tools.artifacts import ARTIFACT_ID, SIDECAR, Kind, Session, Workspace, content_hash
from tools.errors import LlmgaError

REGISTRY = make_registry()
IMAGE_SIDE = 16


def seeded_session(root: Path, name: str = "fuzz") -> Session:
    """A session holding ``image-1`` (16x16): what generated plans may refer to."""
    session = Workspace(root).session(name, create=True)
    if not session.exists("image-1"):
        session.add(Kind.IMAGE, Image.new("RGB", (IMAGE_SIDE, IMAGE_SIDE), "teal"), tool="import")
    return session


# -- judging -------------------------------------------------------------------------------------
@dataclass
class Outcome:
    behaved: bool
    detail: str = ""


def judge(action: Callable[[], Any], *, max_seconds: float = 10.0) -> Outcome:
    """Run one case: a project error with a message, or success within the time bound, behaves."""
    started = time.perf_counter()
    try:
        action()
    except LlmgaError as exc:
        if not str(exc).strip():
            return Outcome(False, f"{type(exc).__name__} without a message")
        outcome = Outcome(True, f"refused: {str(exc).splitlines()[0][:100]}")
    except Exception as exc:  # noqa: BLE001 - what the reliability work is about: anything not ours is a failure
        return Outcome(False, f"{type(exc).__name__}: {str(exc)[:200]}")
    else:
        outcome = Outcome(True, "accepted")
    seconds = time.perf_counter() - started
    if seconds > max_seconds:
        return Outcome(False, f"took {seconds:.1f}s (bound {max_seconds}s)")
    return outcome


def audit(root: Path) -> list[str]:
    """What is wrong with a workspace's store: visible artifacts must be whole and hash-true, with
    all their siblings; no file under an artifact's name may be empty or cut short."""
    problems: list[str] = []
    workspace = Workspace(root)
    for session_id in workspace.sessions():
        session = workspace.session(session_id)
        for artifact in session.artifacts():
            path = session.path(artifact)
            if not path.is_file():
                problems.append(f"{session_id}/{artifact.id}: its file is missing")
                continue
            if content_hash(artifact.kind, path) != artifact.sha256:
                problems.append(f"{session_id}/{artifact.id}: hash does not match")
            problems += [f"{session_id}/{artifact.id}: sibling {s} missing" for s in artifact.siblings if not session.exists(s)]
        visible = {a.file for a in session.artifacts()}
        for path in session.root.iterdir():
            if path.name.startswith(".") or path.name.endswith(SIDECAR) or not ARTIFACT_ID.match(path.name.split(".")[0]):
                continue
            if path.stat().st_size == 0 and path.name not in visible:  # an empty text artifact is fine; an empty claim is not
                problems.append(f"{session_id}/{path.name}: empty data file")
            elif path.suffix == ".png":
                try:
                    with Image.open(path) as img:
                        img.load()
                except Exception as exc:  # noqa: BLE001 - any decoder error means a half-written file
                    problems.append(f"{session_id}/{path.name}: not a whole PNG ({exc})")
    return problems


# -- plans ---------------------------------------------------------------------------------------
def check_plan_text(text: str, session: Session) -> None:
    """Parse and bind model text as the planner does (raises a project error or returns)."""
    reply = parse_plan(text)
    if reply.steps:
        bind(Plan(steps=reply.steps), REGISTRY, session)


def run_plan_text(text: str, session: Session) -> None:
    """Parse, bind and run a plan that must succeed; every output must be whole and hash-true."""
    reply = parse_plan(text)
    bound = bind(Plan(steps=reply.steps), REGISTRY, session)
    result = Executor(session, max_workers=2, registry=REGISTRY).run(bound)
    failed = {s: r.error for s, r in result.steps.items() if r.status not in ("ran", "cached")}
    assert not failed, f"a valid plan failed: {failed}"
    for step in result.steps.values():
        for artifact_id in step.outputs.values():
            artifact = session.get(artifact_id)
            assert content_hash(artifact.kind, session.path(artifact)) == artifact.sha256


_ids = st.sampled_from(["a", "b", "gen", "A", "1x", "", "a.b", "\u00e9", "x" * 60])
_tools = st.sampled_from([*REGISTRY.names(), "nope", "", "RESIZE", "resize\x00"])
_refs = st.one_of(
    st.builds(lambda s, o: f"${{{s}.{o}}}", _ids, st.sampled_from(["image", "mask", "text", "x"])),
    st.builds(lambda s: f"${{{s}}}", _ids),
    st.sampled_from(["${image-1}", "${image-99}", "${mask-1}", "${", "${}", "$image-1", "${a.b.c}", "${image-0}"]),
)
_huge = st.one_of(st.integers(min_value=2**63), st.integers(max_value=-(2**63)), st.just(10**300), st.floats(allow_nan=True, allow_infinity=True))
_scalars = st.one_of(_refs, st.integers(-5, 9000), _huge, st.text(max_size=12), st.none(), st.booleans())
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=12)
_arg_names = st.sampled_from(["image", "mask", "text", "width", "height", "left", "right", "top", "bottom", "sleep", "fail", "seed", "boxes", "zzz", "\u202e"])
_step = st.fixed_dictionaries({"id": _ids, "tool": _tools, "args": st.dictionaries(_arg_names, _values, max_size=4)}, optional={"after": st.lists(_ids, max_size=2)})
_not_a_list = st.one_of(st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.none(), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _deep(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


hostile_plan_texts = st.one_of(
    st.builds(lambda steps: json.dumps({"reply": "", "steps": steps}), st.lists(_step, max_size=5)),
    st.builds(lambda steps: json.dumps({"reply": "x", "steps": steps}), _not_a_list),
    st.builds(lambda n: '{"steps": [{"id": "a", "tool": "note", "args": {"text": ' + _deep(n) + "}}]}", st.integers(20, 200_000)),
    st.builds(lambda n: '{"a":' * n + "1" + "}" * n, st.integers(2, 50_000)),
    st.builds(lambda n: '{"steps": [{"id": "a", "tool": "resize", "args": {"image": "${image-1}", "width": ' + "9" * n + "}}]}", st.integers(18, 6000)),
    st.builds(lambda t: json.dumps({"reply": t, "steps": [{"id": "a", "tool": "note", "args": {"text": t}}]}), st.text(max_size=40)),
    st.text(max_size=60),
    st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    st.just('<gen_image>a red car</gen_image> and {"steps": true}'),
)


@st.composite
def valid_plan_texts(draw: st.DrawFn) -> str:
    """Plans that are right by construction: steps over ``image-1`` (16x16) and each other."""
    steps: list[dict[str, Any]] = []
    images: dict[str, tuple[int, int]] = {"${image-1}": (IMAGE_SIDE, IMAGE_SIDE)}
    texts: list[str] = []
    for number in range(draw(st.integers(1, 5))):
        step_id = f"s{number}"
        choices = ["note", "resize", "pad_canvas", "crop", "canny"] + (["shout"] if texts else [])
        tool = draw(st.sampled_from(choices))
        source = draw(st.sampled_from(sorted(images)))
        width, height = images[source]
        if tool == "note":
            args: dict[str, Any] = {"text": draw(st.text(max_size=30))}
            texts.append(f"${{{step_id}}}")
        elif tool == "shout":
            args = {"text": draw(st.sampled_from(texts))}
            texts.append(f"${{{step_id}}}")
        elif tool == "resize":
            size = (draw(st.integers(1, 40)), draw(st.integers(1, 40)))
            args = {"image": source, "width": size[0], "height": size[1]}
            images[f"${{{step_id}}}"] = size
        elif tool == "pad_canvas":
            pads = {side: draw(st.integers(0, 6)) for side in ("left", "right", "top", "bottom")}
            pads["left"] = pads["left"] or 1
            args = {"image": source, **pads, "fill": draw(st.sampled_from(["edge", "black", "grey", "white"]))}
            images[f"${{{step_id}.image}}"] = (width + pads["left"] + pads["right"], height + pads["top"] + pads["bottom"])
        elif tool == "crop":
            left, top = draw(st.integers(0, width - 1)), draw(st.integers(0, height - 1))
            right, bottom = draw(st.integers(left + 1, width)), draw(st.integers(top + 1, height))
            args = {"image": source, "left": left, "top": top, "right": right, "bottom": bottom}
            images[f"${{{step_id}}}"] = (right - left, bottom - top)
        else:
            args = {"image": source}
            images[f"${{{step_id}}}"] = (width, height)
        steps.append({"id": step_id, "tool": tool, "args": args})
    return json.dumps({"reply": draw(st.text(max_size=20)), "steps": steps})


# -- workflow files ------------------------------------------------------------------------------
def billion_laughs(levels: int, fan: int) -> str:
    lines = ["steps:", "  - id: a", "    tool: note", "    args:", "      text: hi", '      l0: &l0 ["lol"]']
    for level in range(1, levels + 1):
        lines.append(f"      l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fan)}]")
    return "\n".join(lines) + "\n"


VALID_WORKFLOW = (
    "inputs:\n  word: {type: string, default: hi}\n"
    "steps:\n  - id: a\n    tool: note\n    args: {text: '${word} there'}\n  - id: b\n    tool: shout\n    args: {text: '${a}'}\n"
    "outputs:\n  loud: '${b}'\n"
)

FIXED_BAD_WORKFLOWS: dict[str, bytes] = {
    "billion laughs (9 levels x 9)": billion_laughs(9, 9).encode(),
    "alias cycle": b"steps:\n  - id: a\n    tool: note\n    args: &a {text: hi, again: *a}\n",
    "nested 200k deep": b"steps: " + _deep(200_000).encode() + b"\n",
    "nested 200k deep mapping": b"steps:\n  - " + b"{a: " * 200_000 + b"1" + b"}" * 200_000 + b"\n",
    "non-UTF-8": b"steps:\n  - id: a\n    tool: note\n    args: {text: \xff\xfe caf\xe9}\n",
    "PNG as workflow": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "NUL bytes": b"steps:\x00\n",
    "steps: true": b"steps: true\n",
    "steps: 5": b"steps: 5\n",
    "steps: mapping": b"steps: {id: a}\n",
    "5000-digit int": b"inputs:\n  n: {type: integer, default: " + b"9" * 5000 + b"}\nsteps:\n  - {id: a, tool: note}\n",
    "python tag": b"steps: !!python/object/apply:os.system ['echo hi']\n",
    "width: true": b"steps:\n  - {id: a, tool: resize, args: {image: '${image-1}', width: true}}\n",
    "unicode ids": "steps:\n  - {id: \u00e9t\u00e9, tool: note}\n".encode(),
    "bidi text": "steps:\n  - {id: a, tool: note, args: {text: \"\u202egnp.exe\"}}\n".encode(),
    "empty file": b"",
    "300 steps": ("steps:\n" + "".join(f"  - {{id: s{n}, tool: note}}\n" for n in range(300))).encode(),
    "huge substitution": b"inputs:\n  w: {type: string, default: '" + b"x" * 100_000 + b"'}\nsteps:\n  - {id: a, tool: note, args: {text: '" + b"${w}" * 100 + b"'}}\n",
    "outside path": b"inputs:\n  img: {type: image, default: /etc/passwd}\nsteps:\n  - {id: a, tool: canny, args: {image: '${img}'}}\n",
    "NUL in path": b"inputs:\n  img: {type: image, default: \"a\\0b.png\"}\nsteps:\n  - {id: a, tool: canny, args: {image: '${img}'}}\n",
    "timestamp seed": b"steps:\n  - {id: a, tool: seeded, args: {seed: 2024-01-01}}\n",
}

hostile_workflow_bytes = st.one_of(
    st.sampled_from(sorted(FIXED_BAD_WORKFLOWS.values())),
    st.builds(lambda lv, fan: billion_laughs(lv, fan).encode(), st.integers(1, 14), st.integers(2, 12)),
    st.builds(lambda n: b"steps:\n  - {id: a, tool: note, args: {t: " + _deep(n).encode() + b"}}\n", st.integers(1, 120_000)),
    st.builds(lambda pos, junk: (VALID_WORKFLOW.encode()[:pos] + junk + VALID_WORKFLOW.encode()[pos:]), st.integers(0, len(VALID_WORKFLOW)), st.binary(min_size=1, max_size=12)),
    st.builds(lambda text: f"steps:\n  - id: a\n    tool: note\n    args: {{text: {json.dumps(text)}}}\n".encode(), st.text(max_size=30)),
    st.builds(lambda v: f"steps: {json.dumps(v)}\n".encode(), _not_a_list),
    st.binary(max_size=80),
)


def check_workflow_bytes(data: bytes, folder: Path, session: Session) -> None:
    """Load, compile and bind a workflow file as ``llmga workflow validate`` does."""
    path = folder / "hostile.yaml"
    path.write_bytes(data)
    workflow = load_workflow(path)
    plan = compile_workflow(workflow, session, {}, base_dir=folder, roots=[folder])
    bind(plan, REGISTRY, session)


# -- media files ---------------------------------------------------------------------------------
def bad_media(folder: Path) -> dict[str, tuple[Path, Kind]]:
    """Files that claim to be media and are not (or are too big): each import must be refused."""
    folder.mkdir(parents=True, exist_ok=True)
    cases: dict[str, tuple[bytes, str, Kind]] = {
        "fake MP4 (text)": (b"this is not a video", "clip.mp4", Kind.VIDEO),
        "fake MP4 (ftyp header only)": (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "head.mp4", Kind.VIDEO),
        "zero-byte MP4": (b"", "empty.mp4", Kind.VIDEO),
        "fake WAV": (b"RIFF\x10\x00\x00\x00WAVEjunk", "noise.wav", Kind.AUDIO),
        "PNG as audio": (_png_bytes(8), "pic.wav", Kind.AUDIO),
        "truncated PNG": (_png_bytes(32)[:40], "cut.png", Kind.IMAGE),
        "zero-byte PNG": (b"", "empty.png", Kind.IMAGE),
        "text as image": (b"hello", "hello.png", Kind.IMAGE),
        "decompression bomb header": (_bomb_png(), "bomb.png", Kind.IMAGE),
        "non-UTF-8 text": (b"caf\xe9 \xff", "latin.txt", Kind.TEXT),
        "layout not JSON": (b"{boxes: [", "layout.json", Kind.LAYOUT),
        "layout box outside": (b'{"width": 64, "height": 64, "boxes": [{"phrase": "x", "box": [0, 0, 2, 2]}]}', "out.json", Kind.LAYOUT),
        "a folder": (None, "folder.png", Kind.IMAGE),  # type: ignore[dict-item]
    }
    made = {}
    for name, (data, filename, kind) in cases.items():
        path = folder / filename
        if data is None:
            path.mkdir(exist_ok=True)
        else:
            path.write_bytes(data)
        made[name] = (path, kind)
    return made


def _png_bytes(side: int) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (side, side), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def _bomb_png() -> bytes:
    """A valid PNG header claiming 100,000 x 100,000 pixels (10 GP), with almost no data."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")


# -- simple seeded plan fuzz for the benchmark (hypothesis is for tests; this is for 10,000 quickly) --
def random_plan_text(rng: random.Random) -> str:
    """One hostile or valid-looking plan from a seeded generator (same families as the strategies)."""
    family = rng.randrange(8)
    pick = rng.choice
    names = [*REGISTRY.names(), "nope", "", "RESIZE"]
    ids = ["a", "b", "gen", "A", "1x", "", "a.b", "\u00e9"]
    values: list[Any] = ["${image-1}", "${a}", "${a.image}", "${b.mask}", "${image-99}", "${", "x", 0, -1, 5, 9000, 2**70, 1e308,
                         float("nan"), True, False, None, [], [1, 2], {"k": 1}, "\u202e\x1b[2J", [[0, 0, 1, 1]], [[0.1, 0.1, 0.5, 0.5]]]
    if family == 0:
        return json.dumps({"steps": pick([True, False, 5, 1.5, "steps", None, {"id": "a"}])})
    if family == 1:
        depth = rng.choice([40, 500, 5000, 100_000])
        return '{"steps": [{"id": "a", "tool": "note", "args": {"text": ' + _deep(depth) + "}}]}"
    if family == 2:
        return '{"steps": [{"id": "a", "tool": "resize", "args": {"image": "${image-1}", "width": ' + "9" * rng.choice([20, 400, 5000]) + "}}]}"
    if family == 3:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(40)))
    steps = []
    for _ in range(rng.randrange(1, 6)):
        args = {rng.choice(["image", "mask", "text", "width", "height", "left", "right", "top", "bottom", "fail", "seed", "boxes", "zzz"]): pick(values)
                for _ in range(rng.randrange(5))}
        step: dict[str, Any] = {"id": pick(ids), "tool": pick(names), "args": args}
        if rng.random() < 0.2:
            step["after"] = [pick(ids)]
        if rng.random() < 0.05:
            step = pick([[], "step", 3, None])  # type: ignore[assignment]
        steps.append(step)
    return json.dumps({"reply": pick(["", "ok", "\x1b]0;title\x07"]), "steps": steps})


@dataclass
class Tally:
    """Cases tried / behaved / failed for one category of the table."""

    tried: int = 0
    behaved: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome, name: str = "") -> None:
        self.tried += 1
        if outcome.behaved:
            self.behaved += 1
        else:
            self.failures.append(f"{name}: {outcome.detail}" if name else outcome.detail)
