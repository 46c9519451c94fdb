"""Artifacts: typed files in a session folder, each with the recipe that made it.

An artifact is a file plus a JSON sidecar (``image-3.png`` + ``image-3.artifact.json``). A data file
is written whole under a temp name and only then given its id (a hard link, which fails if the id is
taken), and the sidecar comes last, so an artifact exists exactly when its sidecar does: a crash
mid-write leaves no empty or half file under an artifact's name. The outputs of one step commit
together: each sidecar lists its siblings and counts only when all of them are on disk.
Ids are ``<kind>-<n>``: short enough for an LLM to cite, stable on disk.
PNG files also carry their recipe in a text chunk, so an image alone says how to remake it.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, PngImagePlugin, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools.errors import InputError, LimitError, LlmgaError

log = logging.getLogger(__name__)


class Kind(StrEnum):
    """The closed vocabulary of things tools consume and produce."""

    TEXT = "text"
    IMAGE = "image"
    MASK = "mask"
    LAYOUT = "layout"
    VIDEO = "video"
    AUDIO = "audio"


EXTENSION = {
    Kind.TEXT: ".txt",
    Kind.IMAGE: ".png",
    Kind.MASK: ".png",
    Kind.LAYOUT: ".json",
    Kind.VIDEO: ".mp4",
    Kind.AUDIO: ".wav",
}

ARTIFACT_ID = re.compile(r"^(text|image|mask|layout|video|audio)-([1-9][0-9]*)$")
PNG_RECIPE_KEY = "llmga:recipe"
SIDECAR = ".artifact.json"


class Limits(BaseModel):
    """Every size budget, in one place, for what is read *and* what is written.

    A corrupt or huge input must fail with a message, not exhaust memory; an output over a budget
    is refused before it is stored (``Session.add``), and a plan whose predicted outputs are over
    it is refused before it runs (``graphs.plan.bind``, from each tool's ``output_sizes``).
    """

    max_pixels: int = Field(64_000_000, ge=1, description="one image, mask or video frame, read or written")
    max_file_bytes: int = Field(512 * 1024 * 1024, ge=1, description="one file, read or written")
    max_duration_s: float = Field(600.0, gt=0, description="one video or audio artifact, imported or written")

    def check_pixels(self, width: int, height: int, what: str) -> None:
        if width * height > self.max_pixels:
            raise LimitError(f"{what} is {width}x{height} = {width * height / 1e6:.1f} MP, over the {self.max_pixels / 1e6:g} MP limit")

    def check_bytes(self, size: int, what: str) -> None:
        if size > self.max_file_bytes:
            raise LimitError(f"{what} is {size / 2**20:.1f} MiB, over the {self.max_file_bytes / 2**20:g} MiB limit")

    def check_duration(self, seconds: float, what: str) -> None:
        if seconds > self.max_duration_s:
            raise LimitError(f"{what} lasts {seconds:.1f} s, over the {self.max_duration_s:g} s limit")

    def check_meta(self, meta: dict[str, Any], what: str) -> None:
        """The budgets a tool's reported metadata (width, height, duration) must keep."""
        width, height, duration = meta.get("width"), meta.get("height"), meta.get("duration")
        if isinstance(width, int) and isinstance(height, int):
            self.check_pixels(width, height, what)
        if isinstance(duration, int | float):
            self.check_duration(float(duration), what)


TEST_CRASH_ENV = "LLMGA_TEST_CRASH_AT"
"""Names a write point (``reserve``, ``encode``, ``data``, ``sidecar``, ``cache``) at which the process
dies at once, as a kill would: the crash tests use it to prove every point leaves the store whole."""


def crash_point(name: str) -> None:
    if os.environ.get(TEST_CRASH_ENV) == name:
        os._exit(86)


class Box(BaseModel):
    """One labelled box, corners normalised to [0, 1] so a layout survives resizing."""

    model_config = ConfigDict(extra="forbid")
    phrase: str = Field(min_length=1)
    box: tuple[float, float, float, float] = Field(description="x0, y0, x1, y1 in [0, 1]")

    @field_validator("box")
    @classmethod
    def _inside_canvas(cls, box: tuple[float, float, float, float]) -> tuple[float, ...]:
        x0, y0, x1, y1 = box
        if not all(0.0 <= v <= 1.0 for v in box):
            raise ValueError("box corners must lie in [0, 1]")
        if x1 <= x0 or y1 <= y0:
            raise ValueError("box must have x0 < x1 and y0 < y1")
        return box

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = self.box
        return round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)


class Layout(BaseModel):
    """Boxes with phrases on a canvas: the input of layout-to-image, the output of layout planning."""

    model_config = ConfigDict(extra="forbid")
    width: int = Field(ge=8, le=8192)
    height: int = Field(ge=8, le=8192)
    boxes: list[Box] = Field(default_factory=list)
    caption: str = ""


class Artifact(BaseModel):
    """Metadata of one artifact; the sidecar JSON is exactly this model."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    kind: Kind
    file: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    models: list[str] = Field(default_factory=list)
    parents: dict[str, str] = Field(default_factory=dict, description="input name -> artifact id")
    created_at: datetime
    sha256: str
    meta: dict[str, Any] = Field(default_factory=dict)
    siblings: list[str] = Field(default_factory=list, description="the other outputs of the same step; committed together")

    @model_validator(mode="after")
    def _id_matches_kind(self) -> Artifact:
        match = ARTIFACT_ID.match(self.id)
        if not match or match.group(1) != self.kind.value:
            raise ValueError(f"artifact id {self.id!r} does not fit kind {self.kind}")
        if self.file != f"{self.id}{EXTENSION[self.kind]}":  # a sidecar may only point at its own file, in its own folder
            raise ValueError(f"artifact {self.id} names file {self.file!r}; it must be {self.id}{EXTENSION[self.kind]}")
        if not all(ARTIFACT_ID.match(s) for s in self.siblings):
            raise ValueError(f"artifact {self.id} lists a malformed sibling id")
        return self

    @property
    def output(self) -> str:
        """The tool output it was stored as (``condition`` for ControlNet's edge map); the kind when unrecorded."""
        return str(self.meta.get("output") or self.kind.value)

    def summary(self) -> str:
        """One line an LLM or a person can read: id, kind, origin, size."""
        size = ""
        if "width" in self.meta and "height" in self.meta:
            size = f" {self.meta['width']}x{self.meta['height']}"
        origin = f"from {', '.join(self.parents.values())}" if self.parents else ""
        return f"{self.id} ({self.kind}{size}) by {self.tool} {origin}".rstrip()


def byproducts(artifacts: list[Artifact]) -> set[str]:
    """Ids of the side outputs among ``artifacts``: an output not named after its kind whose step
    also stored the main one of that kind (ControlNet's ``condition`` beside its ``image``). "The
    photo you made" means the main one, never its edge map."""
    main = {a.id for a in artifacts if a.output == a.kind.value}
    return {a.id for a in artifacts if a.id not in main and any(s in main and s.startswith(f"{a.kind.value}-") for s in a.siblings)}


def content_hash(kind: Kind, path: Path) -> str:
    """Hash of what the artifact *is*: pixels for images, bytes otherwise.

    Pixel hashing keeps the recipe chunk out of the hash, so two runs that make the same pixels
    through different steps count as the same input for caching.
    """
    if kind in (Kind.IMAGE, Kind.MASK):
        with Image.open(path) as img:
            return _pixel_hash(img)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _pixel_hash(img: Image.Image) -> str:
    digest = hashlib.sha256(f"{img.mode}:{img.size}".encode())
    digest.update(img.tobytes())
    return digest.hexdigest()


def read_image(path: Path, limits: Limits, *, mask: bool = False) -> Image.Image:
    """Open an image file with size guards; a mask comes back as 8-bit grey."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None
    limits.check_bytes(size, path.name)
    try:
        with Image.open(path) as img:
            limits.check_pixels(*img.size, path.name)
            img.load()
            out = img.convert("L" if mask else "RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise InputError(f"{path.name} is not a readable image ({type(exc).__name__}: {exc})") from None
    return out


class ArtifactHandle:
    """What a tool receives for an artifact input: metadata plus guarded loaders."""

    def __init__(self, artifact: Artifact, path: Path, limits: Limits):
        self.artifact = artifact
        self.path = path
        self._limits = limits

    @property
    def id(self) -> str:
        return self.artifact.id

    @property
    def kind(self) -> Kind:
        return self.artifact.kind

    @property
    def limits(self) -> Limits:
        """The budgets of the session this artifact lives in; a tool checks its output size against
        them before it allocates (``limits.check_pixels``)."""
        return self._limits

    def image(self) -> Image.Image:
        return read_image(self.path, self._limits, mask=self.kind is Kind.MASK)

    def layout(self) -> Layout:
        return Layout.model_validate_json(self.path.read_text(encoding="utf-8"))

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    def recorded_prompt(self, depth: int = 8) -> tuple[str, str] | None:
        """The prompt that made this artifact, walking back through image/video parents (a resize
        or crop keeps no prompt of its own); returns (prompt, id of the artifact that held it)."""
        session = Session(self.path.parent, self._limits)
        artifact = self.artifact
        for _ in range(depth):
            prompt = artifact.args.get("prompt")
            if isinstance(prompt, str) and prompt.strip():
                return prompt.strip(), artifact.id
            parents = [p for p in artifact.parents.values() if p.split("-")[0] in ("image", "video") and session.exists(p)]
            if not parents:
                return None
            artifact = session.get(parents[0])
        return None


def _atomic_write(dest: Path, write: Any) -> None:
    """Write through a temp file in the same folder, then rename: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_bytes(data: bytes) -> Any:
    """A writer for ``_atomic_write``/``Session._place`` (the ``encode`` crash point sits half-way)."""

    def write(handle: BinaryIO) -> None:
        handle.write(data[: len(data) // 2])
        crash_point("encode")
        handle.write(data[len(data) // 2 :])

    return write


def decode_text(data: bytes, what: str) -> str:
    """UTF-8 text, or one InputError naming the file and the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{what} is not UTF-8 text (byte {exc.start}: {data[exc.start:exc.start + 1]!r})") from None


def load_import(path: Path, kind: Kind, limits: Limits) -> tuple[Any, str]:
    """Check a user's file as ``kind`` without storing anything: the value to store and its hash.

    Everything an import can refuse is refused here (missing, too big, undecodable, not UTF-8, a
    video without a video stream), so callers can check attachments before they create a session.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such file: {path}")
    limits.check_bytes(path.stat().st_size, path.name)
    if kind in (Kind.IMAGE, Kind.MASK):
        img = read_image(path, limits, mask=kind is Kind.MASK)
        return img, _pixel_hash(img)
    if kind in (Kind.TEXT, Kind.LAYOUT):
        text = decode_text(path.read_bytes(), path.name)
        if kind is Kind.TEXT:
            return text, hashlib.sha256(text.encode()).hexdigest()
        try:
            layout = Layout.model_validate_json(text)
        except ValueError as exc:
            raise InputError(f"{path.name} is not a valid layout: {exc}") from None
        return layout, hashlib.sha256(layout.model_dump_json(indent=2).encode()).hexdigest()
    _probe_media(path, kind, limits)
    return path, content_hash(kind, path)


def _probe_media(path: Path, kind: Kind, limits: Limits) -> None:
    """A video or audio file must open, hold the stream its kind needs and keep the budgets."""
    from tools.media.av_io import probe  # PyAV is heavy: only imports of media pay for it

    try:
        info = probe(path)
    except LlmgaError as exc:
        raise InputError(str(exc)) from None
    if kind is Kind.VIDEO:
        if not info.has_video:
            raise InputError(f"{path.name} holds no video stream; it cannot be imported as a video")
        if info.container.endswith("_pipe") or info.container == "image2":  # ffmpeg reads a still picture as a 1-frame "video"
            raise InputError(f"{path.name} is a still image ({info.container.removesuffix('_pipe')}), not a video: import it as an image")
        limits.check_pixels(info.width, info.height, f"{path.name} (a frame)")
    elif not info.audio:
        raise InputError(f"{path.name} holds no audio stream; it cannot be imported as audio")
    limits.check_duration(info.duration, path.name)


def _encode_png(img: Image.Image, recipe: dict[str, Any], session: Session | None = None, meta: dict[str, Any] | None = None) -> bytes:
    """The PNG with two text chunks: our recipe, and the ``parameters`` text other SD front-ends read.

    The recipe holds this step (with which output it is, the profile, library versions, the pixel
    hash) and, under ``chain``, every ancestor's recipe back to the imported inputs (known by
    content hash), so the image alone says how to remake it. ``parameters`` is the
    AUTOMATIC1111 layout (prompt; ``Negative prompt:``; ``Steps: .., Sampler: .., CFG scale: ..,
    Seed: .., Size: WxH, Model: ..``) of the nearest step in the chain that had a prompt.
    """
    from importlib import metadata
    from platform import python_version

    meta = meta or {}
    full = {**recipe, "output": meta.get("output"), "profile": meta.get("profile"), "sha256": _pixel_hash(img), "chain": {}}
    versions = {"python": python_version()}
    for dist in ("llmga-agent", "torch", "diffusers", "transformers", "opencv-python-headless", "pillow", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    full["versions"] = versions
    sampler = meta.get("sampler")
    todo = list((recipe.get("parents") or {}).values())
    while session is not None and todo:
        parent = todo.pop()
        if parent in full["chain"] or not session.exists(parent):
            continue
        art = session.get(parent)
        full["chain"][parent] = {"tool": art.tool, "args": art.args, "seed": art.seed, "models": art.models, "parents": art.parents,
                                 "kind": art.kind.value, "sha256": art.sha256, "output": art.meta.get("output"),
                                 "sampler": art.meta.get("sampler")}
        todo.extend(art.parents.values())
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG_RECIPE_KEY, json.dumps(full, sort_keys=True, default=str))
    prompted = [(recipe, sampler)] + [(node, node["sampler"]) for node in full["chain"].values()]
    for step, step_sampler in prompted:
        args = step.get("args") or {}
        if isinstance(args.get("prompt"), str) and args["prompt"].strip():
            sampler_name = {"EulerAncestralDiscrete": "Euler a", "EulerDiscrete": "Euler", "DPMSolverMultistep": "DPM++ 2M",
                            "LMSDiscrete": "LMS", "PNDM": "PLMS"}.get((step_sampler or "").removesuffix("Scheduler"),
                                                                      (step_sampler or "").removesuffix("Scheduler") or None)  # fmt: skip
            settings = [("Steps", args.get("steps")), ("Sampler", sampler_name), ("CFG scale", args.get("guidance")),
                        ("Seed", step.get("seed")), ("Size", f"{img.width}x{img.height}"),
                        ("Model", (step.get("models") or [None])[0]), ("Tool", step.get("tool"))]  # fmt: skip
            lines = [args["prompt"].strip()]
            if args.get("negative_prompt"):
                lines.append(f"Negative prompt: {args['negative_prompt']}")
            lines.append(", ".join(f"{k}: {v}" for k, v in settings if v is not None))
            info.add_text("parameters", "\n".join(lines))
            break
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def png_recipe(path: Path) -> dict[str, Any] | None:
    """The recipe embedded in a PNG by this program, if any."""
    with Image.open(path) as img:
        raw = img.info.get(PNG_RECIPE_KEY)
    return json.loads(raw) if raw else None


class Session:
    """One conversation's or workflow run's folder of artifacts.

    ``created`` lists the ids this handle stored, so a caller can take back exactly its own
    writes (never another process's) when a run is abandoned; ``is_new`` says whether the
    workspace made the folder for this handle.
    """

    def __init__(self, root: Path, limits: Limits | None = None):
        self.root = root
        self.id = root.name
        self.limits = limits or Limits()
        self.is_new = False
        self.created: list[str] = []
        self._lock = threading.Lock()
        self._next: dict[Kind, int] = {}

    # -- reading -----------------------------------------------------------------------------
    def _sidecar(self, artifact_id: str) -> Path:
        return self.root / f"{artifact_id}{SIDECAR}"

    def _load(self, artifact_id: str) -> Artifact | None:
        """The sidecar's artifact; None when it is missing, damaged or not this id's.

        A sidecar is data anyone could have edited: it must validate, name itself, and point only
        at its own file in this folder (the model's validator), or it does not count.
        """
        try:
            artifact = Artifact.model_validate_json(self._sidecar(artifact_id).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("ignoring damaged sidecar %s in session %s: %s", artifact_id, self.id, str(exc).splitlines()[0])
            return None
        if artifact.id != artifact_id:
            log.warning("ignoring sidecar %s in session %s: it describes %s", artifact_id, self.id, artifact.id)
            return None
        return artifact

    def _committed(self, artifact: Artifact, present: set[str] | None = None) -> bool:
        """True when every sibling of the artifact's step is on disk too (all-or-nothing commit)."""
        if present is not None:
            return all(s in present for s in artifact.siblings)
        return all(self._sidecar(s).exists() for s in artifact.siblings)

    def artifacts(self) -> list[Artifact]:
        ids = [
            name
            for sidecar in self.root.glob(f"*{SIDECAR}")
            if ARTIFACT_ID.match(name := sidecar.name.removesuffix(SIDECAR))
        ]
        present = set(ids)
        found = [a for i in ids if (a := self._load(i)) is not None and self._committed(a, present)]
        return sorted(found, key=lambda a: (a.created_at, a.kind.value, int(a.id.rsplit("-", 1)[1])))

    def get(self, artifact_id: str) -> Artifact:
        artifact = self._load(artifact_id) if ARTIFACT_ID.match(artifact_id) else None
        if artifact is None or not self._committed(artifact):
            raise InputError(f"no artifact '{artifact_id}' in session {self.id}")
        return artifact

    def exists(self, artifact_id: str) -> bool:
        try:
            self.get(artifact_id)
        except InputError:
            return False
        return True

    def path(self, artifact: Artifact) -> Path:
        path = self.root / artifact.file
        if path.parent != self.root:  # Artifact validates the name; this keeps a hand-built one in too
            raise InputError(f"artifact {artifact.id} points outside session {self.id}")
        return path

    def handle(self, artifact_id: str) -> ArtifactHandle:
        artifact = self.get(artifact_id)
        return ArtifactHandle(artifact, self.path(artifact), self.limits)

    # -- writing -----------------------------------------------------------------------------
    def _place(self, kind: Kind, write: Callable[[str], Callable[[BinaryIO], None]]) -> tuple[str, Path]:
        """Write a data file whole, then give it the next free id.

        ``write(id)`` returns the writer for that id (a PNG records its id in its recipe). The
        bytes go to a temp file; a hard link then claims ``<id><ext>``, and fails if the name is
        taken, which makes the claim safe across threads and processes. So a file under an
        artifact's name is always complete: a kill leaves at most a hidden temp file. The folder
        is scanned once per kind, after that a counter is enough.
        """
        with self._lock:
            if kind not in self._next:
                taken = [
                    int(m.group(2))
                    for p in self.root.iterdir()
                    if (m := ARTIFACT_ID.match(p.name.lstrip(".").split(".")[0])) and m.group(1) == kind.value
                ]
                self._next[kind] = max(taken, default=0) + 1
        while True:
            with self._lock:
                artifact_id = f"{kind.value}-{self._next[kind]}"
                self._next[kind] += 1
            dest = self.root / f"{artifact_id}{EXTENSION[kind]}"
            if dest.exists() or self._sidecar(artifact_id).exists():
                continue
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{artifact_id}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    write(artifact_id)(handle)
                crash_point("reserve")
                try:
                    os.link(tmp, dest)
                except FileExistsError:
                    continue
                except OSError as exc:  # a file system without hard links: claim by exclusive create
                    if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                        raise
                    try:
                        os.close(os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                    except FileExistsError:
                        continue
                    os.replace(tmp, dest)
                return artifact_id, dest
            finally:
                Path(tmp).unlink(missing_ok=True)

    def _prepare(self, kind: Kind, value: Any, meta: dict[str, Any]) -> Any:
        """Turn what a tool returned into a storable value and check it against the budgets."""
        if kind in (Kind.IMAGE, Kind.MASK) and isinstance(value, Path):
            value = read_image(value, self.limits, mask=kind is Kind.MASK)
        elif kind in (Kind.LAYOUT, Kind.TEXT) and isinstance(value, Path):
            value, _ = load_import(value, kind, self.limits)
        expected = {Kind.IMAGE: Image.Image, Kind.MASK: Image.Image, Kind.LAYOUT: Layout, Kind.TEXT: str}.get(kind, Path)
        if not isinstance(value, expected):
            raise LlmgaError(f"cannot store a {type(value).__name__} as a {kind} artifact")
        what = f"the {kind.value} to store"
        if isinstance(value, Image.Image):
            self.limits.check_pixels(value.width, value.height, what)
        elif isinstance(value, Path):
            self.limits.check_bytes(value.stat().st_size, what)
            self.limits.check_meta(meta, what)
        elif isinstance(value, str):
            self.limits.check_bytes(len(value.encode()), what)
        return value

    def _write(self, kind: Kind, value: Any, recipe: dict[str, Any], meta: dict[str, Any]) -> tuple[str, Path, str]:
        """Store one data file; returns its id, path and content hash (meta gains sizes)."""
        if isinstance(value, Image.Image):
            img = value.convert("L" if kind is Kind.MASK else "RGB")
            meta.update(width=img.width, height=img.height)
            digest = _pixel_hash(img)
            artifact_id, dest = self._place(kind, lambda aid: _write_bytes(_encode_png(img, {"id": aid, **recipe}, self, meta)))
            return artifact_id, dest, digest
        if isinstance(value, Path):
            artifact_id, dest = self._place(kind, lambda aid: lambda h: _copy(value, h))
            return artifact_id, dest, content_hash(kind, dest)
        if isinstance(value, Layout):
            meta.update(width=value.width, height=value.height, boxes=len(value.boxes))
            value = value.model_dump_json(indent=2)
        data = value.encode()
        artifact_id, dest = self._place(kind, lambda aid: _write_bytes(data))
        return artifact_id, dest, hashlib.sha256(data).hexdigest()

    def add(
        self,
        kind: Kind,
        value: Any,
        *,
        tool: str,
        args: dict[str, Any] | None = None,
        seed: int | None = None,
        models: list[str] | None = None,
        parents: dict[str, str] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Artifact:
        """Store a value as a new artifact.

        ``value`` is a PIL image (image, mask), a ``Layout`` (layout), a ``str`` (text), or a
        ``Path`` to a finished file (video, audio, or any kind copied from elsewhere).
        """
        return self.add_many([(kind, value, meta or {})], tool=tool, args=args, seed=seed, models=models, parents=parents)[0]

    def add_many(
        self,
        items: list[tuple[Kind, Any, dict[str, Any]]],
        *,
        tool: str,
        args: dict[str, Any] | None = None,
        seed: int | None = None,
        models: list[str] | None = None,
        parents: dict[str, str] | None = None,
    ) -> list[Artifact]:
        """Store one step's outputs, all or none: ``(kind, value, meta)`` each, one recipe.

        Every value is checked against the budgets before anything is written; the data files
        go first, then the sidecars, each listing its siblings, so the set becomes visible only
        when its last sidecar lands (a crash in between leaves none of them visible).
        """
        prepared = [(Kind(kind), self._prepare(Kind(kind), value, dict(meta)), dict(meta)) for kind, value, meta in items]
        recipe = {"tool": tool, "args": args or {}, "seed": seed, "models": models or [], "parents": parents or {}}
        written: list[tuple[str, Path, str, Kind, dict[str, Any]]] = []
        sidecars: list[Path] = []
        try:
            for kind, value, meta in prepared:
                artifact_id, dest, digest = self._write(kind, value, recipe, meta)
                written.append((artifact_id, dest, digest, kind, meta))
            crash_point("data")
            ids = [w[0] for w in written]
            artifacts = [
                Artifact(id=artifact_id, kind=kind, file=dest.name, created_at=datetime.now(UTC), sha256=digest, meta=meta,
                         siblings=[i for i in ids if i != artifact_id], **recipe)
                for artifact_id, dest, digest, kind, meta in written
            ]
            for number, artifact in enumerate(artifacts):
                if number:
                    crash_point("sidecar")
                payload = artifact.model_dump_json(indent=2).encode()
                sidecar = self._sidecar(artifact.id)
                _atomic_write(sidecar, lambda h, data=payload: h.write(data))
                sidecars.append(sidecar)
        except BaseException:
            for path in [*sidecars, *(w[1] for w in written)]:
                path.unlink(missing_ok=True)
            raise
        with self._lock:
            self.created.extend(a.id for a in artifacts)
        return artifacts

    def import_file(self, path: Path, kind: Kind) -> Artifact:
        """Bring a user's file into the session, reusing an identical earlier import."""
        value, digest = load_import(Path(path), kind, self.limits)
        for earlier in self.artifacts():
            if earlier.tool == "import" and earlier.kind == kind and earlier.sha256 == digest:
                return earlier
        return self.add(kind, value, tool="import", args={"source": Path(path).name})

    def remove(self, artifact_id: str) -> None:
        """Delete an artifact (sidecar first, so it stops counting before its file goes)."""
        artifact = self.get(artifact_id)
        self._sidecar(artifact_id).unlink(missing_ok=True)
        self.path(artifact).unlink(missing_ok=True)

    def take_back(self, since: int = 0) -> None:
        """Remove the artifacts this handle stored after ``created[since]``: a run's own writes only."""
        for artifact_id in reversed(self.created[since:]):
            if self.exists(artifact_id):
                self.remove(artifact_id)
        del self.created[since:]


def _copy(source: Path, handle: BinaryIO) -> None:
    with source.open("rb") as src:
        shutil.copyfileobj(src, handle)


class Workspace:
    """The folder that holds every session and the step cache; nothing is written outside it."""

    def __init__(self, root: Path, limits: Limits | None = None):
        self.root = Path(root).expanduser().resolve()
        self.limits = limits or Limits()

    @property
    def sessions_dir(self) -> Path:
        return self.root / "sessions"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def ensure(self, folder: Path | None = None) -> Path:
        """Make (if needed) a folder of the workspace; a workspace that is a file, or cannot be
        written, is one clear message instead of an OSError from deep inside a run."""
        folder = folder or self.root
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise InputError(f"workspace {self.root}: {folder} exists and is not a folder") from None
        except OSError as exc:
            raise InputError(f"cannot create {folder} in workspace {self.root}: {exc.strerror or exc}") from None
        if not folder.is_dir():
            raise InputError(f"workspace {self.root}: {folder} exists and is not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"workspace {self.root}: {folder} is not writable (set LLMGA_WORKSPACE or --workspace)")
        return folder

    def session(self, session_id: str, *, create: bool = False) -> Session:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}", session_id):
            raise InputError(f"invalid session id {session_id!r}: use letters, digits, '-', '_', '.'")
        root = self.sessions_dir / session_id
        made = False
        if not root.is_dir():
            if not create:
                raise InputError(f"no session '{session_id}' in {self.sessions_dir}")
            made = self._make(root)
        session = Session(root, self.limits)
        session.is_new = made
        return session

    def _make(self, root: Path) -> bool:
        """Create a session folder atomically: True if this call made it, False if it existed."""
        self.ensure(self.sessions_dir)
        try:
            root.mkdir()
        except FileExistsError:
            if not root.is_dir():
                raise InputError(f"{root} exists and is not a folder") from None
            return False
        except OSError as exc:
            raise InputError(f"cannot create session folder {root}: {exc.strerror or exc}") from None
        return True

    def new_session(self, prefix: str = "s") -> Session:
        """A fresh session with a new id; the id is claimed by ``mkdir`` itself, so two processes
        starting at the same second never share one."""
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        for n in range(1, 10_000):
            candidate = f"{prefix}-{stamp}" + (f"-{n}" if n > 1 else "")
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}", candidate):
                raise InputError(f"invalid session prefix {prefix!r}")
            root = self.sessions_dir / candidate
            if not root.exists() and self._make(root):
                session = Session(root, self.limits)
                session.is_new = True
                return session
        raise InputError("could not allocate a session id")

    def sessions(self) -> list[str]:
        if not self.sessions_dir.is_dir():
            return []
        found = []
        for p in self.sessions_dir.iterdir():
            try:
                if p.is_dir():
                    found.append((p.stat().st_mtime, p.name))
            except OSError:  # removed while listing
                continue
        return [name for _, name in sorted(found)]

    def contains(self, path: Path) -> bool:
        return Path(path).resolve().is_relative_to(self.root)
