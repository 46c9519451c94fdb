"""The backend protocol and the local backend (a plain call in the executor's thread)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from tools.artifacts import ArtifactHandle, Limits
from tools.base import Tool, ToolContext, ToolParams


@dataclass
class ToolCall:
    """One tool invocation, fully decided: validated parameters (seed filled in), input handles,
    and the context (step id, scratch folder, progress, cancel flag, models, LLMs)."""

    tool: type[Tool]
    params: ToolParams
    inputs: dict[str, ArtifactHandle | None]
    ctx: ToolContext
    limits: Limits = field(default_factory=Limits)
    """The session's input guards, for a backend that rebuilds the input handles elsewhere."""


class ExecutionBackend(Protocol):
    def run(self, call: ToolCall) -> Any:
        """Run the tool and return what its ``run`` returned (values the executor stores).

        Files a tool returns (video, audio) must lie under ``call.ctx.scratch`` or another place
        that outlives the call; the executor copies them into the session, then cleans the scratch.
        """
        ...

    def close(self) -> None:
        """Release what the backend holds (workers, connections); a no-op where nothing is held."""
        ...


class LocalBackend:
    """Run the tool right here: the default, and what every other backend is compared against."""

    def run(self, call: ToolCall) -> Any:
        return call.tool().run(call.ctx, call.params, **call.inputs)

    def close(self) -> None:
        return None
