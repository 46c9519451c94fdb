"""Prompt templates as package data, rendered strictly.

Templates use ``string.Template`` syntax (``$name``); a variable the caller does not supply is an
error, never an empty string, and a supplied variable the template does not use is an error too,
so a template and its caller cannot drift apart silently. Tool descriptions are injected from
the registry by the caller, never pasted into template text.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files
from string import Template


class PromptError(LookupError):
    """A template is missing or its caller passes the wrong variables: a developer mistake."""


@cache
def load(name: str) -> Template:
    try:
        text = files(__name__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptError(f"no prompt template '{name}' in the prompts package") from None
    return Template(text)


def render(name: str, **values: object) -> str:
    template = load(name)
    wanted = {m.group("named") or m.group("braced") for m in template.pattern.finditer(template.template)} - {None}
    missing, extra = wanted - set(values), set(values) - wanted
    if missing or extra:
        raise PromptError(f"prompt '{name}': missing {sorted(missing)}, unused {sorted(extra)}")
    return template.substitute({k: str(v) for k, v in values.items()})


def names() -> list[str]:
    return sorted(re.sub(r"\.txt$", "", p.name) for p in files(__name__).iterdir() if p.name.endswith(".txt"))
