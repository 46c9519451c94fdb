"""The step cache: input signature -> the artifacts a step made.

A signature covers the tool and its version, the validated parameters (seed included), the
content hashes of every input and the models used. Entries point at artifacts in sessions
rather than holding copies: a hit in the same session reuses the artifact as it is, a hit from
another session copies it in with a fresh id. An entry whose artifact has gone or changed is a
miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tools.artifacts import Artifact, Session, Workspace, crash_point
from tools.errors import InputError


def signature(payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class CachedOutput(BaseModel):
    session: str
    artifact: str
    sha256: str


class StepCache:
    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.root = workspace.cache_dir

    def _path(self, sig: str) -> Path:
        return self.root / sig[:2] / f"{sig}.json"

    def lookup(self, sig: str) -> dict[str, tuple[Session, Artifact]] | None:
        """The cached outputs, each with the session it lives in, if all are still intact."""
        path = self._path(sig)
        if not path.exists():
            return None
        try:
            raw = json.loads(path.read_bytes())
            entry = {k: CachedOutput.model_validate(v) for k, v in raw.items()} if isinstance(raw, dict) else None
        except (ValueError, OSError, RecursionError):
            return None
        if not entry:  # damaged or hand-edited: a miss, never an error
            return None
        found = {}
        for name, out in entry.items():
            try:
                source = self.workspace.session(out.session)
                artifact = source.get(out.artifact)
            except InputError:
                return None
            if artifact.sha256 != out.sha256 or not source.path(artifact).exists():
                return None
            found[name] = (source, artifact)
        return found

    def store(self, sig: str, session: Session, outputs: dict[str, Artifact]) -> None:
        path = self._path(sig)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {k: CachedOutput(session=session.id, artifact=a.id, sha256=a.sha256).model_dump() for k, a in outputs.items()}
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(entry, handle)
            crash_point("cache")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
