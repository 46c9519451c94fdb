"""Plans: a DAG of tool steps, written by the planner LLM or compiled from a workflow file.

One reference syntax serves both: an argument whose whole value is ``${gen.image}`` takes output
``image`` of step ``gen`` (``${gen}`` when the step has a single output), and ``${image-3}`` takes
an artifact already in the session. ``bind`` checks a plan against the registry and the session
and returns ``BoundStep``s the executor can run; every problem names its step.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tools.artifacts import ARTIFACT_ID, Kind, Session
from tools.base import Size, Tool
from tools.errors import LimitError, PlanError, format_validation_error
from tools.registry import Registry

log = logging.getLogger(__name__)

STEP_ID = r"[a-z_][a-z0-9_]{0,47}"
REF = re.compile(r"^\$\{\s*([^}\s]+)\s*\}$")
MAX_DEPTH = 32
"""Deepest nesting a plan or workflow value may have (a box list is 3 deep)."""
MAX_VALUES = 50_000
"""Most values a plan or workflow may hold, YAML aliases counted as the copies they expand to."""
MAX_STEPS = 256


def check_shape(data: Any, what: str) -> None:
    """Refuse data that is too deep, too big or cyclic before anything recursive walks it.

    Iterative, so a 200,000-deep list costs a few hundred loops, not a RecursionError; it counts
    values as they would be expanded, so a billion-laughs file of aliases stops at ``MAX_VALUES``
    (a cycle, which YAML anchors can make, runs past ``MAX_DEPTH``).
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    count = 0
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise PlanError(f"{what} is too large: more than {MAX_VALUES:,} values (aliases count as copies)")
        if depth > MAX_DEPTH:
            raise PlanError(f"{what} nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
            stack.extend((k, depth + 1) for k in value if not isinstance(k, str | int | float | bool))
        elif isinstance(value, list | tuple | set):
            stack.extend((v, depth + 1) for v in value)


@dataclass(frozen=True)
class StepRef:
    step: str
    output: str | None = None

    def __str__(self) -> str:
        return f"${{{self.step}.{self.output}}}" if self.output else f"${{{self.step}}}"


@dataclass(frozen=True)
class ArtifactRef:
    id: str

    def __str__(self) -> str:
        return f"${{{self.id}}}"


Ref = StepRef | ArtifactRef


def parse_ref(value: Any) -> Ref | None:
    """The reference a value stands for, or None for a literal. Malformed references are errors."""
    if not isinstance(value, str):
        return None
    match = REF.match(value)
    if not match:
        return None
    body = match.group(1)
    if ARTIFACT_ID.match(body):
        return ArtifactRef(body)
    parts = body.split(".")
    if len(parts) <= 2 and all(re.fullmatch(STEP_ID, p) for p in parts):
        return StepRef(parts[0], parts[1] if len(parts) == 2 else None)
    raise ValueError(f"malformed reference {value!r}: use ${{step.output}}, ${{step}} or ${{image-3}}")


def _a(kind: Kind) -> str:
    return f"an {kind.value}" if kind.value[0] in "aeiou" else f"a {kind.value}"


def looks_like_ref(value: Any) -> bool:
    return isinstance(value, str) and value.lstrip().startswith("${")


class Step(BaseModel):
    """One tool call. ``after`` adds ordering beyond what references imply."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=f"^{STEP_ID}$")
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    after: list[str] = Field(default_factory=list)


class Plan(BaseModel):
    """Steps plus the named results the user asked for."""

    model_config = ConfigDict(extra="forbid")
    steps: list[Step] = Field(max_length=MAX_STEPS)
    outputs: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        try:
            check_shape(data, "the plan")
        except PlanError as exc:
            raise ValueError(str(exc)) from None
        return data


@dataclass
class BoundStep:
    """A step checked against its tool: artifact inputs as refs, parameters validated."""

    id: str
    tool: type[Tool]
    inputs: dict[str, Ref]
    params: dict[str, Any]
    text_params: dict[str, Ref] = field(default_factory=dict)
    deps: set[str] = field(default_factory=set)


@dataclass
class BoundPlan:
    steps: dict[str, BoundStep]
    order: list[str]
    outputs: dict[str, Ref]

    def dependents(self, step_id: str) -> set[str]:
        return {s.id for s in self.steps.values() if step_id in s.deps}


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str | None, str]] = []

    def add(self, step: str | None, message: str) -> None:
        self.items.append((step, message))

    def raise_if_any(self) -> None:
        if len(self.items) == 1:
            step, message = self.items[0]
            raise PlanError(message, step=step)
        if self.items:
            lines = [f"step '{s}': {m}" if s else m for s, m in self.items]
            raise PlanError(f"{len(lines)} problems in the plan:\n  " + "\n  ".join(lines))


def output_kind(tool: type[Tool], ref: StepRef) -> tuple[str | None, Kind | None, str | None]:
    """Resolve which output a step reference means: (output name, kind, error)."""
    if ref.output is None:
        if len(tool.outputs) != 1:
            names = ", ".join(f"${{{ref.step}.{o}}}" for o in tool.outputs)
            return None, None, f"${{{ref.step}}} is ambiguous: {tool.name} has outputs {names}"
        name = next(iter(tool.outputs))
        return name, tool.outputs[name], None
    if ref.output not in tool.outputs:
        return None, None, f"{ref} names no output of {tool.name} (it has: {', '.join(tool.outputs)})"
    return ref.output, tool.outputs[ref.output], None


def bind(plan: Plan, registry: Registry, session: Session) -> BoundPlan:
    """Check a plan completely and return runnable steps in dependency order."""
    problems = _Problems()
    tools: dict[str, type[Tool]] = {}
    seen: set[str] = set()
    for step in plan.steps:
        if step.id in seen:
            problems.add(step.id, "duplicate step id")
        seen.add(step.id)
        try:
            tools[step.id] = registry.get(step.tool)
        except PlanError as exc:
            problems.add(step.id, str(exc).split(": ", 1)[-1])

    def resolve(step_id: str | None, value: Any, want: Kind | None) -> Ref | None:
        """Check one reference; ``want`` is the kind the argument needs."""
        try:
            ref = parse_ref(value)
        except ValueError as exc:
            problems.add(step_id, str(exc))
            return None
        if ref is None:
            problems.add(step_id, f"malformed reference {value!r}: a reference is the whole value, like ${{step.output}} or ${{image-3}}")
            return None
        if isinstance(ref, ArtifactRef):
            if not session.exists(ref.id):
                problems.add(step_id, f"unknown artifact {ref} (session has: {', '.join(a.id for a in session.artifacts()) or 'none'})")
                return None
            kind = session.get(ref.id).kind
        elif isinstance(ref, StepRef):
            if ref.step == step_id:
                problems.add(step_id, f"{ref} refers to the step itself")
                return None
            if ref.step not in seen:
                problems.add(step_id, f"unknown reference {ref}: no step '{ref.step}'")
                return None
            if ref.step not in tools:
                return None
            name, kind, error = output_kind(tools[ref.step], ref)
            if error:
                problems.add(step_id, error)
                return None
            ref = StepRef(ref.step, name)
        if want is not None and kind != want:
            problems.add(step_id, f"{value} is {_a(kind)}, but {_a(want)} is needed")
            return None
        return ref

    bound: dict[str, BoundStep] = {}
    for step in plan.steps:
        tool = tools.get(step.id)
        if tool is None:
            continue
        inputs: dict[str, Ref] = {}
        params: dict[str, Any] = {}
        text_params: dict[str, Ref] = {}
        for name, value in step.args.items():
            if name in tool.inputs:
                if value is None:
                    continue
                kind = tool.inputs[name].kind
                if not looks_like_ref(value):
                    problems.add(step.id, f"argument '{name}' needs a reference to {_a(kind)} (like ${{step.output}} or ${{{kind}-1}}), got {value!r}")
                elif (ref := resolve(step.id, value, kind)) is not None:
                    inputs[name] = ref
            elif looks_like_ref(value):
                ref = resolve(step.id, value, Kind.TEXT)
                if ref is not None:
                    text_params[name] = ref
            else:
                params[name] = value
        for name, spec in tool.inputs.items():
            if not spec.optional and name not in step.args:
                problems.add(step.id, f"missing input '{name}' ({spec.kind}) for {tool.name}")
        placeholder = {name: "text" for name in text_params}
        try:
            tool.Params.model_validate({**params, **placeholder})
        except ValidationError as exc:
            problems.add(step.id, format_validation_error(exc))
        deps = {r.step for r in [*inputs.values(), *text_params.values()] if isinstance(r, StepRef)}
        for other in step.after:
            if other not in seen:
                problems.add(step.id, f"'after' names unknown step '{other}'")
            deps.add(other)
        bound[step.id] = BoundStep(step.id, tool, inputs, params, text_params, deps)

    outputs: dict[str, Ref] = {}
    for name, value in plan.outputs.items():
        if not looks_like_ref(value):
            problems.add(None, f"output '{name}' must be a reference like ${{step.output}}, got {value!r}")
        elif (ref := resolve(None, value, None)) is not None:
            outputs[name] = ref
    problems.raise_if_any()

    graph = nx.DiGraph()
    graph.add_nodes_from(s.id for s in plan.steps)
    graph.add_edges_from((dep, s.id) for s in bound.values() for dep in s.deps)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle:
        path = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
        raise PlanError(f"dependency cycle: {path}", step=cycle[0][0])
    order = list(nx.lexicographical_topological_sort(graph, key=[s.id for s in plan.steps].index))
    result = BoundPlan(bound, order, outputs)
    check_budget(result, session)
    return result


def predicted_sizes(plan: BoundPlan, session: Session) -> dict[tuple[str, str], Size | None]:
    """(step, output) -> the (width, height) its tool predicts, following sizes through the plan
    from the session's artifacts; None where a tool cannot say."""
    sizes: dict[tuple[str, str], Size | None] = {}

    def size_of(ref: Ref) -> Size | None:
        if isinstance(ref, StepRef):
            return sizes.get((ref.step, ref.output or ""))
        meta = session.get(ref.id).meta
        width, height = meta.get("width"), meta.get("height")
        return (width, height) if isinstance(width, int) and isinstance(height, int) else None

    for step_id in plan.order:
        step = plan.steps[step_id]
        tool = step.tool
        try:
            params = tool.Params.model_validate({**step.params, **{name: "text" for name in step.text_params}})
            predicted = tool.output_sizes(params, {name: size_of(ref) for name, ref in step.inputs.items()})
        except Exception as exc:  # noqa: BLE001 - a plugin's estimate must not break planning; the store checks anyway
            log.warning("tool %s could not predict its output sizes: %s", tool.name, exc)
            predicted = {}
        for name in tool.outputs:
            size = predicted.get(name)
            valid = isinstance(size, tuple) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)
            sizes[(step_id, name)] = size if valid else None
    return sizes


def check_budget(plan: BoundPlan, session: Session) -> None:
    """Refuse, before anything runs, a plan whose step would write an image, mask or video frame
    over the session's pixel budget (``Limits.max_pixels``); the message names the step."""
    sizes = predicted_sizes(plan, session)
    for step_id in plan.order:
        tool = plan.steps[step_id].tool
        for name, kind in tool.outputs.items():
            size = sizes[(step_id, name)]
            if size is None or kind not in (Kind.IMAGE, Kind.MASK, Kind.VIDEO):
                continue
            try:
                session.limits.check_pixels(*size, f"its {name} output ({kind.value})")
            except LimitError as exc:
                raise PlanError(f"{exc} (LLMGA_MAX_PIXELS); make it smaller, or crop before enlarging", step=step_id) from None
