"""The error vocabulary shared by every layer.

Three channels (STYLE.md §8): a *user* mistake (bad workflow, bad argument, unreadable file)
is a ``UserError`` and ends a command with exit code 2 and one message; a *developer* mistake
in a tool declaration is a ``ToolDefinitionError`` raised at import/registration; a tool that
fails while running raises ``ToolFailure`` (or anything else) and the executor records it on
the step so the rest of the run and every finished artifact survive.
"""

from __future__ import annotations

from pydantic import ValidationError


class LlmgaError(Exception):
    """Base for errors whose message is written for the person at the keyboard."""


class UserError(LlmgaError):
    """Bad input from the user or from a plan: shown as one line, exit code 2."""

    exit_code = 2


class ConfigError(UserError):
    """Settings, profiles or plugins are misconfigured."""


class InputError(UserError):
    """An input file or value cannot be used (unreadable, too large, outside the workspace)."""


class LimitError(InputError):
    """Something read or written is over a size budget (``tools.artifacts.Limits``)."""


class PlanError(UserError):
    """A plan or workflow is invalid. ``step`` names the offending step when there is one."""

    def __init__(self, message: str, step: str | None = None):
        self.step = step
        super().__init__(f"step '{step}': {message}" if step else message)


class ToolDefinitionError(LlmgaError):
    """A tool class is declared wrongly; raised when it is defined or registered."""


class ToolFailure(LlmgaError):
    """A tool could not produce its result; recorded on the step, never a crash."""


def format_validation_error(exc: ValidationError) -> str:
    """One line per pydantic problem, worded for a person or a model rather than a developer."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        if err["type"] == "extra_forbidden":
            parts.append(f"unexpected argument '{where}'")
        elif err["type"] == "missing":
            parts.append(f"missing argument '{where}'")
        elif not err["loc"] and err["type"] == "value_error":  # a model-level check: its message says it all
            parts.append(err["msg"].removeprefix("Value error, "))
        else:
            parts.append(f"argument '{where}': {err['msg']}")
    return "; ".join(parts)
