"""The tool registry, filled from the ``llmga.tools`` entry-point group.

Built-ins register through the same group a third-party package uses (see ``pyproject.toml``),
so there is exactly one way in. ``LLMGA_PLUGINS`` (comma-separated entry-point names) limits
which plugins load. A duplicate tool name is an error that names both providers; nothing is
ever renamed behind the user's back.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from types import ModuleType

from tools.base import Tool
from tools.errors import ConfigError, PlanError, ToolDefinitionError

ENTRY_POINT_GROUP = "llmga.tools"
PLUGINS_ENV = "LLMGA_PLUGINS"


class Registry:
    """Tool classes by name, with the plugin each came from."""

    def __init__(self) -> None:
        self._tools: dict[str, type[Tool]] = {}
        self._origin: dict[str, str] = {}

    def register(self, tool: type[Tool], origin: str = "direct") -> None:
        if not (isinstance(tool, type) and issubclass(tool, Tool)):
            raise ToolDefinitionError(f"plugin '{origin}' offered {tool!r}, which is not a Tool subclass")
        if tool.name in self._tools:
            raise ToolDefinitionError(
                f"duplicate tool name '{tool.name}': from plugin '{origin}' and from plugin "
                f"'{self._origin[tool.name]}'. Rename one of them."
            )
        self._tools[tool.name] = tool
        self._origin[tool.name] = origin

    def get(self, name: str, step: str | None = None) -> type[Tool]:
        try:
            return self._tools[name]
        except KeyError:
            close = difflib.get_close_matches(name, self._tools, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; see `llmga tools list`"
            raise PlanError(f"unknown tool '{name}'{hint}", step=step) from None

    def origin(self, name: str) -> str:
        return self._origin[name]

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[type[Tool]]:
        return iter(sorted(self._tools.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return sorted(self._tools)


def _tools_from(obj: object) -> Iterable[type[Tool]]:
    """An entry point may name a Tool class, a list of them, or a module with a ``TOOLS`` list."""
    if isinstance(obj, ModuleType):
        obj = getattr(obj, "TOOLS", None)
    if isinstance(obj, type):
        return [obj]
    if isinstance(obj, list | tuple):
        return obj
    raise ToolDefinitionError(f"entry point gave {obj!r}; expected a Tool class or a list of them")


def load_registry(only: Iterable[str] | None = None) -> Registry:
    """Build a registry from installed plugins.

    ``only`` (or ``$LLMGA_PLUGINS``) lists entry-point names to load; the default loads all.
    """
    if only is None and os.environ.get(PLUGINS_ENV, "").strip():
        only = [p.strip() for p in os.environ[PLUGINS_ENV].split(",") if p.strip()]
    wanted = set(only) if only is not None else None
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if wanted is not None and (missing := wanted - set(found)):
        raise ConfigError(
            f"{PLUGINS_ENV} names plugins that are not installed: {', '.join(sorted(missing))}; "
            f"installed: {', '.join(sorted(found)) or 'none'}"
        )
    registry = Registry()
    for name in sorted(found):
        if wanted is not None and name not in wanted:
            continue
        try:
            loaded = found[name].load()
        except ImportError as exc:
            raise ConfigError(f"plugin '{name}' failed to import: {exc}") from exc
        for tool in _tools_from(loaded):
            registry.register(tool, origin=name)
    return registry
