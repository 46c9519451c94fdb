"""Execution backends: where a step's tool runs once the executor has decided that it must run.

The executor keeps everything around the call (arguments, signature, cache, the session store);
a backend only answers "run this tool with these inputs and give me what it returned". The local
backend calls the tool in the executor's thread; the Ray backend (``graphs.backends.ray_backend``,
imported only when chosen) ships the call to a long-lived worker per model family.
"""

from __future__ import annotations

from typing import Any

from graphs.backends.base import ExecutionBackend, LocalBackend, ToolCall

__all__ = ["ExecutionBackend", "LocalBackend", "ToolCall", "make_backend"]


def make_backend(kind: str, **ray_args: Any) -> ExecutionBackend:
    """The backend a setting names (``local`` or ``ray``); Ray is imported only for ``ray``."""
    if kind == "local":
        return LocalBackend()
    if kind == "ray":
        from graphs.backends.ray_backend import RayBackend

        return RayBackend(**ray_args)
    raise ValueError(f"unknown executor backend {kind!r}: use local or ray")
