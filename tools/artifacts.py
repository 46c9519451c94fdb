"""Artifacts: typed files in a session folder, each with the recipe that made it.

An artifact is a file plus a JSON sidecar (``image-3.png`` + ``image-3.artifact.json``). The sidecar is
written last, so an artifact exists exactly when its sidecar does: a crash mid-write leaves no
half artifact behind. Ids are ``<kind>-<n>``: short enough for an LLM to cite, stable on disk.
PNG files also carry their recipe in a text chunk, so an image alone says how to remake it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import threading
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from PIL import Image, PngImagePlugin, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tools.errors import InputError, LlmgaError


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
    """Input guards: a corrupt or huge file must fail with a message, not exhaust memory."""

    max_pixels: int = 64_000_000
    max_file_bytes: int = 512 * 1024 * 1024


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

    @model_validator(mode="after")
    def _id_matches_kind(self) -> Artifact:
        match = ARTIFACT_ID.match(self.id)
        if not match or match.group(1) != self.kind.value:
            raise ValueError(f"artifact id {self.id!r} does not fit kind {self.kind}")
        return self

    def summary(self) -> str:
        """One line an LLM or a person can read: id, kind, origin, size."""
        size = ""
        if "width" in self.meta and "height" in self.meta:
            size = f" {self.meta['width']}x{self.meta['height']}"
        origin = f"from {', '.join(self.parents.values())}" if self.parents else ""
        return f"{self.id} ({self.kind}{size}) by {self.tool} {origin}".rstrip()


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
    if size > limits.max_file_bytes:
        raise InputError(f"{path.name} is {size / 2**20:.0f} MiB, over the {limits.max_file_bytes / 2**20:.0f} MiB limit")
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > limits.max_pixels:
                raise InputError(
                    f"{path.name} is {width}x{height} = {width * height / 1e6:.1f} MP, over the "
                    f"{limits.max_pixels / 1e6:.0f} MP limit"
                )
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

    def image(self) -> Image.Image:
        return read_image(self.path, self._limits, mask=self.kind is Kind.MASK)

    def layout(self) -> Layout:
        return Layout.model_validate_json(self.path.read_text())

    def text(self) -> str:
        return self.path.read_text()

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


def _encode_png(img: Image.Image, recipe: dict[str, Any]) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG_RECIPE_KEY, json.dumps(recipe, sort_keys=True, default=str))
    buffer = io.BytesIO()
    img.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def png_recipe(path: Path) -> dict[str, Any] | None:
    """The recipe embedded in a PNG by this program, if any."""
    with Image.open(path) as img:
        raw = img.info.get(PNG_RECIPE_KEY)
    return json.loads(raw) if raw else None


class Session:
    """One conversation's or workflow run's folder of artifacts."""

    def __init__(self, root: Path, limits: Limits | None = None):
        self.root = root
        self.id = root.name
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._next: dict[Kind, int] = {}

    # -- reading -----------------------------------------------------------------------------
    def artifacts(self) -> list[Artifact]:
        found = []
        for sidecar in self.root.glob(f"*{SIDECAR}"):
            if ARTIFACT_ID.match(sidecar.name.removesuffix(SIDECAR)):
                found.append(Artifact.model_validate_json(sidecar.read_text()))
        return sorted(found, key=lambda a: (a.created_at, a.kind.value, int(a.id.rsplit("-", 1)[1])))

    def get(self, artifact_id: str) -> Artifact:
        sidecar = self.root / f"{artifact_id}{SIDECAR}"
        if not ARTIFACT_ID.match(artifact_id) or not sidecar.exists():
            raise InputError(f"no artifact '{artifact_id}' in session {self.id}")
        return Artifact.model_validate_json(sidecar.read_text())

    def exists(self, artifact_id: str) -> bool:
        return bool(ARTIFACT_ID.match(artifact_id)) and (self.root / f"{artifact_id}{SIDECAR}").exists()

    def path(self, artifact: Artifact) -> Path:
        return self.root / artifact.file

    def handle(self, artifact_id: str) -> ArtifactHandle:
        artifact = self.get(artifact_id)
        return ArtifactHandle(artifact, self.path(artifact), self.limits)

    # -- writing -----------------------------------------------------------------------------
    def _reserve(self, kind: Kind) -> tuple[str, Path]:
        """Claim the next free id by exclusively creating its (still empty) data file.

        The exclusive create makes the claim safe across threads and processes; the folder is
        scanned once per kind, after that a counter is enough. The empty file is not an artifact
        yet: that takes the sidecar, written last.
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
                artifact_id = f"{kind.value}-{self._next[kind]}"
                self._next[kind] += 1
                dest = self.root / f"{artifact_id}{EXTENSION[kind]}"
                try:
                    os.close(os.open(dest, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                    return artifact_id, dest
                except FileExistsError:
                    continue

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
        meta = dict(meta or {})
        kind = Kind(kind)
        if kind in (Kind.IMAGE, Kind.MASK) and isinstance(value, Path):
            value = read_image(value, self.limits, mask=kind is Kind.MASK)
        elif kind is Kind.LAYOUT and isinstance(value, Path):
            value = Layout.model_validate_json(value.read_text())
        elif kind is Kind.TEXT and isinstance(value, Path):
            value = value.read_text()
        expected = {Kind.IMAGE: Image.Image, Kind.MASK: Image.Image, Kind.LAYOUT: Layout, Kind.TEXT: str}.get(kind, Path)
        if not isinstance(value, expected):
            raise LlmgaError(f"cannot store a {type(value).__name__} as a {kind} artifact")

        artifact_id, dest = self._reserve(kind)
        recipe = {"id": artifact_id, "tool": tool, "args": args or {}, "seed": seed, "models": models or [], "parents": parents or {}}
        try:
            if isinstance(value, Image.Image):
                img = value.convert("L" if kind is Kind.MASK else "RGB")
                meta.update(width=img.width, height=img.height)
                digest = _pixel_hash(img)
                data = _encode_png(img, recipe)
                _atomic_write(dest, lambda h: h.write(data))
            elif isinstance(value, Path):
                with value.open("rb") as src:
                    _atomic_write(dest, lambda h: shutil.copyfileobj(src, h))
                digest = content_hash(kind, dest)
            else:
                if isinstance(value, Layout):
                    meta.update(width=value.width, height=value.height, boxes=len(value.boxes))
                    value = value.model_dump_json(indent=2)
                data = value.encode()
                digest = hashlib.sha256(data).hexdigest()
                _atomic_write(dest, lambda h: h.write(data))
            artifact = Artifact(
                id=artifact_id,
                kind=kind,
                file=dest.name,
                tool=tool,
                args=args or {},
                seed=seed,
                models=models or [],
                parents=parents or {},
                created_at=datetime.now(UTC),
                sha256=digest,
                meta=meta,
            )
            payload = artifact.model_dump_json(indent=2).encode()
            _atomic_write(self.root / f"{artifact_id}{SIDECAR}", lambda h: h.write(payload))
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return artifact

    def import_file(self, path: Path, kind: Kind) -> Artifact:
        """Bring a user's file into the session, reusing an identical earlier import."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"no such file: {path}")
        if kind in (Kind.IMAGE, Kind.MASK):
            value: Any = read_image(path, self.limits, mask=kind is Kind.MASK)
            digest = _pixel_hash(value)
        elif kind is Kind.LAYOUT:
            try:
                value = Layout.model_validate_json(path.read_text())
            except ValueError as exc:
                raise InputError(f"{path.name} is not a valid layout: {exc}") from None
            digest = hashlib.sha256(value.model_dump_json(indent=2).encode()).hexdigest()
        else:
            value, digest = path, content_hash(kind, path)
        for earlier in self.artifacts():
            if earlier.tool == "import" and earlier.kind == kind and earlier.sha256 == digest:
                return earlier
        return self.add(kind, value, tool="import", args={"source": path.name})

    def remove(self, artifact_id: str) -> None:
        artifact = self.get(artifact_id)
        (self.root / f"{artifact_id}{SIDECAR}").unlink()
        self.path(artifact).unlink(missing_ok=True)


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

    def session(self, session_id: str, *, create: bool = False) -> Session:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}", session_id):
            raise InputError(f"invalid session id {session_id!r}: use letters, digits, '-', '_', '.'")
        root = self.sessions_dir / session_id
        if not root.is_dir():
            if not create:
                raise InputError(f"no session '{session_id}' in {self.sessions_dir}")
            root.mkdir(parents=True)
        return Session(root, self.limits)

    def new_session(self, prefix: str = "s") -> Session:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        for n in range(1, 1000):
            candidate = f"{prefix}-{stamp}" + (f"-{n}" if n > 1 else "")
            if not (self.sessions_dir / candidate).exists():
                return self.session(candidate, create=True)
        raise InputError("could not allocate a session id")

    def sessions(self) -> list[str]:
        if not self.sessions_dir.is_dir():
            return []
        dirs = [p for p in self.sessions_dir.iterdir() if p.is_dir()]
        return [p.name for p in sorted(dirs, key=lambda p: p.stat().st_mtime)]

    def contains(self, path: Path) -> bool:
        return Path(path).resolve().is_relative_to(self.root)
