"""Small pieces every backend shares: message conversion and the backend error type."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from tools.errors import LlmgaError


class BackendError(LlmgaError):
    """A model backend answered, but not with something usable (bad HTTP status, malformed reply,
    context overflow). Configuration problems (server unreachable, model missing) are ``ConfigError``."""


_ROLES: dict[type[BaseMessage], str] = {
    SystemMessage: "system",
    HumanMessage: "user",
    AIMessage: "assistant",
    ToolMessage: "tool",
}


def message_role(message: BaseMessage) -> str:
    for cls, role in _ROLES.items():
        if isinstance(message, cls):
            return role
    # ChatMessage carries its own role; anything else is treated as user input.
    return str(getattr(message, "role", "user"))


def message_text(message: BaseMessage) -> str:
    """The text of a message; list contents (LangChain content blocks) keep their text parts."""
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
    return "\n".join(parts)


def to_chat_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """OpenAI-style ``[{"role", "content"}]`` dicts; tool messages become user turns (the planner
    feeds tool results back as text, and small local chat templates reject a bare ``tool`` role)."""
    if not messages:
        raise ValueError("generate() needs at least one message")
    out = []
    for message in messages:
        role = message_role(message)
        if role not in ("system", "user", "assistant"):
            role = "user"
        out.append({"role": role, "content": message_text(message)})
    return out


def schema_instruction(json_schema: dict[str, Any]) -> str:
    """Text telling a model that cannot be constrained which JSON to write."""
    return (
        "Answer with one JSON value only, no prose and no code fence. "
        "It must validate against this JSON schema:\n" + json.dumps(json_schema, separators=(",", ":"))
    )


def schema_name(json_schema: dict[str, Any]) -> str:
    """A name for ``response_format`` (OpenAI requires ``^[a-zA-Z0-9_-]{1,64}$``)."""
    raw = str(json_schema.get("title") or "response")
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in raw)[:64]
    return name or "response"
