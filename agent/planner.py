"""The planner: conversation + artifact catalogue + tool catalogue -> a validated plan.

The model answers under the plan JSON schema (constrained decoding where the backend can), the
answer is parsed into pydantic models and bound against the registry and the session (tool
names, argument names and types, artifact kinds, references, cycles). Whatever fails goes back
to the model as a message with the errors, a bounded number of times. Nothing is repaired
silently: a plan either validates as written or is rejected with a reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.catalogue import MAX_STEPS, artifact_catalogue, examples, plan_schema, tool_catalogue
from graphs.plan import ArtifactRef, BoundPlan, Plan, Step, StepRef, bind, check_shape, parse_ref
from graphs.tool_graph import build_tool_graph, search
from prompts import render
from tools.artifacts import Artifact, Kind, Session
from tools.errors import LlmgaError, PlanError, format_validation_error
from tools.llm.protocol import Generation, LLMBackend
from tools.llm.structured import RoleError, Trace, ask
from tools.llm.tags import extract_gen_image_prompts, strip_gen_image
from tools.registry import Registry


class PlanReply(BaseModel):
    """What the model writes: a reply to the user and the steps."""

    model_config = ConfigDict(extra="forbid")
    reply: str = ""
    steps: list[Step] = Field(default_factory=list, max_length=MAX_STEPS)


@dataclass
class PlanOutcome:
    """A plan that validated (or none), and how it went: the figures benchmarks report."""

    reply: str
    plan: Plan | None = None
    bound: BoundPlan | None = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    generations: list[Generation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.bound is not None


def leaf_outputs(plan: Plan, bound: BoundPlan) -> dict[str, str]:
    """The results the user sees: every output of a step no other step consumes."""
    used = {s for s in bound.steps.values() for s in s.deps}
    outputs = {}
    for step in plan.steps:
        if step.id in used:
            continue
        for name in bound.steps[step.id].tool.outputs:
            outputs[f"{step.id}.{name}"] = f"${{{step.id}.{name}}}"
    return outputs


def parse_plan(text: str) -> PlanReply:
    """Model text -> PlanReply; any problem becomes a PlanError worded for the model.

    LLMGA writes its detailed generation prompts between ``<gen_image>`` tags. Inside a JSON plan
    the tagged text becomes the prompt argument; an answer that is not JSON but carries tags is
    LLMGA's native answer, "generate this", and becomes one ``text_to_image`` step per tag.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        prompts = extract_gen_image_prompts(text)
        if not prompts:
            raise PlanError(f"the answer is not valid JSON ({exc.msg} at character {exc.pos})") from None
        steps = [{"id": f"gen_{n}", "tool": "text_to_image", "args": {"prompt": p}} for n, p in enumerate(prompts, 1)]
        data = {"reply": strip_gen_image(text).strip(), "steps": steps}
    except (RecursionError, ValueError) as exc:  # nesting past the decoder's stack, a 5,000-digit number
        raise PlanError(f"the answer is JSON this program will not read ({type(exc).__name__}): keep it flat and small") from None
    # Shape first, then walk: nothing below may meet a non-list "steps" or a 100,000-deep value.
    if not isinstance(data, dict):
        raise PlanError("the answer must be a JSON object with 'reply' and 'steps'")
    check_shape(data, "the answer")
    if not isinstance(data.get("steps", []), list):
        raise PlanError(f"'steps' must be a list of steps, got {type(data['steps']).__name__}")
    for step in data.get("steps") or []:
        args = step.get("args") if isinstance(step, dict) else None
        if isinstance(args, dict) and isinstance(args.get("prompt"), str) and (tagged := extract_gen_image_prompts(args["prompt"])):
            args["prompt"] = " ".join(tagged)
    try:
        return PlanReply.model_validate(data)
    except ValidationError as exc:
        raise PlanError(format_validation_error(exc)) from None


def _provided_kind(value: object, made: dict[str, dict[str, Kind]], session: Session) -> Kind | None:
    """The kind a reference stands for (None for a literal or a reference to nothing)."""
    try:
        ref = parse_ref(value)
    except ValueError:
        return None
    if isinstance(ref, ArtifactRef):
        return session.get(ref.id).kind if session.exists(ref.id) else None
    if isinstance(ref, StepRef) and ref.step in made:
        outputs = made[ref.step]
        if ref.output is None:
            return next(iter(outputs.values())) if len(outputs) == 1 else None
        return outputs.get(ref.output)
    return None


def type_hints(steps: Sequence[Step], registry: Registry, session: Session, graph: object | None = None) -> list[str]:
    """For every artifact input that is missing or gets the wrong kind: what could fill it.

    Candidates are earlier steps' outputs and session artifacts of the needed kind; when there is
    none, the tool graph's shortest chains that make that kind from what exists. These go back to
    the model with the errors; nothing is changed in the plan here.
    """
    graph = graph if graph is not None else build_tool_graph(registry)
    available = {a.kind for a in session.artifacts()} | {Kind.TEXT}
    made: dict[str, dict[str, Kind]] = {}
    hints: list[str] = []
    for step in steps:
        if step.tool not in registry:
            continue
        tool = registry.get(step.tool)
        for name, spec in tool.inputs.items():
            value = step.args.get(name)
            if value is None and spec.optional:
                continue
            if value is not None and _provided_kind(value, made, session) == spec.kind:
                continue
            candidates = [f"${{{sid}.{out}}}" for sid, outs in made.items() for out, kind in outs.items() if kind == spec.kind]
            candidates += [f"${{{a.id}}}" for a in session.artifacts() if a.kind == spec.kind]
            if candidates:
                hints.append(f"step '{step.id}' input '{name}' needs {spec.kind.value}: use {' or '.join(candidates[-3:])}")
            else:
                chains = search(graph, available, spec.kind, max_steps=2, limit=3)  # type: ignore[arg-type]
                ways = "; ".join(" -> ".join(c.tools) for c in chains)
                hints.append(
                    f"step '{step.id}' input '{name}' needs {spec.kind.value}, and none exists yet"
                    + (f": add an earlier step that makes one ({ways})" if ways else "")
                )
        made[step.id] = dict(tool.outputs)
    return hints


class Planner:
    def __init__(
        self,
        backend: LLMBackend,
        registry: Registry,
        *,
        max_attempts: int = 3,
        max_tokens: int = 1024,
        examples_text: str | None = None,
    ):
        """``examples_text`` replaces the packaged in-context examples (see ``render_examples``)."""
        self.backend = backend
        self.registry = registry
        self.max_attempts = max_attempts
        self.max_tokens = max_tokens
        self.schema = plan_schema(registry)
        self.graph = build_tool_graph(registry)
        shown = examples(registry) if examples_text is None else examples_text
        self.system = render("planner_system", tools=tool_catalogue(registry), examples=shown)

    def messages(self, history: Sequence[BaseMessage], request: str, artifacts: list[Artifact], notes: Sequence[str] = ()) -> list[BaseMessage]:
        """System prompt, the earlier turns as plain text, then this request with the catalogue."""
        context = render("planner_context", artifacts=artifact_catalogue(artifacts), request="\n".join([request, *notes]))
        return [SystemMessage(self.system), *history, HumanMessage(context)]

    def plan(
        self,
        session: Session,
        request: str,
        *,
        history: Sequence[BaseMessage] = (),
        artifacts: list[Artifact] | None = None,
        notes: Sequence[str] = (),
        seed: int | None = None,
    ) -> PlanOutcome:
        visible = artifacts if artifacts is not None else session.artifacts()
        outcome = PlanOutcome(reply="")

        def read(text: str) -> tuple[PlanReply, Plan, BoundPlan | None]:
            reply: PlanReply | None = None
            try:
                reply = parse_plan(text)
                plan = Plan(steps=reply.steps)
                if not reply.steps:
                    return reply, plan, None
                bound = bind(plan, self.registry, session)
                plan = Plan(steps=reply.steps, outputs=leaf_outputs(plan, bound))
                return reply, plan, bind(plan, self.registry, session)
            except PlanError as exc:
                hints = type_hints(reply.steps, self.registry, session, self.graph) if reply is not None else []
                raise ValueError(str(exc) + "".join(f"\nHint: {h}" for h in hints)) from None

        try:
            answer = ask(self.backend, self.messages(history, request, visible, notes), PlanReply, role="planner", parse=read,
                         schema=self.schema, retry_prompt="planner_retry", attempts=self.max_attempts, max_tokens=self.max_tokens,
                         seed=seed or 0)
        except RoleError as exc:
            trace = exc.trace or Trace()
            outcome.attempts, outcome.generations = trace.attempts, trace.generations
            outcome.errors = [p.split("\nHint: ")[0] for p in exc.problems]
            outcome.reply = f"I could not make a valid plan in {self.max_attempts} attempts. Last problem: {outcome.errors[-1]}"
            return outcome
        except LlmgaError as exc:  # the model is unreachable or broken: retrying the same call will not help
            outcome.errors.append(str(exc))
            outcome.reply = f"The planner model failed: {exc}"
            return outcome
        reply, plan, bound = answer.value
        outcome.attempts, outcome.generations = answer.trace.attempts, answer.trace.generations
        outcome.errors = [p.split("\nHint: ")[0] for p in answer.trace.problems]
        outcome.reply = reply.reply.strip()
        if bound is None:
            outcome.reply = outcome.reply or "I cannot do that with the tools I have."
            return outcome
        outcome.plan, outcome.bound = plan, bound
        return outcome
