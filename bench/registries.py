"""Benchmark tool lists -> description-only ``Tool`` classes in a bench registry.

The classes are built from the JSON at run time and declare typed inputs and outputs exactly as
a real tool does, so the planner's catalogue, plan schema, ``bind`` checks and the tool graph all
work on them; running one is an error (nothing is executed in a benchmark).

Kinds. The benchmarks' types map onto our closed vocabulary:

- ``image`` / ``Image`` and ControlLLM's condition maps (``image.edge``, ``image.depth``,
  ``image.pose``, ...) -> ``image``; ``image.mask`` -> ``mask``; ``bbox`` -> ``layout``;
  ``video`` -> ``video``; ``audio`` -> ``audio``;
- everything textual (``text``, ``url``, ``category``, ``title``, ``tags``, ``location``, ...)
  -> ``text``.

What a tool is for. A description gives no words a request would use for a tool's job; a tool
that makes a medium none of its inputs is (text_to_video, image_to_video, audio_to_image) is
offered where the request names that medium (``tools.words.MEDIUM_WORDS``) or the session holds
what it takes, as our own video and sound generators are (``Tool.offered_for``).

A text-kind input becomes a string *parameter* (not an artifact input): the planner may write a
literal ("apply reverb") or reference an earlier step's text output (``${sum.text}``), which is
how our plans already carry prompts. Media inputs are artifact inputs and must be references.
"""

from __future__ import annotations

import inspect
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, create_model

from tools.artifacts import Kind
from tools.base import Input, Tool, ToolParams
from tools.errors import ConfigError, ToolFailure
from tools.registry import Registry
from tools.words import MEDIUM_WORDS

MEDIA = {"image": Kind.IMAGE, "mask": Kind.MASK, "layout": Kind.LAYOUT, "video": Kind.VIDEO, "audio": Kind.AUDIO}


def kind_of(type_name: str) -> Kind:
    """A benchmark type name -> our artifact kind (see the module docstring)."""
    t = type_name.strip().lower()
    if t == "image.mask":
        return Kind.MASK
    if t == "bbox":
        return Kind.LAYOUT
    if t == "image" or t.startswith("image."):
        return Kind.IMAGE
    return MEDIA.get(t, Kind.TEXT)


def tool_name(label: str) -> str:
    """``"Image Search (by Image)"`` -> ``image_search_by_image``: a valid tool name."""
    name = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    return name if name[:1].isalpha() else f"t_{name}"


@dataclass(frozen=True)
class Slot:
    """One declared input: its name in our plans, its kind, and the benchmark's type."""

    name: str
    kind: Kind
    source_type: str
    description: str = ""


def _numbered(slots: list[tuple[str, Kind, str, str]]) -> list[Slot]:
    """Give repeated names a suffix (image, image_2) so every input has its own name."""
    seen: Counter[str] = Counter()
    out = []
    for name, kind, source_type, description in slots:
        seen[name] += 1
        out.append(Slot(name if seen[name] == 1 else f"{name}_{seen[name]}", kind, source_type, description))
    return out


def _run(self: Tool, ctx: Any, params: Any, **inputs: Any) -> dict[str, Any]:
    raise ToolFailure(f"{self.name} is a benchmark tool description: it cannot run")


def make_tool(
    label: str,
    description: str,
    inputs: list[Slot],
    outputs: dict[str, Kind],
    *,
    module: str = __name__,
) -> type[Tool]:
    """A ``Tool`` subclass declaring ``inputs``/``outputs``; text inputs become str parameters."""
    media = {s.name: Input(s.kind, description=s.description) for s in inputs if s.kind is not Kind.TEXT}
    fields: dict[str, Any] = {
        s.name: (str, Field(..., description=s.description or s.source_type)) for s in inputs if s.kind is Kind.TEXT
    }
    params = create_model(f"{tool_name(label).title().replace('_', '')}Params", __base__=ToolParams, **fields)

    def run(self: Tool, ctx: Any, params: Any, **kw: Any) -> dict[str, Any]:
        return _run(self, ctx, params, **kw)

    # a description gives no words for a tool's job; the medium it makes that its inputs are not
    # (image_to_video: a video from pictures) is asked for by name, as our own generators are
    made = set(outputs.values()) - {s.kind for s in inputs}
    words = [MEDIUM_WORDS[k] for k in made if k in MEDIUM_WORDS]
    run.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in ("self", "ctx", "params")]
        + [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY) for n in media]
    )
    namespace = {
        "__doc__": description.strip() or label,
        "__module__": module,
        "name": tool_name(label),
        "inputs": media,
        "outputs": outputs,
        "Params": params,
        "run": run,
        "label": label,
        "slots": tuple(inputs),
        "offered_for": words[0] if len(words) == 1 else None,
    }
    return type(tool_name(label).title().replace("_", ""), (Tool,), namespace)


def _registry(tools: list[type[Tool]], origin: str) -> Registry:
    registry = Registry()
    for tool in tools:
        registry.register(tool, origin=origin)
    return registry


def _load_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None


def taskbench_registry(tool_desc: Path) -> Registry:
    """TaskBench's ``tool_desc.json`` (``{nodes: [{id, desc, input-type, output-type}]}``)."""
    tools = []
    for node in _load_json(tool_desc)["nodes"]:
        slots = _numbered([(t.lower(), kind_of(t), t, "") for t in node["input-type"]])
        outs = node["output-type"] or ["text"]
        outputs = {o.lower(): kind_of(o) for o in outs[:1]}
        tools.append(make_tool(node["id"], node["desc"], slots, outputs))
    return _registry(tools, "taskbench")


def controlllm_registry(tools_json: Path) -> Registry:
    """ControlLLM's ``tools.json`` (``[{name, description, domain, args, returns}]``)."""
    tools = []
    for spec in _load_json(tools_json):
        raw = [(re.sub(r"[^a-z0-9_]", "_", a["name"].lower()), kind_of(a["type"]), a["type"], a.get("description", "")) for a in spec["args"]]
        slots = _numbered(raw)
        returns = spec.get("returns") or [{"name": "text", "type": "text"}]
        outputs = {re.sub(r"[^a-z0-9_]", "_", r["name"].lower()): kind_of(r["type"]) for r in returns}
        tool = make_tool(spec["name"], spec["description"], slots, outputs)
        tool.domain = spec.get("domain", "")  # type: ignore[attr-defined]
        tools.append(tool)
    return _registry(tools, "controlllm")


def label_of(tool: type[Tool]) -> str:
    """The benchmark's own name for a bench tool (its ``id`` / ``name`` in the JSON)."""
    return getattr(tool, "label", tool.name)
