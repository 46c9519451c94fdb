"""What the planner sees, rendered from the registry and the session: never kept by hand.

Three things: the tool catalogue (one line per tool), the artifact catalogue (ids, kinds, the
prompt or tool that made each), and the JSON schema of a plan, in which every step is a
``{"tool": <const>, "args": {...}}`` object with that tool's own inputs and parameters, so a
grammar-constrained model cannot name a tool or an argument that does not exist.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from collections.abc import Sequence
from importlib.resources import files
from typing import Any, Literal, get_args, get_origin

import yaml

from agent.quotes import quote_artifacts
from graphs.plan import STEP_ID
from graphs.tool_graph import text_slots
from tools.artifacts import EXTENSION, Artifact, Kind
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
    """One line per artifact; a step's several outputs say so ("condition, made with image-2"): which
    mask goes with which picture is a fact of the session, not something to guess from the order."""
    size = f" {artifact.meta['width']}x{artifact.meta['height']}" if "width" in artifact.meta else ""
    prompt = next((str(artifact.args[k]) for k in ("prompt", "text", "source") if artifact.args.get(k)), "")  # text: what speech said
    what = f': "{prompt[:120]}"' if prompt else ""
    role = f"{artifact.output}, " if artifact.output != artifact.kind.value else ""
    made = f" ({role}made with {', '.join(artifact.siblings)})" if artifact.siblings else ""
    return f"- {artifact.id} ({artifact.kind.value}{size}) by {artifact.tool}{made}{what}"


def artifact_catalogue(artifacts: list[Artifact]) -> str:
    return "\n".join(artifact_line(a) for a in artifacts) if artifacts else "(none yet)"


def render_examples(data: list[dict[str, Any]], registry: Registry) -> str:
    """Examples ``{artifacts: [line, ...], request, plan}`` whose tools are all in ``registry``,
    rendered as the planner must answer (one compact JSON line per plan)."""
    shown = []
    for example in data:
        if example["plan"].get("steps") and all(step["tool"] in registry for step in example["plan"]["steps"]):
            artifacts = "\n".join(f"- {a}" for a in example["artifacts"]) or "(none yet)"
            plan = json.dumps({k: v for k, v in example["plan"].items() if k != "tasks"}, ensure_ascii=False)
            shown.append(f"Example.\nArtifacts:\n{artifacts}\nRequest: {example['request']}\n{plan}")
    return "\n\n".join(shown)


def packaged_examples() -> list[dict[str, Any]]:
    """The packaged in-context examples (prompts/planner_examples.yaml): ``{artifacts, request, plan}``."""
    return yaml.safe_load(files("prompts").joinpath("planner_examples.yaml").read_text())


# -- the two-part answer: structure first (tools and their sources), arguments after -----------------
#
# The model first writes only which tools run and where each one's inputs come from (earlier steps
# "s1", "s2", ... or artifact ids), under a grammar built for this request in which a step can only
# name steps before it and artifacts that exist. The tool graph then wires each source to the
# tool's inputs by kind (graphs.tool_graph.wire), and the model fills the remaining literal
# parameters under a second grammar made for exactly those tools.

COMPACT_JSON = {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":"}
"""llguidance's JSON options (ignored by other backends): no pretty-printing, so a plan costs
half the output tokens a pretty-printed one does."""

MAX_REASON = 200
MAX_TASK = 80


def step_label(position: int) -> str:
    """The id of the step at 1-based ``position``: ``s1``, ``s2``, ..."""
    return f"s{position}"


def _step_item(
    position: int,
    tool_names: Sequence[str],
    artifact_ids: Sequence[str],
    accepts: dict[str, set[str]] | None,
    needs_input: set[str] | None,
    arity: dict[str, int] | None,
    tool_first: bool = False,
) -> dict[str, Any]:
    """The grammar of the step at 1-based ``position``: one of ``tool_names``, its sources earlier
    steps or artifacts (with ``accepts``, only those the tool takes). Sources are written first
    (they narrow the tools) unless ``tool_first`` (the tool narrows the sources)."""
    steps = [step_label(j) for j in range(1, position)]
    if accepts is None:
        sources = steps + list(artifact_ids)
        props: dict[str, Any] = {}
        if sources:
            props["in"] = {"type": "array", "items": {"enum": sources}, "maxItems": 4}
        props["tool"] = {"enum": list(tool_names)}
        return {"type": "object", "properties": _ordered(props, tool_first), "required": ["tool"], "additionalProperties": False}
    options = []
    for name in tool_names:
        sources = steps + [a for a in artifact_ids if a in accepts.get(name, set())]
        needs = name in (needs_input or set())
        if needs and not sources:
            continue  # nothing here could feed it: not offered at this position at all
        most = min(4, (arity or {}).get(name, 4), len(sources))  # more than there are to name would repeat one
        props = {"in": {"type": "array", "items": {"enum": sources}, "minItems": 1, "maxItems": most}} if sources and most else {}
        props["tool"] = {"const": name}
        required = ["in", "tool"] if needs else ["tool"]
        options.append({"type": "object", "properties": _ordered(props, tool_first), "required": required, "additionalProperties": False})
    if not options:  # an empty choice is a grammar the embedded server drops, decoding with none at all
        options = [{"type": "object", "properties": {"tool": {"enum": list(tool_names)}}, "required": ["tool"], "additionalProperties": False}]
    return {"anyOf": options}


def _ordered(props: dict[str, Any], tool_first: bool) -> dict[str, Any]:
    """A step's keys in the order the model writes them (llguidance keeps the schema's order)."""
    return dict(sorted(props.items(), key=lambda kv: (kv[0] == "tool") != tool_first))


def step_form(tool_first: bool) -> str:
    """How one step of the structure answer reads, for the prompts."""
    return '{"tool":"...","in":[...]}' if tool_first else '{"in":[...],"tool":"..."}'


def structure_schema(
    tool_names: list[str],
    artifact_ids: list[str],
    *,
    max_steps: int = MAX_STEPS,
    positional: bool = True,
    refusal: bool = True,
    accepts: dict[str, set[str]] | None = None,
    needs_input: set[str] | None = None,
    arity: dict[str, int] | None = None,
    tasks: bool = True,
    tool_first: bool = False,
    steps: bool = True,
) -> dict[str, Any]:
    """The grammar of the structure answer for one request.

    With ``tasks`` the answer opens with the request's subtasks in words
    (``{"tasks": ["remove the dog"], "steps": [...]}``; with ``positional``, n subtasks are
    followed by n steps or n + 1): the model decomposes the request before it names any tool, so
    the number of steps is settled by what was asked, not by how long it keeps listing tools.

    ``{"steps": [{"in": [<source>, ...], "tool": <name>}, ...]}`` or ``{"cannot": "<one sentence>"}``.
    With ``positional`` the step list is a choice of fixed-length tuples, so the k-th step's
    sources can only be ``s1`` .. ``s(k-1)`` or an artifact of this session: no reference to a
    later step, to itself or to an artifact that does not exist can be written at all.
    With ``accepts`` (tool name -> the artifact ids it can take) each step is a choice between
    tools, its sources written first: once the model has named ``video-1`` only tools that take a
    video remain to choose from, so the graph shortlists the tools and the model picks one.
    A tool in ``needs_input`` (a required artifact input) must name its sources, and is not
    offered where nothing could feed it (``upscale`` as the first step of an empty session).
    ``arity`` (tool name -> how many inputs it has) caps how many sources a step may name.
    Without ``steps`` (and with ``tasks``) the answer ends after the subtasks: ``"steps"`` is
    bound to ``[]``, so the model closes its list as it would and writes no step (the planner
    makes them from the subtasks, ``PlannerOptions.graph_steps``).
    """

    def item(position: int) -> dict[str, Any]:
        return _step_item(position, tool_names, artifact_ids, accepts, needs_input, arity, tool_first)

    def task_list(n: int | None) -> dict[str, Any]:
        words = {"type": "string", "minLength": 3, "maxLength": MAX_TASK}
        return {"type": "array", "items": words, "minItems": n or 1, "maxItems": n or max_steps}

    def step_tuple(n: int) -> dict[str, Any]:
        return {"type": "array", "prefixItems": [item(k) for k in range(1, n + 1)], "minItems": n, "maxItems": n}

    def plan_object(n: int | None) -> dict[str, Any]:
        if n is None:
            steps: dict[str, Any] = {"type": "array", "items": item(max_steps + 1), "minItems": 1, "maxItems": max_steps}
        else:  # n subtasks take n steps, or one more (a subtask that needs a helper: find the dog, then remove it)
            steps = {"anyOf": [step_tuple(k) for k in range(n, min(n + 1, max_steps) + 1)]}
        props = {"tasks": task_list(n), "steps": steps} if tasks else {"steps": steps}
        return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}

    if tasks and not steps:
        plan = {"type": "object", "properties": {"tasks": task_list(None), "steps": {"type": "array", "maxItems": 0}},
                "required": ["tasks", "steps"], "additionalProperties": False}
    elif not positional:
        plan = plan_object(None)
    elif tasks:  # one alternative per number of subtasks
        plan = {"anyOf": [plan_object(n) for n in range(1, max_steps + 1)]}
    else:
        plan = plan_object(None)
        plan["properties"]["steps"] = {"anyOf": [step_tuple(n) for n in range(1, max_steps + 1)]}
    if not refusal:
        return {"x-guidance": COMPACT_JSON, **plan}
    return {"x-guidance": COMPACT_JSON, "anyOf": [plan, _CANNOT]}


_CANNOT = {
    "type": "object",
    "properties": {"cannot": {"type": "string", "minLength": 1, "maxLength": MAX_REASON}},
    "required": ["cannot"],
    "additionalProperties": False,
}


def step_choices(shortlists: Sequence[Sequence[str]], helpers: Sequence[str], n_steps: int,
                 first_later: Sequence[str] | None = None) -> list[list[str]] | None:
    """The tools each of ``n_steps`` steps may be for these subtasks (None: not a step count they take).

    n subtasks take n steps, the k-th one of the k-th subtask's tools; or n + 1 with one helper
    (a mask before a removal) anywhere, so position k offers subtask k's and subtask k-1's tools
    and the ``helpers``. ``first_later``: the first subtask's tools when a step runs before it
    (the first shortlist leaves out tools needing an input nothing provides yet; after a helper,
    an audio download before ``audio_to_image``, they are back).
    """
    n = len(shortlists)
    if n_steps == n:
        return [list(names) for names in shortlists]
    if n_steps != n + 1 or n_steps > MAX_STEPS:
        return None
    before = [first_later if k == 1 and first_later is not None else shortlists[k - 1] for k in range(1, n + 1)]
    return [list(dict.fromkeys([*(shortlists[k] if k < n else ()), *(before[k - 1] if k else ()), *helpers])) for k in range(n + 1)]


def steps_schema(
    shortlists: Sequence[Sequence[str]],
    artifact_ids: list[str],
    *,
    accepts: dict[str, set[str]] | None = None,
    needs_input: set[str] | None = None,
    arity: dict[str, int] | None = None,
    refusal: bool = True,
    tool_first: bool = False,
) -> dict[str, Any]:
    """``{"steps": [...]}`` for subtasks already written: one step per subtask, the k-th step's
    tool one of the k-th subtask's ``shortlists``. With ``refusal`` it may be ``{"cannot": ...}``
    instead: a subtask no tool fits ("post it on instagram") is said, not forced onto a tool."""
    items = [_step_item(k, names, artifact_ids, accepts, needs_input, arity, tool_first) for k, names in enumerate(shortlists, 1)]
    steps = {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    schema = {"type": "object", "properties": {"steps": steps}, "required": ["steps"], "additionalProperties": False}
    if not refusal:
        return {"x-guidance": COMPACT_JSON, **schema}
    return {"x-guidance": COMPACT_JSON, "anyOf": [schema, _CANNOT]}


def input_arity(registry: Registry) -> dict[str, int]:
    """Tool name -> how many sources can feed it: its artifact inputs and text parameters."""
    return {t.name: len(t.inputs) + len(text_slots(t)) for t in registry}


def offered(tool: type[Tool], request: str, artifacts: Sequence[Artifact]) -> bool:
    """Whether the planner offers ``tool`` for ``request``: see ``Tool.offered_for``. A tool that
    made an artifact of the conversation is offered too: "and a picture to go with it" after a
    speech turn is still that thread (without speech in the grammar, the model re-planning the
    speech wrote other tools in its place)."""
    if tool.offered_for is None or tool.offered_for.search(request):
        return True
    kinds = {a.kind for a in artifacts}
    return any(spec.kind in kinds for spec in tool.inputs.values()) or any(a.tool == tool.name for a in artifacts)


def reachable(tools: Sequence[type[Tool]], artifacts: Sequence[Artifact]) -> list[type[Tool]]:
    """The ``tools`` a plan can run: those whose required inputs the session holds or a tool
    before them can make, starting from the session's kinds and text (the request is text).

    A tool that takes a kind nothing offered makes is never a valid step, yet the model still
    writes it: draw_layout (image + layout) for "a three-scene story video", with the layout tools
    not offered, and the retry then gave up on a request plan_story can do."""
    have = {a.kind for a in artifacts} | {Kind.TEXT}
    runnable: list[type[Tool]] = []
    grew = True
    while grew:
        grew = False
        for tool in tools:
            if tool not in runnable and all(spec.optional or spec.kind in have for spec in tool.inputs.values()):
                runnable.append(tool)
                have |= set(tool.outputs.values())
                grew = True
    return [t for t in tools if t in runnable]


def needing_input(registry: Registry) -> set[str]:
    """Tools with at least one required artifact input."""
    return {t.name for t in registry if any(not spec.optional for spec in t.inputs.values())}


def accepted_artifacts(registry: Registry, artifacts: list[Artifact]) -> dict[str, set[str]]:
    """Tool name -> the ids of ``artifacts`` whose kind one of its inputs takes (text artifacts
    count for tools with a text parameter a source can feed)."""
    out: dict[str, set[str]] = {}
    for tool in registry:
        kinds = {spec.kind for spec in tool.inputs.values()} | ({Kind.TEXT} if text_slots(tool) else set())
        out[tool.name] = {a.id for a in artifacts if a.kind in kinds}
    return out


KNOBS = frozenset({
    "negative_prompt", "steps", "guidance", "image_guidance", "edit_guidance", "edit_threshold", "skip",
    "min_guidance", "max_guidance", "motion", "noise", "grounding", "keypoint_threshold", "low", "high",
    "tile", "gpu", "patch", "overlap", "band", "radius", "resample", "line_width", "max_attempts", "max_questions",
})
"""Sampler and expert settings. A request that wants one says so ("40 steps", "a higher guidance",
"negative prompt: text"); otherwise the model wrote their defaults back, half of the characters of
its argument answers on our own requests, at about 8 tokens/s on 2 cores."""


def knobs_named(text: str) -> frozenset[str]:
    """The knobs ``text`` names by a word of theirs ("guidance" names every kind of guidance)."""
    words = set(re.findall(r"[a-z]+", text.lower()))
    return frozenset(k for k in KNOBS if set(k.split("_")) - {"max", "min", "prompt"} & words)


def fillable_params(tool: type[Tool], wired: set[str], request: str | None = None) -> dict[str, Any]:
    """The JSON schema of the parameters the model still writes for ``tool`` (or {} for none):
    every parameter except the seed and those a text source was wired to; with ``request``, the
    ``KNOBS`` only where the request names them (the rest keep their defaults)."""
    params = _inline_refs(tool.Params.model_json_schema())
    required = set(params.get("required", []))
    left_out = KNOBS - knobs_named(request) if request is not None else frozenset()
    properties = {n: _bounded(p) for n, p in params.get("properties", {}).items()
                  if n != "seed" and n not in wired and (n in required or n not in left_out)}
    if not properties:
        return {}
    required = [n for n in params.get("required", []) if n in properties]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def arguments_schema(per_step: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{"s1": {...}, "s3": {...}}``: one object per step that has parameters to fill."""
    return {
        "x-guidance": COMPACT_JSON,
        "type": "object",
        "properties": per_step,
        "required": [label for label, schema in per_step.items() if schema.get("required")],
        "additionalProperties": False,
    }


def param_signature(tool: type[Tool], wired: set[str], offered: set[str] | None = None) -> str:
    """``prompt: str (required); scale: int = 4``: what the arguments answer may contain
    (``offered``: only those parameters, as in ``fillable_params``)."""
    fields = {n: f for n, f in tool.Params.model_fields.items()
              if n != "seed" and n not in wired and (offered is None or n in offered)}
    return "; ".join(_param_text(n, f) for n, f in fields.items())


def structure_of(plan: dict[str, Any], registry: Registry, tool_first: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """A full plan ``{tasks?, steps: [{tool, id, args}]}`` -> (structure answer, arguments answer),
    the two-part form the planner answers in. References become sources in the tool's input order
    (media inputs first, then text parameters); literal parameters go to the arguments answer;
    the subtasks are the plan's own ``tasks`` or, without them, each tool's ``task_words``."""
    labels = {step["id"]: step_label(i) for i, step in enumerate(plan["steps"], 1)}

    def source(value: Any) -> str | None:
        if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
            body = value[2:-1]
            return labels.get(body.split(".")[0], body)
        return None

    steps, arguments = [], {}
    tasks = plan.get("tasks") or [task_words(registry.get(step["tool"])) for step in plan["steps"]]
    for i, step in enumerate(plan["steps"], 1):
        tool = registry.get(step["tool"])
        args = step.get("args", {})
        order = [n for n in tool.inputs if n in args] + [n for n in args if n not in tool.inputs]
        sources = [s for n in order if (s := source(args[n])) is not None]
        literal = {n: v for n, v in args.items() if source(v) is None}
        steps.append(_ordered({**({"in": sources} if sources else {}), "tool": step["tool"]}, tool_first))
        if literal:
            arguments[step_label(i)] = literal
    return {"tasks": tasks, "steps": steps}, arguments


def task_words(tool: type[Tool]) -> str:
    """A step's subtask in words, for an example that does not spell it out: the tool's name as
    words ("text simplifier"). Short on purpose: every word of it is an output token."""
    return tool.name.replace("_", " ")[:MAX_TASK]


def imperative(sentence: str) -> str:
    """"Searches for a text" -> "Search for a text": a description's opening verb as an order."""
    verb, _, rest = sentence.strip().partition(" ")
    if verb.endswith(("ches", "shes", "sses", "xes")):
        verb = verb[:-2]
    elif verb.endswith("s") and not verb.endswith("ss"):
        verb = verb[:-1]
    return f"{verb} {rest}".strip()


def described_example(tool: type[Tool]) -> dict[str, Any]:
    """A one-step example ``{artifacts, request, plan}`` written from ``tool``'s own description,
    for a tool that no example of the pool shows: the 1.5B planner rarely chose a tool it had not
    seen used (TaskBench's Text Search: 6 of its 19 gold uses, 10 with its described example).
    "Searches for a specific text" becomes the request "Search for a specific text"; each required
    artifact input is a file of the user's, named in the request and wired from the artifact list."""
    counts: dict[Kind, int] = {}
    artifacts, files, args = [], [], {}
    for name, spec in tool.inputs.items():
        if spec.optional:
            continue
        counts[spec.kind] = counts.get(spec.kind, 0) + 1
        artifact_id = f"{spec.kind.value}-{counts[spec.kind]}"
        file = f"example{counts[spec.kind] if counts[spec.kind] > 1 else ''}{EXTENSION[spec.kind]}"
        artifacts.append(f'{artifact_id} ({spec.kind.value}) by import: "{file}"')
        files.append(file)
        args[name] = f"${{{artifact_id}}}"
    request = imperative(tool.summary())
    if files:
        request += f" Files: {', '.join(files)}."
    return {"artifacts": artifacts, "request": request, "plan": {"steps": [{"tool": tool.name, "id": tool.name, "args": args}]}}


def shipped(tool: type[Tool]) -> bool:
    """A tool of this project's own packages: the packaged examples show it, or it is reached
    through the tools it serves (pad_canvas through outpaint)."""
    return tool.__module__.split(".")[0] in ("tools", "agent", "graphs")


def described_examples(examples: Sequence[dict[str, Any]], registry: Registry,
                       tools: Sequence[type[Tool]] | None = None) -> list[dict[str, Any]]:
    """``examples`` with a described example after the single-step ones for each tool of
    ``registry`` (or of ``tools``) that none of them uses."""
    shown = {step["tool"] for e in examples for step in (e["plan"].get("steps") or [])}
    made = [described_example(tool) for tool in (registry if tools is None else tools) if tool.name not in shown]
    singles = next((i for i, e in enumerate(examples) if len(e["plan"].get("steps") or []) != 1), len(examples))
    return [*examples[:singles], *made, *examples[singles:]]


SAME_PASSAGE = 0.9
"""How alike (difflib's ratio) an example's argument and a passage its request quotes read for the
argument to be that passage."""


def quoted_example(example: dict[str, Any]) -> dict[str, Any]:
    """``example`` as the planner would see it with ``PlannerOptions.quotes``: each passage its
    request quotes listed as a text artifact, and a step argument that is the passage a reference
    to it (then a source of the structure answer, not an argument to write)."""
    quotes = quote_artifacts(example["request"], [line.split()[0] for line in example["artifacts"] if line.split()])
    plan = copy.deepcopy(example["plan"])
    used = []
    for quote in quotes:
        passage = quote.args["text"]
        for step in plan.get("steps") or []:
            args = step.get("args") or {}
            # a benchmark's gold may drop the passage's last stop ("... biodiversity" for "... biodiversity?")
            written = [k for k, v in args.items() if isinstance(v, str) and difflib.SequenceMatcher(None, v, passage).ratio() >= SAME_PASSAGE]
            args.update({k: f"${{{quote.id}}}" for k in written})
            if written and quote not in used:
                used.append(quote)
    if not used:
        return example
    # a passage the example's plan does not take is left out of it, so that each one shown is used
    return {**example, "artifacts": [*example["artifacts"], *(artifact_line(a)[2:] for a in used)], "plan": plan}


def render_two_part_examples(data: list[dict[str, Any]], registry: Registry, tool_first: bool = False, quotes: bool = False,
                             steps: bool = True) -> str:
    """Examples ``{artifacts, request, plan}`` (plan: full steps, or ``cannot``) in the planner's
    two-part answer form; an example naming a tool that is not installed is left out. With
    ``quotes`` a passage the request quotes is an artifact of its own, as the planner offers it
    (``quoted_example``). Without ``steps`` the structure shows ``"steps":[]``, as an answer
    whose steps the tool graph makes (``structure_schema(steps=False)``)."""
    shown = []
    for example in data:
        example = quoted_example(example) if quotes else example
        plan = example["plan"]
        artifacts = "\n".join(f"- {a}" for a in example["artifacts"]) or "(none yet)"
        head = f"Example.\nArtifacts:\n{artifacts}\nRequest: {example['request']}\n"
        if plan.get("cannot"):
            shown.append(head + "Structure: " + json.dumps({"cannot": plan["cannot"]}, ensure_ascii=False, separators=(",", ":")))
            continue
        if not all(step["tool"] in registry for step in plan["steps"]):
            continue
        structure, arguments = structure_of(plan, registry, tool_first)
        if not steps:
            structure["steps"] = []
        text = head + "Structure: " + json.dumps(structure, ensure_ascii=False, separators=(",", ":"))
        if arguments:
            text += "\nArguments: " + json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))
        shown.append(text)
    return "\n\n".join(shown)
