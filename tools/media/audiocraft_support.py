"""Importing audiocraft next to a newer torch, and saying clearly when it is missing.

audiocraft 1.3 pins torch 2.1, so ``setup.sh`` installs it with ``--no-deps`` plus the packages it
imports (see README, "Sound effects: audiocraft"). Its torchaudio import is the hard part: the only
torchaudio wheels on PyPI for recent torch are CUDA builds whose C++ extension cannot load next to a
CPU torch; setup.sh removes that extension after install, and torchaudio then runs as its pure-Python
part (its own documented "extension not available" mode), which is all audiocraft's generation path
uses (``torchaudio.transforms``/``functional``).
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from tools.errors import ConfigError

HOW = (
    "run ./setup.sh (it installs audiocraft 1.3 with --no-deps plus what it imports, and a torchaudio "
    "that loads next to this torch); by hand: pip install --no-deps audiocraft==1.3.0 torchaudio==2.11.0 "
    "xformers==0.0.35 && pip install av einops flashy hydra-core omegaconf julius num2words sentencepiece "
    "spacy librosa torchmetrics soundfile"
)


@cache
def require_audiocraft() -> Any:
    """The ``audiocraft`` module, or one ConfigError naming what is missing and how to get it."""
    logging.getLogger("xformers").setLevel(logging.ERROR)  # it warns that its CUDA kernels are absent; we use torch attention
    try:
        import audiocraft
        import audiocraft.models  # noqa: F401  (the import chain that needs torchaudio, spacy, xformers...)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        raise ConfigError(f"sound effects need audiocraft (AudioGen), and '{missing}' cannot be imported: {HOW}") from None
    except OSError as exc:  # a torchaudio whose C++ extension does not fit this torch
        raise ConfigError(f"audiocraft's torchaudio failed to load ({str(exc).splitlines()[0][:160]}): {HOW}") from None
    return audiocraft
