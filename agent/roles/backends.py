"""How tools reach an LLM: through the model pool, under two fixed keys.

Tools get the pool as ``ctx.models`` and nothing else, so the backend lives there like any model:

- ``ROLE_KEY`` (``"llm:roles"``): the text backend the roles use. On first use it is built by
  ``agent.llm.get_backend()`` from the same configuration as the planner (``--planner`` /
  ``LLMGA_PLANNER`` / the config file; default: the embedded GGUF), once per pool.
- ``VISION_KEY`` (``"llm:vision"``): a backend that can *see* images (captioner, evaluator's VQA),
  or ``None``. Built from ``LLMGA_VISION`` (a backend name, configured by the same options, e.g.
  ``llmga`` with ``LLMGA_PLANNER_CHECKPOINT``); left unset, the role backend is used when it is an
  MLLM (LLMGA checkpoints), otherwise there is none and image checks are skipped, never faked.

A program (or a test) puts its own backends in with ``install(pool, backend, vision=...)`` before
the first tool runs. A backend object declares it sees images with ``accepts_images = True``.
"""

from __future__ import annotations

import os
from typing import Any

from agent.llm.base import LLMBackend
from tools.errors import ConfigError

ROLE_KEY = "llm:roles"
VISION_KEY = "llm:vision"
VISION_ENV = "LLMGA_VISION"


def _pool(models: Any) -> Any:
    if models is None:
        raise ConfigError("LLM tools need the model pool: run them through Runtime (or Executor(models=ModelPool(...)))")
    return models


def sees_images(backend: LLMBackend | None) -> bool:
    if backend is None:
        return False
    if getattr(backend, "accepts_images", False):
        return True
    from agent.llm.llmga import LLMGABackend

    return isinstance(backend, LLMGABackend)


def role_backend(models: Any) -> LLMBackend:
    from agent.llm import get_backend

    return _pool(models).get(ROLE_KEY, get_backend, size_bytes=0)


def _configured_vision(models: Any) -> LLMBackend | None:
    name = os.environ.get(VISION_ENV, "").strip()
    if name:
        from agent.llm import get_backend

        backend = get_backend(name)
        if not sees_images(backend):
            raise ConfigError(f"{VISION_ENV}={name}: that backend cannot read images here; use 'llmga' (an LLMGA checkpoint)")
        return backend
    from agent.llm import resolve_options

    chosen, _ = resolve_options()
    return role_backend(models) if chosen == "llmga" else None


def vision_backend(models: Any) -> LLMBackend | None:
    """The configured image-reading backend, or None when there is none (callers must say so)."""
    return _pool(models).get(VISION_KEY, lambda: _configured_vision(models), size_bytes=0)


def install(models: Any, backend: LLMBackend | None = None, *, vision: LLMBackend | None = None) -> None:
    """Put backends in the pool before any tool asks; a different one already there is an error."""
    pool = _pool(models)
    for key, wanted in ((ROLE_KEY, backend), (VISION_KEY, vision)):
        if wanted is None:
            continue
        if key == VISION_KEY and not sees_images(wanted):
            raise ConfigError(f"{getattr(wanted, 'name', wanted)!r} cannot read images (set accepts_images = True if it can)")
        got = pool.get(key, lambda w=wanted: w, size_bytes=0)
        if got is not wanted:
            raise ConfigError(f"the pool already holds another backend under {key!r}")
