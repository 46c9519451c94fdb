"""Tiny, untrained models built offline from config, for tests and machines without weights.

The classes are the real ones (diffusers, transformers, audiocraft) at the sizes their libraries use
in their own tests; ``image`` holds the Stable Diffusion parts and estimators, ``media`` the video and
audio models. Each build is saved once into ``<cache>/tiny/<name>-v<TINY_VERSION>`` and loaded back
through the same ``from_pretrained`` / state-dict path as a downloaded model, so tests exercise the
real loading path. Weights come from a fixed seed under ``torch.random.fork_rng`` (the global random
state is left alone). Outputs are noise: the program says so wherever these are used.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from tools.errors import ConfigError
from tools.models.tiny import image, media

__all__ = ["BUILDERS", "TINY_VERSION", "build_once", "tiny_dir", "tiny_path"]

TINY_VERSION = 2
"""Bump when a builder changes, so stale cached builds are not reused."""

BUILDERS: dict[str, Callable[[Path], None]] = {**image.BUILDERS, **media.BUILDERS}
"""Every tiny build a profile can name as ``tiny:<name>`` (the two families use distinct names)."""


def tiny_path(name: str, cache_dir: Path) -> Path:
    """Where tiny build ``name`` lives (built or not); an unknown name is a ConfigError listing the known ones."""
    if name not in BUILDERS:
        raise ConfigError(f"unknown tiny model 'tiny:{name}'; known: {', '.join(f'tiny:{n}' for n in BUILDERS)}")
    return Path(cache_dir) / "tiny" / f"{name}-v{TINY_VERSION}"


def tiny_dir(name: str, cache_dir: Path) -> Path:
    """The folder of tiny build ``name``, building it first if it is not there yet."""
    return build_once(tiny_path(name, cache_dir), BUILDERS[name])


def build_once(dest: Path, builder: Callable[[Path], None]) -> Path:
    """``dest``, built by ``builder`` (seeded, without touching global RNG state) if it is missing.

    The build goes to a temporary folder beside the target and is renamed into place, so two
    processes building at once both end with one complete folder, never a half-written one.
    """
    if dest.is_dir():
        return dest
    import torch

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            builder(tmp)
        try:
            os.rename(tmp, dest)
        except OSError:  # another process finished first; theirs is as good as ours
            if not dest.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
