"""How tools reach an LLM: through ``ctx.llm``, an ``LLMAccess`` the runner lends them.

Tools sit below the agent, so they never build a backend themselves: whoever runs them (the
runtime, a test, a Ray worker) hands the executor an ``LLMAccess`` with a text backend (the roles:
refine, layout, story, questions) and, when one is configured, a vision backend that can *see*
images (caption, the evaluator's VQA). Both are built lazily, once, on first use. Without a vision
backend the tools say so; they never fake an answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tools.errors import ConfigError
from tools.llm.protocol import LLMBackend


def sees_images(backend: LLMBackend | None) -> bool:
    """A backend declares it reads images with ``accepts_images = True``."""
    return bool(backend is not None and getattr(backend, "accepts_images", False))


@dataclass
class LLMAccess:
    """Lazy, build-once access to the text and vision backends."""

    build_text: Callable[[], LLMBackend]
    build_vision: Callable[[], LLMBackend | None] = lambda: None
    _built: dict[str, LLMBackend | None] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def fixed(cls, text: LLMBackend | None, vision: LLMBackend | None = None) -> LLMAccess:
        """Access to ready objects (tests, programs that hold their own backends)."""
        if vision is not None and not sees_images(vision):
            raise ConfigError(f"{getattr(vision, 'name', vision)!r} cannot read images (set accepts_images = True if it can)")

        def no_text() -> LLMBackend:
            raise ConfigError("no text LLM configured for the LLM tools")

        return cls((lambda: text) if text is not None else no_text, lambda: vision)

    def _get(self, key: str, build: Callable[[], LLMBackend | None]) -> LLMBackend | None:
        with self._lock:
            if key not in self._built:
                self._built[key] = build()
            return self._built[key]

    def text(self) -> LLMBackend:
        backend = self._get("text", self.build_text)
        assert backend is not None
        return backend

    def vision(self) -> LLMBackend | None:
        """The image-reading backend, or None when there is none (callers must say so)."""
        backend = self._get("vision", self.build_vision)
        if backend is not None and not sees_images(backend):
            raise ConfigError(f"{backend.name!r} cannot read images here; configure a vision backend (an LLMGA checkpoint)")
        return backend


def of(ctx_llm: LLMAccess | None) -> LLMAccess:
    """The context's access, or one clear message for a runner that configured none."""
    if ctx_llm is None:
        raise ConfigError("LLM tools need LLMs: run them through the Runtime, or give the Executor llm=LLMAccess(...)")
    return ctx_llm
