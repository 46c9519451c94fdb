"""What the planner sees, rendered from the registry and the session: never kept by hand.

Three things: the tool catalogue (one line per tool), the artifact catalogue (ids, kinds, the
prompt or tool that made each), and the JSON schema of a plan, in which every step is a
``{"tool": <const>, "args": {...}}`` object with that tool's own inputs and parameters, so a
grammar-constrained model cannot name a tool or an argument that does not exist.
"""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from typing import Any, Literal, get_args, get_origin

import yaml

from graphs.plan import STEP_ID
from tools.artifacts import Artifact, Kind
from tools.base import Tool
from tools.registry import Registry

REF_PATTERN = r"^\$\{[a-z0-9_.-]+\}$"
MAX_STEPS = 8


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace ``$ref``s by their definitions and drop titles: grammar compilers want it flat."""
    defs = schema.get("$defs", {})

    def walk(node: Any, names: bool = False) -> Any:
        """``names``: ``node`` maps property names to schemas, so a parameter called ``title`` or
        ``description`` is a parameter, not metadata to drop."""
        if isinstance(node, dict):
            if "$ref" in node and not names:
                return walk(copy.deepcopy(defs[node["$ref"].rsplit("/", 1)[-1]]))
            if names:
                return {k: walk(v) for k, v in node.items()}
            return {k: walk(v, names=k == "properties") for k, v in node.items() if k not in ("title", "$defs", "description")}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def typed_ref_pattern(kind: Kind, registry: Registry) -> str:
    """References that can stand for ``kind``: an artifact id of that kind, or a step output whose
    name some tool gives to an output of that kind (``${gen.image}``, ``${det.object}``), or a bare
    ``${step}``. Step ids are the model's own, so they stay free; the rest is typed, and a
    grammar-constrained model cannot write ``${video-1}`` for an image or ``${step.output}``."""
    names = sorted({name for tool in registry for name, k in tool.outputs.items() if k == kind})
    output = f"(\\.({'|'.join(names)}))?" if names else ""
    return f"^\\$\\{{({kind.value}-[1-9][0-9]*|[a-z_][a-z0-9_]*{output})\\}}$"


def tool_args_schema(tool: type[Tool], registry: Registry | None = None) -> dict[str, Any]:
    params = _inline_refs(tool.Params.model_json_schema())
    properties = {
        name: {"type": "string", "pattern": typed_ref_pattern(spec.kind, registry) if registry is not None else REF_PATTERN}
        for name, spec in tool.inputs.items()
    }
    properties.update({name: _bounded(prop) for name, prop in params.get("properties", {}).items()})
    required = [n for n, spec in tool.inputs.items() if not spec.optional] + params.get("required", [])
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


MAX_STRING = 400
"""Longest free-text value the grammar allows: a small model that starts repeating itself inside
a string would otherwise run to the token limit and leave unparseable JSON."""


def _bounded(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _bounded(v) for k, v in node.items()}
        if node.get("type") == "string" and not ({"pattern", "enum", "const", "maxLength"} & set(node)):
            node["maxLength"] = MAX_STRING
        return node
    if isinstance(node, list):
        return [_bounded(v) for v in node]
    return node


def plan_schema(registry: Registry) -> dict[str, Any]:
    steps = [
        {
            "type": "object",
            # "tool" comes first: a grammar-constrained model then chooses among the real tool
            # names before anything else, and the step's id and arguments follow from one tool
            # (written id-first, the id is free text that can name a tool that does not exist).
            "properties": {
                "tool": {"const": tool.name},
                "id": {"type": "string", "pattern": f"^{STEP_ID}$"},
                "args": tool_args_schema(tool, registry),
            },
            "required": ["tool", "id", "args"],
            "additionalProperties": False,
        }
        for tool in registry
    ]
    return {
        "title": "Plan",
        "type": "object",
        "properties": {
            "reply": {"type": "string", "maxLength": MAX_STRING},
            "steps": {"type": "array", "items": {"anyOf": steps}, "maxItems": MAX_STEPS},
        },
        "required": ["reply", "steps"],
        "additionalProperties": False,
    }


def _type_text(annotation: Any) -> str:
    if get_origin(annotation) is Literal:
        return "|".join(repr(a) for a in get_args(annotation))
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _param_text(name: str, field: Any) -> str:
    annotation = _type_text(field.annotation)
    if field.is_required():
        return f"{name}: {annotation} (required)"
    default = field.get_default(call_default_factory=True)
    return f"{name}: {annotation} = {default!r}" if default not in (None, [], {}) else f"{name}: {annotation}"


def tool_line(tool: type[Tool]) -> str:
    """``- name(inputs, required parameters) -> outputs: summary Parameters: optional ones.``

    Kept short on purpose: the catalogue is most of the planner's prompt, and a small model
    reads it on every request (from llama.cpp's prompt cache when it is unchanged).
    """
    fields = {n: f for n, f in tool.Params.model_fields.items() if n != "seed"}
    required = [f"{n}: {_type_text(f.annotation)}" for n, f in fields.items() if f.is_required()]
    inputs = ", ".join([f"{n}: {s.kind.value}{'?' if s.optional else ''}" for n, s in tool.inputs.items()] + required)
    outputs = ", ".join(n if n == k.value else f"{n}: {k.value}" for n, k in tool.outputs.items())
    params = "; ".join(_param_text(n, f) for n, f in fields.items() if not f.is_required())
    return f"- {tool.name}({inputs}) -> {outputs}: {tool.summary()}" + (f" Parameters: {params}." if params else "")


def tool_catalogue(registry: Registry) -> str:
    return "\n".join(tool_line(tool) for tool in registry)


def artifact_line(artifact: Artifact) -> str:
    size = f" {artifact.meta['width']}x{artifact.meta['height']}" if "width" in artifact.meta else ""
    prompt = artifact.args.get("prompt") or artifact.args.get("source") or ""
    what = f': "{prompt[:120]}"' if prompt else ""
    return f"- {artifact.id} ({artifact.kind.value}{size}) by {artifact.tool}{what}"


def artifact_catalogue(artifacts: list[Artifact]) -> str:
    return "\n".join(artifact_line(a) for a in artifacts) if artifacts else "(none yet)"


def render_examples(data: list[dict[str, Any]], registry: Registry) -> str:
    """Examples ``{artifacts: [line, ...], request, plan}`` whose tools are all in ``registry``,
    rendered as the planner must answer (one compact JSON line per plan)."""
    shown = []
    for example in data:
        if all(step["tool"] in registry for step in example["plan"]["steps"]):
            artifacts = "\n".join(f"- {a}" for a in example["artifacts"]) or "(none yet)"
            plan = json.dumps(example["plan"], ensure_ascii=False)
            shown.append(f"Example.\nArtifacts:\n{artifacts}\nRequest: {example['request']}\n{plan}")
    return "\n\n".join(shown)


def examples(registry: Registry) -> str:
    """The packaged in-context examples (prompts/planner_examples.yaml) usable with ``registry``."""
    return render_examples(yaml.safe_load(files("prompts").joinpath("planner_examples.yaml").read_text()), registry)
