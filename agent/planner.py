"""The planner: conversation + artifact catalogue + tool catalogue -> a validated plan.

The model decomposes, the tool graph connects. The model's first answer, under a grammar built
for this request, is the request's subtasks in words and a step per subtask (its tool, and which
earlier step or artifact feeds it); the tool graph then wires every source to an input of its
kind, joins a source of the wrong kind through one converter tool, and leaves out a source the
step cannot use. A step whose tool is off its own subtask (one tool again and again under
subtasks that name other things; ``image_to_video`` under "image downloader") is replaced by the
tool the subtask names, or the steps are asked for again from each subtask's shortlist. A second
answer fills only the parameters still open. Whatever cannot be wired
goes back to the model with typed hints, a bounded number of times; what the graph added or
left out is written in the plan (``PlanOutcome.by_type``), never done silently.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.capabilities import outside_verbs, part_left_out, refusal, tool_words
from agent.catalogue import (
    MAX_STEPS,
    accepted_artifacts,
    arguments_schema,
    artifact_catalogue,
    described_examples,
    fillable_params,
    input_arity,
    needing_input,
    offered,
    packaged_examples,
    param_signature,
    plan_schema,
    reachable,
    render_examples,
    render_two_part_examples,
    shipped,
    step_choices,
    step_form,
    step_label,
    steps_schema,
    structure_schema,
    tool_catalogue,
)
from agent.quotes import MEDIA_URL, URL_PARAM, quote_artifacts, quoted_text, stated_urls
from agent.quotes import TOOL as QUOTE
from agent.references import makes_from_nothing, meant_instead, newest_first, with_own_picture
from agent.retrieval import ExampleIndex, ToolRanker
from graphs.plan import ArtifactRef, BoundPlan, Plan, Step, StepRef, bind, check_shape, parse_ref
from graphs.tool_graph import Source, Wiring, build_tool_graph, kind_node, required_kinds, search, text_slots, tool_node, wire
from prompts import render
from tools.artifacts import Artifact, Kind, Session
from tools.base import Tool
from tools.errors import LlmgaError, PlanError, format_validation_error
from tools.llm.protocol import Generation, LLMBackend
from tools.llm.structured import Ending, RoleError, Trace, ask
from tools.llm.tags import extract_gen_image_prompts, strip_gen_image
from tools.registry import Registry


class PlanReply(BaseModel):
    """What the model writes: a reply to the user and the steps."""

    model_config = ConfigDict(extra="forbid")
    reply: str = ""
    tasks: list[str] = Field(default_factory=list, max_length=MAX_STEPS)
    """The subtasks in words, as the structure answer opens (read, not required)."""
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
    structure_seconds: float | None = None
    """Seconds until the plan's structure (tools and wiring) was known, before its arguments."""
    by_type: list[str] = field(default_factory=list)
    """Inputs the tool graph wired by type (``s2.image <- s1``), not named by the model."""

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


ADDRESS_SLOTS = frozenset({"url", "link", "address"})
"""Text parameters that name where something is, not what it says."""


@dataclass(frozen=True)
class Refusal:
    """The model's one-sentence answer to a request no tool can do."""

    reason: str


@dataclass
class WiredStep:
    label: str
    tool: type[Tool]
    refs: dict[str, str]
    params: dict[str, Any]
    """values the planner sets itself, not the arguments answer: the passage a step names as its
    source, the web address the request states for a ``url`` parameter"""


@dataclass
class Structure:
    """The structure answer, wired: each step's tool and its inputs as references."""

    steps: list[WiredStep]
    by_type: list[str]
    text: str
    tasks: list[str] = field(default_factory=list)
    """The subtasks in the model's words, one per step (empty when it was not asked for them)."""

    def fillable(self, request: str | None = None) -> dict[str, dict[str, Any]]:
        """Per step, the parameters its arguments answer may hold (``request``: knobs only where it names them)."""
        out = {}
        for step in self.steps:
            schema = fillable_params(step.tool, set(step.refs) | set(step.params), request)
            if schema:
                out[step.label] = schema
        return out


@dataclass
class PlannerOptions:
    """What the planner does beyond asking the model (each switch is one ablation row)."""

    two_part: bool = True
    """structure first (tools + sources), arguments after; off: one full-plan answer."""
    positional: bool = True
    """the structure grammar lets step k name only s1..s(k-1) and existing artifacts."""
    wire_by_type: bool = True
    """a required artifact input left unnamed is wired by type from the tool graph."""
    typed_sources: bool = True
    """sources are written before the tool, and the grammar then offers only tools that take
    the kinds of the artifacts named (the tool graph shortlists, the model picks)."""
    tool_first: bool = False
    """with ``typed_sources``: each step names its tool first and the grammar then offers only
    sources that tool takes (off: sources first, and they narrow the tools)."""
    refusal: bool = True
    """the grammar offers ``{"cannot": ...}``: an impossible request gets one sentence, no steps."""
    outside: bool = True
    """a request that only orders effects outside the session (post, print, e-mail, book) is
    refused in one sentence before the model is asked (``agent.capabilities``); off: the model decides."""
    candidates: int = 0
    """name the ``candidates`` tools whose descriptions are closest to the request (MiniLM) in
    the request message (0: none)."""
    restrict: int = 0
    """the structure grammar allows only the ``restrict`` closest tools (0: all)."""
    tasks: bool = True
    """the structure answer opens with the request's subtasks in words (n subtasks, n or n + 1 steps)."""
    bridge: bool = True
    """the tool graph mends what the model wired wrong by type: a source of the wrong kind is joined
    through one converter tool (video_to_audio), a source the step cannot use and does not need is
    left out, and the same tool again on its own output is left out; each is noted in the plan."""
    shortlist: int = 6
    """with ``tasks``: a step whose tool is not among the ``shortlist`` tools closest to its
    subtask (MiniLM over descriptions and the examples' subtasks) and repeats an earlier step's
    tool (any such step, see ``off_task``) is off its task: the subtasks' own tools replace the
    steps when each names one, else the steps are asked for once more, each from its subtask's
    shortlist (0: taken as written)."""
    off_task: bool = True
    """with ``shortlist``, where the examples' subtasks are their tools' names (examples without
    written subtasks, TaskBench's): a subtask is then the model's choice of tool, so every step
    off its subtask's shortlist is mended that way, not only one that repeats an earlier tool,
    and so is a step under a subtask naming another tool. With subtasks in words (the packaged
    examples) the step is the choice and only repeats are mended (measured: 4 right turns of our
    own went wrong when re-asked). Off: repeats only, always."""
    graph_steps: bool = True
    """with ``off_task`` (examples whose subtasks are their tools' names, TaskBench's): the
    structure answer ends after the subtasks (the grammar binds ``"steps"`` to ``[]``) and the
    tool graph makes the steps: each subtask's tool in order, each taking the step before it
    where it takes what that step makes, artifacts wired by type; a subtask naming no tool gets
    its step asked for from its shortlist. The steps were two thirds of that answer's tokens,
    and the graph wires better than the model: replaying v14's answers, today's code scores
    77.7 / 45.1 node / edge F1 with the model's steps and 78.3 / 47.3 with the graph's (TaskBench
    dev, 329); live, 78.3 / 47.3 with the median request at 4.95 s, was 8.60 s (``bench/results/v15``).
    Off: the model writes the steps."""
    shown_steps: bool = False
    """with ``graph_steps``: the examples show their steps. Off, they show ``"steps":[]`` as the
    answer has it: a shorter system prompt, and an answer that reads like the examples (TaskBench
    dev, 329: node / edge F1 78.3 / 47.3 shown -> 79.0 / 48.1 not, 297 with the same tools;
    median 4.95 -> 4.70 s, ``bench/results/v15``)."""
    provenance: bool = True
    """what the session knows settles which stored artifact is meant: of more artifacts of a kind
    than a tool takes, the newest are kept; a stored mask gets the picture it was made with; a
    step making from nothing what the request points at ("this music") gives way to the stored one."""
    make_missing: bool = True
    """a required input that nothing before its step makes, and one generator from the tool
    graph makes from nothing (a video for ``add_audio_to_video``), gets that generator as a step
    of its own (the one closest to the request); off: the problem goes back to the model."""
    knobs_named: bool = True
    """the arguments answer may set a sampler or expert setting (``KNOBS``: steps, guidance,
    negative_prompt...) only where the request names it; off: every parameter, every time."""
    offered: bool = True
    """a tool with ``offered_for`` (the layout tools) is in the grammar only when the request has
    what it is for (a placement word) or the conversation an artifact it takes; off: every tool.
    Either way a tool whose required input nothing offered makes (draw_layout without a layout
    tool) is left out (``agent.catalogue.reachable``)."""
    fold_restyle: bool = True
    """a step that ``restyles`` a picture the step before it drew from text in this plan (edit
    after text_to_image for "..., oil painting style") is folded into that step, unless the request
    asks for versions in turn ("then", "version", "both"); off: kept."""
    describe_unshown: bool = False
    """each tool that no example uses gets a one-step example written from its description
    (``agent.catalogue.described_example``): for a pool that leaves tools out, a benchmark's. Off,
    the packaged examples show every tool family of ours the way it should be reached (helpers
    such as pad_canvas come in through the tools they serve)."""
    describe_plugins: bool = False
    """a plugin's tools get a one-step example written from their descriptions beside the packaged
    examples, which cannot know them. Off by default: run live on our own turns with the example
    plugin installed (``setup.sh --dev``), its ``posterize`` example turned 3 of 34 right turns
    wrong (car_video#2, describe#2, animate#2, each right with it off) and put posterize into 2 of
    the 11 rule turns that never asked for it (``bench/results/v14``)."""
    quotes: bool = True
    """each passage of six words or more the request quotes is offered as a text artifact
    (``agent.quotes``): a step names it as a source and gets the passage itself; off: the
    arguments answer copies it out."""
    urls: bool = True
    """an open ``url`` parameter takes the web address the request states (``agent.quotes.stated_urls``),
    when it states one per such parameter, in step order; off: the arguments answer copies it out."""
    parts: bool = False
    """the request message names the tools its parts read closest to (``ToolRanker.read_in_parts``:
    per clause, the closest tool by MiniLM when it reads close enough): the tool graph's share of
    the decomposition, offered to the model, which still decides. On for ``llmga bench taskbench``
    (TaskBench dev, 329: node / edge F1 73.6 / 37.0 -> 77.8 / 45.0)."""
    join_ends: bool = True
    """with ``graph_steps``: a subtask's tool named the wrong way round (text_to_audio for
    "transcribe example.wav") is turned round, or a generator of what the request gives is left
    out, where that leaves fewer files and outputs untaken (``Planner._joined``); off: as named."""
    stop_early: bool = True
    """with ``graph_steps``: decoding stops where the subtasks' list closes, and the forced rest
    (``"],"steps":[]}``) is put back without being decoded (``tools.llm.structured.Ending``)."""
    cues: bool = False
    """with ``parts``: the tools named also include those a word of the request belongs to, a
    word of one tool's description and no other's (``ToolRanker.cued``): a job said in passing
    ("a unique version" for article_spinner) reads like no tool as a whole part. Off: on the
    first 162 TaskBench dev requests live it scored 81.8 / 51.8 node / edge F1 against 81.8 / 52.0
    without, for ~10 more prompt tokens (median 4.68 -> 5.37 s; ``bench/results/v16``), and our
    own descriptions are paragraphs whose own words are noise ("paint" is hires_refine's)."""
    called: bool = True
    """with ``graph_steps``: a tool the request calls by a word of its name that no other tool
    uses ("check the grammar", "the sentiment of", "the style of example.jpg") and no subtask
    lists is added where it joins the chain (``Planner._called_in``); off: as listed. Replaying
    v16's answers on TaskBench dev (329): node / edge F1 80.2 / 50.5 -> 81.5 / 52.1, on each
    seeded half of the split 79.5 / 49.4 -> 80.5 / 51.9 and 81.0 / 51.6 -> 82.5 / 52.4 (one-step
    plans left as named); with one-step plans too, and the rules after it, 82.7 / 53.7."""
    pages: bool = True
    """with ``graph_steps``: the address of a page the request states, that no step takes, is
    read by the page downloader before a first step that takes words (``Planner._page_fetched``),
    and a downloader whose address would come from prose gets the address extractor before it
    (``Planner._address_found``); off: as listed. Replaying v16's answers after ``called`` and the
    downloader for a missing input: 81.8 / 52.8 -> 82.2 / 53.2 node / edge F1 with the page read
    (TaskBench dev, 329); v17's answers: 82.7 / 53.7 -> 82.9 / 54.4 with the address found."""
    said_order: bool = True
    """with ``graph_steps``: two steps next to each other that the request says the other way
    round ("expand this text, summarize it, translate it", listed expander, translator,
    summarizer) change places, where both still have their inputs and no more ends are left
    loose (``Planner._in_said_order``); off: as listed."""
    similar: int = 0
    """show the ``similar`` examples of the pool whose requests are closest to this one (MiniLM)
    with the request, instead of a fixed set in the system prompt (0: the fixed set)."""


SAME_JOB = 0.8
"""How alike two tools' descriptions read (difflib's ratio) for one to do the other's job on
another kind: TaskBench's audio_to_text and video_to_text read 0.93; no other pair of its 40
tools that make the same kind from different ones is above 0.64."""


IN_TURN = re.compile(r"\b(?:then|versions?|variants?|both|afterwards|after that|copy|copies|compare)\b", re.IGNORECASE)
"""Words that ask for one result and then another made from it: a restyle after them is kept."""


class Planner:
    def __init__(
        self,
        backend: LLMBackend,
        registry: Registry,
        *,
        max_attempts: int = 3,
        max_tokens: int = 1024,
        examples_text: str | None = None,
        examples_data: list[dict[str, Any]] | None = None,
        options: PlannerOptions | None = None,
        ranker: ToolRanker | None = None,
    ):
        """``examples_data`` (``{artifacts, request, plan}`` dicts) or ``examples_text`` (already
        rendered) replaces the packaged in-context examples."""
        self.backend = backend
        self.registry = registry
        self.max_attempts = max_attempts
        self.max_tokens = max_tokens
        self.options = options or PlannerOptions()
        self.schema = plan_schema(registry)
        self.graph = build_tool_graph(registry)
        self.ranker = ranker
        self._needs, self._arity = needing_input(registry), input_arity(registry)  # the registry's, not the request's
        self._tool_words = tool_words(registry)
        self._ranking: tuple[str, list[str]] | None = None
        pool = examples_data if examples_data is not None else packaged_examples()
        if self.options.describe_unshown:
            pool = described_examples(pool, registry)
        elif examples_data is None and self.options.describe_plugins:  # the packaged examples cannot know a plugin's tools
            pool = described_examples(pool, registry, [t for t in registry if not shipped(t)])
        self._examples = pool
        # examples without written subtasks show each tool's name as its subtask: the model then
        # writes its choice of tool there, and the steps are held to it (``off_task``)
        self._subtasks_name_tools = self.options.off_task and bool(pool) and not any((e.get("plan") or {}).get("tasks") for e in pool)
        self._graph_steps = self._subtasks_name_tools and self.options.graph_steps and self.options.tasks and bool(self.options.shortlist)
        self._render = (functools.partial(render_two_part_examples, tool_first=self.options.tool_first, quotes=self.options.quotes,
                                          steps=self.options.shown_steps or not self._graph_steps) if self.options.two_part
                        else render_examples)
        # With ``similar`` the examples travel with each request, and the system prompt (the part
        # the prompt cache keeps) holds only the instructions and the tools.
        self.pool = ExampleIndex([e for e in pool if self._render([e], registry)]) if self.options.similar else None
        shown = "" if self.pool is not None else examples_text if examples_text is not None else self._render(pool, registry)
        template = "planner_system" if self.options.two_part else "planner_single"
        words = {"step": step_form(self.options.tool_first), "where": "after" if self.options.tool_first else "before"}
        self.system = render(template, tools=tool_catalogue(registry), examples=shown, **(words if self.options.two_part else {}))

    def shown_examples(self, request: str) -> str:
        """The examples shown with ``request`` ("" when they are in the system prompt)."""
        if self.pool is None:
            return ""
        return self._render(self.pool.nearest(request, self.options.similar), self.registry) + "\n\n"

    def messages(self, history: Sequence[BaseMessage], request: str, artifacts: list[Artifact], notes: Sequence[str] = ()) -> list[BaseMessage]:
        """System prompt, the earlier turns as plain text, then this request with the catalogue."""
        context = render("planner_context", examples=self.shown_examples(request), artifacts=artifact_catalogue(artifacts),
                         request="\n".join([request, *notes]))
        return [SystemMessage(self.system), *history, HumanMessage(context)]

    def _tool_ranker(self) -> ToolRanker:
        """Made on first use: a planner that never ranks never loads the embedder."""
        if self.ranker is None:
            self.ranker = ToolRanker(self.registry, self._examples)
        return self.ranker

    def _ranked(self, request: str) -> list[str]:
        """Tools by closeness to ``request``; one embedding per request, however many steps ask."""
        if self._ranking is None or self._ranking[0] != request:
            self._ranking = (request, self._tool_ranker().rank(request))
        return self._ranking[1]

    def plan(
        self,
        session: Session,
        request: str,
        *,
        history: Sequence[BaseMessage] = (),
        artifacts: list[Artifact] | None = None,
        notes: Sequence[str] = (),
        seed: int | None = None,
        on_structure: Callable[[list[tuple[str, str, list[str]]]], None] | None = None,
    ) -> PlanOutcome:
        """A validated plan (or a refusal, or the reason there is none). ``on_structure`` gets
        ``(label, tool, sources)`` per step as soon as the structure is wired, before arguments."""
        visible = artifacts if artifacts is not None else session.artifacts()
        notes = list(notes)
        opts = self.options
        verbs: list[str] = []
        if opts.outside:
            verbs, every, request = outside_verbs(request, self._tool_words)
            if every:
                return PlanOutcome(reply=refusal(verbs))
        part = part_left_out(verbs) if verbs else None
        if part is not None:
            notes.append(part[0])
        quotes = quote_artifacts(request, [a.id for a in visible]) if opts.quotes else []
        visible = [*visible, *quotes]
        names = [t.name for t in reachable([t for t in self.registry if not opts.offered or offered(t, request, visible)], visible)]
        if opts.candidates or opts.restrict:
            ranked = self._ranked(request)
            if opts.candidates:
                notes.append("Tools that may fit: " + ", ".join(ranked[: opts.candidates]) + ".")
            if opts.restrict:
                names = [n for n in ranked[: opts.restrict]]
        if opts.parts and (closest := self._tool_ranker().read_in_parts(request, set(names))
                           + (self._tool_ranker().cued(request, set(names)) if opts.cues else [])):
            closest = list(dict.fromkeys(closest))
            notes.append("Tools its parts read closest to: " + ", ".join(closest) + ".")
        messages = self.messages(history, request, visible, notes)
        if not opts.two_part:
            return self._single(session, messages, seed)
        outcome = PlanOutcome(reply="")
        started = time.perf_counter()
        accepts = accepted_artifacts(self.registry, visible) if opts.typed_sources else None
        schema = structure_schema(names, [a.id for a in visible], positional=opts.positional, refusal=opts.refusal,
                                  accepts=accepts, needs_input=self._needs if opts.typed_sources else None,
                                  arity=self._arity if opts.typed_sources else None, tasks=opts.tasks, tool_first=opts.tool_first,
                                  steps=not self._graph_steps)
        allowed = set(names)

        def read(text: str) -> Structure | Refusal | tuple[PlanReply, Plan, BoundPlan | None]:
            return self._read_structure(text, session, visible, allowed, request)

        try:
            if opts.tasks and opts.shortlist:
                answer = self._checked_against_tasks(messages, schema, read, visible, allowed, request, seed)
            else:
                one = ask(self.backend, messages, PlanReply, role="planner", parse=read, schema=schema,
                          retry_prompt="planner_retry", attempts=self.max_attempts, max_tokens=STRUCTURE_TOKENS, seed=seed or 0)
                answer = Answered(one.value, [one.trace])
        except RoleError as exc:
            return self._failed(outcome, exc)
        except LlmgaError as exc:  # the model is unreachable or broken: retrying the same call will not help
            outcome.errors.append(str(exc))
            outcome.reply = f"The planner model failed: {exc}"
            return outcome
        for trace in answer.traces:
            self._record(outcome, trace)
        outcome.structure_seconds = time.perf_counter() - started
        value = answer.value
        if isinstance(value, Refusal):
            outcome.reply = value.reason.strip() or CANNOT
            return outcome
        if isinstance(value, tuple):  # a full plan in one answer (a backend without the grammar)
            return self._full_plan(outcome, *value)
        structure = value
        texts = quoted_text(quotes)
        for step in structure.steps:  # a quoted passage is no artifact of the session: the step gets the words
            step.params.update({name: texts[ref] for name, ref in step.refs.items() if ref in texts})
            step.refs = {name: ref for name, ref in step.refs.items() if ref not in texts}
        if opts.urls:
            fill_stated_urls(structure.steps, request)
        outcome.by_type = structure.by_type
        if on_structure is not None:
            on_structure([(s.label, s.tool.name, sorted(set(s.refs.values()))) for s in structure.steps])
        fillable = structure.fillable("\n".join([request, *notes]) if opts.knobs_named else None)
        if fillable:
            lines = "\n".join(f"{s.label} {s.tool.name}: {param_signature(s.tool, set(s.refs), set(fillable[s.label]['properties']))}"
                              for s in structure.steps if s.label in fillable)
            follow = [*messages, AIMessage(structure.text), HumanMessage(render("planner_arguments", steps=lines))]
            try:
                args = ask(self.backend, follow, PlanReply, role="planner", parse=lambda t: self._read_arguments(t, structure, fillable, session),
                           schema=arguments_schema(fillable), retry_prompt="planner_retry", attempts=self.max_attempts,
                           max_tokens=self.max_tokens, seed=seed or 0)
            except RoleError as exc:
                return self._failed(outcome, exc)
            except LlmgaError as exc:
                outcome.errors.append(str(exc))
                outcome.reply = f"The planner model failed: {exc}"
                return outcome
            self._record(outcome, args.trace)
            given = args.value
        else:
            given = {}
        try:
            plan, bound = self._bind(structure, given, session)
        except PlanError as exc:  # the parts bound when read; this cannot fail, but never hide it
            outcome.errors.append(str(exc))
            outcome.reply = f"I could not make a valid plan: {exc}"
            return outcome
        outcome.plan, outcome.bound = plan, bound
        outcome.reply = describe(structure) + (f" {part[1]}" if part is not None else "")
        return outcome

    def _checked_against_tasks(self, messages: list[BaseMessage], schema: dict[str, Any], read: Callable[[str], Any],
                               visible: list[Artifact], allowed: set[str], request: str, seed: int | None) -> Answered:
        """The structure answer, its steps checked against its own subtasks.

        A small model writes the subtasks well and then, listing tools, can repeat one tool to the
        step limit (``video_speed_changer`` four times under subtasks naming four different tools).
        Or, its sources written first, it names the one tool left that takes them, far from what
        its subtask said (``{"in":["image-1"],"tool":"image_to_video"}`` under "image downloader":
        52 such steps in TaskBench's 329 dev requests). When a step's tool is not among the
        ``shortlist`` tools closest to its subtask (where the subtasks are words, not tool names,
        see ``off_task``: only when it also repeats an earlier step's tool), the subtasks decide: if each names a tool ("audio splicer"),
        those tools are the steps and the tool graph wires them; otherwise the steps are asked for
        again, one per subtask, the k-th chosen from the k-th subtask's shortlist. With
        ``graph_steps`` the answer holds the subtasks only and goes the same way. (A grammar that
        ends the answer right after the subtasks bans the token the model closes the list with,
        ``"],``, and it keeps listing subtasks instead: the steps key stays, bound to ``[]``.)
        """
        opts = self.options

        def read_checked(text: str) -> Any:
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                return read(text)
            tasks, steps = (data.get("tasks"), data.get("steps")) if isinstance(data, dict) else (None, None)
            if isinstance(tasks, list) and (copied := self._copied(tasks, allowed)):
                # named: the tools the request's own words call for ("story", "music"), closest first;
                # not any closest tool: named so, posterize became a step for "a poster for a summer sale"
                asked = [n for n in self._ranked(request) if n in allowed and (t := self.registry.get(n)).offered_for
                         and t.offered_for.search(request)][:3]
                raise ValueError(f"the subtasks {tasks} are an example's (for '{copied}'), not this request's: "
                                 "list what this request asks for" + (f" (its words call for {', '.join(asked)})" if asked else ""))
            if self._graph_steps and isinstance(tasks, list) and tasks and steps == []:
                tasks = [str(t) for t in tasks][:MAX_STEPS]
                return OffTask(tasks, self._shortlists(tasks, allowed, visible), [])
            if isinstance(tasks, list) and tasks and isinstance(steps, list) and steps and all(isinstance(x, dict) and "args" not in x for x in steps):
                tasks = [str(t) for t in tasks][:MAX_STEPS]
                shortlists = self._shortlists(tasks, allowed, visible)
                helpers = self._helpers(shortlists, visible, request, allowed)
                later = self._tool_ranker().shortlist(tasks[0], opts.shortlist, allowed) if len(steps) == len(tasks) + 1 else None
                fits = step_choices(shortlists, helpers, len(steps), later)
                tools = [x.get("tool") for x in steps]
                if fits is None or any(tool not in names and (self._subtasks_name_tools or tool in tools[:k])
                                       for k, (tool, names) in enumerate(zip(tools, fits, strict=True))):
                    return OffTask(tasks, shortlists, steps)
                if self._subtasks_name_tools and len(tasks) == len(tools) and any(
                        (said := self._tool_ranker().named(task)) and tool not in said for task, tool in zip(tasks, tools, strict=True)):
                    return OffTask(tasks, shortlists, steps)  # "text to video" over a step of text_to_image: the subtask's word holds
                if self._subtasks_name_tools and len(tools) == len(tasks) + 1 and all(
                        self._tool_ranker().named(task) for task in tasks) and not any(tools[-1] in self._tool_ranker().named(task) for task in tasks):
                    # the step beyond the subtasks serves none of them: a helper comes before the
                    # step it serves, and this one is last ("image downloader", then image_to_text)
                    value = read(json.dumps({**data, "steps": steps[:-1]}, ensure_ascii=False, separators=(",", ":")))
                    if isinstance(value, Structure):
                        value.by_type.insert(0, f"{step_label(len(tools))} ({tools[-1]}) is no subtask's tool and comes last: left out")
                    return value
            return read(text)

        first = ask(self.backend, messages, PlanReply, role="planner", parse=read_checked, schema=schema, retry_prompt="planner_retry",
                    attempts=self.max_attempts, max_tokens=STRUCTURE_TOKENS, seed=seed or 0,
                    ending=GRAPH_ENDING if self._graph_steps and opts.stop_early else None)
        if not isinstance(first.value, OffTask):
            return Answered(first.value, [first.trace])
        tasks, shortlists, written = first.value.tasks, first.value.shortlists, first.value.steps
        named = [self._tool_ranker().named(task) for task in tasks]
        if all(named):  # every subtask names its tool: those are the steps, and the tool graph wires them
            # with the sources the model wrote at each position when there is one step per subtask
            # (its wiring is often right where its tool stuttered), else by type alone
            listed, tools = tasks, [names[0] for names in named]  # listed: the subtasks as the steps will run them
            joined: list[str] = []
            if not written:  # the graph makes every step: a subtask's tool runs after what makes its inputs
                if opts.called:
                    listed, tools, joined = self._called_in(listed, tools, visible, allowed, request)
                if opts.pages:
                    listed, tools, fetched = self._page_fetched(listed, tools, visible, allowed, request)
                    listed, tools, found = self._address_found(listed, tools, visible, allowed)
                    joined += fetched + found
                if opts.said_order:
                    listed, tools, swapped = self._in_said_order(listed, tools, visible, request)
                    joined += swapped
                listed, tools = self._in_dependency_order(listed, tools, visible)
                if opts.join_ends:
                    listed, tools, turned = self._joined(listed, tools, visible, allowed)
                    joined += turned
            kept = [self._sources_kept(tools, written, visible)] if len(written) == len(named) else []
            for steps_named in [*kept, self._chained(tools, visible), [{"tool": name} for name in tools]]:
                try:
                    value = read(json.dumps({"tasks": listed, "steps": steps_named}, separators=(",", ":")))
                except ValueError:
                    continue
                if isinstance(value, Structure) and written:
                    value.by_type.insert(0, "a step's tool was not what its subtask names: each subtask's own tool was taken")
                if isinstance(value, Structure):
                    value.by_type[:0] = joined
                return Answered(value, [first.trace])
        accepts = accepted_artifacts(self.registry, visible) if opts.typed_sources else None
        steps = steps_schema(shortlists, [a.id for a in visible], accepts=accepts,
                             needs_input=self._needs if opts.typed_sources else None, arity=self._arity if opts.typed_sources else None,
                             refusal=opts.refusal, tool_first=opts.tool_first)
        lines = "\n".join(f"{k}. {task}: {', '.join(names)}" for k, (task, names) in enumerate(zip(tasks, shortlists, strict=True), 1))
        follow = [*messages, AIMessage(json.dumps({"tasks": tasks}, ensure_ascii=False, separators=(",", ":"))),
                  HumanMessage(render("planner_steps", tasks=lines, step=step_form(opts.tool_first)))]

        def read_steps(text: str) -> Any:
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                return read(text)
            return read(json.dumps({"tasks": tasks, **data}, ensure_ascii=False, separators=(",", ":")) if isinstance(data, dict) else text)

        second = ask(self.backend, follow, PlanReply, role="planner", parse=read_steps, schema=steps, retry_prompt="planner_retry",
                     attempts=self.max_attempts, max_tokens=STRUCTURE_TOKENS, seed=seed or 0)
        return Answered(second.value, [first.trace, second.trace])

    def _copied(self, tasks: list[Any], allowed: set[str]) -> str | None:
        """The request of a packaged example whose subtasks (two or more) ``tasks`` repeat word for
        word, when that example's tools are not all offered for this request: its subtasks then
        are not this request's. story#1 ("a three-scene story video about a fox ...") was answered
        with the layout example's "plan the boxes", "draw the scene from them", with no layout tool
        offered; the story example's subtasks copied for it are right. Examples whose subtasks are
        tool names (TaskBench's) are not checked: the same chain of tools serves many requests."""
        if self._subtasks_name_tools:
            return None
        written = [" ".join(str(t).lower().split()) for t in tasks]
        for example in self._examples:
            plan = example.get("plan") or {}
            theirs = [" ".join(str(t).lower().split()) for t in plan.get("tasks") or []]
            # one subtask ("generate the picture") fits many requests
            if len(theirs) > 1 and theirs == written and any(step.get("tool") not in allowed for step in plan.get("steps") or []):
                return str(example.get("request", ""))
        return None

    def _sources_kept(self, tools: list[str], written: list[dict[str, Any]], visible: list[Artifact]) -> list[dict[str, Any]]:
        """``tools`` as steps, each with the sources written at its position that it can take.

        The sources were written for the model's own tool at that position. One the subtask's
        tool cannot take as it is would be bridged into it (``audio-1`` for ``audio_effects``,
        under "article spinner", became audio_to_text before the spinner); it is left out when
        another of ``tools`` takes its kind (that step is wired to it by type), and kept, to be
        bridged, when nothing else would use it (the speech of a video under "text to audio")."""
        made: dict[str, set[Kind]] = {a.id: {a.kind} for a in visible}
        taken = {spec.kind for name in tools for spec in self.registry.get(name).inputs.values()}
        steps = []
        for position, (name, step) in enumerate(zip(tools, written, strict=True), 1):
            tool = self.registry.get(name)
            takes = {spec.kind for spec in tool.inputs.values()} | ({Kind.TEXT} if text_slots(tool) else set())
            sources = [x for x in step.get("in") or [] if isinstance(x, str)
                       and (made.get(x, set()) & takes or not made.get(x, set()) & taken)]
            steps.append({"tool": name, "in": sources})
            made[step_label(position)] = set(tool.outputs.values())
        return steps

    def _in_dependency_order(self, tasks: list[str], tools: list[str], visible: Sequence[Artifact]) -> tuple[list[str], list[str]]:
        """The subtasks and their tools, a tool moved before the first one that needs what it makes
        and has nothing else to take it from ("stitch a still of the video with example.jpg",
        listed as image stitcher, video to image: the stitcher has one picture, the still is the
        other). A moved tool's own inputs must be there already, so nothing moves past its source."""
        pairs = list(zip(tasks, tools, strict=True))
        have = Counter(a.kind for a in visible)
        k = 0
        while k < len(pairs):
            tool = self.registry.get(pairs[k][1])
            short = Counter(spec.kind for spec in tool.inputs.values() if not spec.optional) - have
            maker = next((j for j in range(k + 1, len(pairs)) if short and self._adds(self.registry.get(pairs[j][1]), set(short), have)), None)
            if maker is not None:
                pairs.insert(k, pairs.pop(maker))
                continue
            have.update(tool.outputs.values())
            k += 1
        return [t for t, _ in pairs], [n for _, n in pairs]

    @staticmethod
    def _adds(tool: type[Tool], kinds: set[Kind], have: Counter[Kind]) -> bool:
        """Whether ``tool`` adds one of ``kinds`` from what there is: it makes one, takes none
        (a transform, audio_effects, turns one audio into another and adds none), and has the
        inputs it takes."""
        takes = Counter(spec.kind for spec in tool.inputs.values() if not spec.optional)
        return bool(kinds & set(tool.outputs.values())) and not kinds & set(takes) and not takes - have

    def _chained(self, tools: list[str], visible: Sequence[Artifact]) -> list[dict[str, Any]]:
        """``tools`` as steps in the order the subtasks list them, each taking the step before it
        where it takes what that step makes, and for each input of a kind that step does not feed,
        the first artifact of that kind no earlier step took, in the order they are listed (the
        files as the request names them: "combine example1.wav and example2.wav"). With no source
        of its own a text input is a parameter the arguments answer fills: "extract the keywords,
        translate them, summarize" had each step's text written out as "benefits of exercise",
        and no step took another's."""
        left = list(visible)
        steps: list[dict[str, Any]] = []
        for position, name in enumerate(tools):
            tool = self.registry.get(name)
            needs = [spec.kind for spec in tool.inputs.values()] + [Kind.TEXT] * bool(text_slots(tool))
            before = self.registry.get(tools[position - 1]) if position else None
            sources = []
            if before is not None and (made := set(before.outputs.values()) & set(needs)):
                sources.append(step_label(position))
                needs.remove(next(iter(made)))
            for kind in needs:
                if (artifact := next((a for a in left if a.kind == kind), None)) is not None:
                    sources.append(artifact.id)
                    left.remove(artifact)
            steps.append({"tool": name, "in": sources})
        return steps

    def _loose_ends(self, tools: list[str], visible: Sequence[Artifact]) -> int:
        """What ``tools``, chained (``_chained``), leave untaken: the files of the request (not
        its quoted text) and the outputs of every step but the last."""
        named = {x for step in self._chained(tools, visible) for x in step["in"]}
        files = sum(a.kind is not Kind.TEXT and a.id not in named for a in visible)
        return files + sum(step_label(k) not in named for k in range(1, len(tools)))

    def _joined(self, tasks: list[str], tools: list[str], visible: Sequence[Artifact], allowed: set[str]) -> tuple[list[str], list[str], list[str]]:
        """The subtasks' tools with a step turned round or left out where that joins the chain.

        A small model names a converter the wrong way round ("download the article, read it
        aloud, splice it with example.wav" answered text downloader, audio to text, audio splicer;
        "extract the text of example.jpg, then its URLs" answered text to image, url extractor),
        or a generator of what the user gave ("apply reverb to example.wav, then draw it" answered
        audio effects, text to audio, audio to image). Each leaves ends loose: a file nothing takes,
        a step whose output nothing takes. A step is turned into its reverse (``_reverse``) where
        the step beside it then joins it (the step before makes what the reverse takes, or, first,
        the step after takes what the reverse makes); a generator from words is left out where a
        file of what it makes is there and a later step takes it ("combine the two audio files,
        synchronize them with example.mp4", listed text to video, audio splicer, video
        synchronization). Either only where fewer ends are left loose; one change at a time, the
        best first. A single step is as named: the file a one-step request names is often where to
        save ("make a video, save it as example.mp4"), unless it makes from words and the request
        quotes none while it gives a file its reverse takes ("transcribe the speech of my
        example.wav", listed text to audio)."""
        notes: list[str] = []
        if len(tools) == 1 and not any(a.kind is Kind.TEXT for a in visible):
            tool = self.registry.get(tools[0])
            reverse = self._reverse(tool, allowed) if makes_from_nothing(tool) and not _addresses(tool) else None
            if reverse and any(spec.kind in {a.kind for a in visible} for spec in self.registry.get(reverse).inputs.values()):
                return tasks, [reverse], [f"{step_label(1)} ({tools[0]}) turned round: {reverse}, as the request quotes no words to make from"]
        while len(tools) > 1:
            now = self._loose_ends(tools, visible)
            options: list[tuple[int, list[str], list[str], str]] = []
            for k, name in enumerate(tools):
                tool = self.registry.get(name)
                reverse = self._reverse(tool, allowed)
                if reverse and self._joins(tool, self.registry.get(reverse), [self.registry.get(n) for n in tools], k, visible):
                    turned = [*tools[:k], reverse, *tools[k + 1:]]
                    options.append((self._loose_ends(turned, visible), tasks, turned, f"{step_label(k + 1)} ({name}) turned round: {reverse}"))
                made = set(tool.outputs.values())
                if (k + 1 < len(tools) and makes_from_nothing(tool) and Kind.TEXT not in made and text_slots(tool)
                        and not _addresses(tool) and any(a.kind in made for a in visible)
                        and made & {spec.kind for later in tools[k + 1:] for spec in self.registry.get(later).inputs.values()}):
                    fewer = tools[:k] + tools[k + 1:]
                    options.append((self._loose_ends(fewer, visible), tasks[:k] + tasks[k + 1:], fewer,
                                    f"{step_label(k + 1)} ({name}) left out: the request gives the {'/'.join(m.value for m in made)} it makes"))
            best = min(options, key=lambda o: o[0], default=None)
            if best is None or best[0] >= now:
                break
            _, tasks, tools, note = best
            notes.append(note)
        return tasks, tools, notes

    def _called_in(self, tasks: list[str], tools: list[str], visible: Sequence[Artifact], allowed: set[str],
                   request: str) -> tuple[list[str], list[str], list[str]]:
        """The subtasks' tools with each tool the request calls by name and no subtask lists
        added (``ToolRanker.called``: "check the grammar of the keywords", "the style of
        example.jpg", "based on the sentiment"): a small model drops a job said in passing, often
        a text step between two others. It goes where it leaves the fewest ends loose
        (``_loose_ends``, the steps in dependency order), of those places the nearest to where the
        request says it: before the first step whose tool the request says after it (``ToolRanker.said_at``). A one-step
        plan gets them too ("adjust the speed of example.mp4 based on the sentiment of the
        article", listed video speed changer): with "article" and the other ``CONTENT`` words
        calling nothing, this took no right single-tool plan wrong on TaskBench dev."""
        notes: list[str] = []
        ranker = self._tool_ranker()
        for at, name in ranker.called(request, allowed):
            if name in tools or not 0 < len(tools) < MAX_STEPS:
                continue
            said = [ranker.said_at(request, tool) for tool in tools]
            near = next((k for k, where in enumerate(said) if where is not None and where > at), len(tools))

            def cost(k: int, name: str = name, near: int = near, tools: list[str] = tools) -> tuple[int, int]:
                steps = [*tools[:k], name, *tools[k:]]
                _, ordered = self._in_dependency_order(steps, steps, visible)
                return self._loose_ends(ordered, visible), abs(k - near)

            k = min(range(len(tools) + 1), key=cost)
            tasks, tools = [*tasks[:k], name.replace("_", " "), *tasks[k:]], [*tools[:k], name, *tools[k:]]
            notes.append(f"{name} added as step {k + 1}: the request calls it by name")
        return tasks, tools, notes

    def _in_said_order(self, tasks: list[str], tools: list[str], visible: Sequence[Artifact],
                       request: str) -> tuple[list[str], list[str], list[str]]:
        """The subtasks' tools, two neighbours put in the order the request says them
        (``ToolRanker.said_at``): a small model lists a chain of like steps (text to text, video to
        video) in an order of its own, and the types cannot tell which comes first. Only where the
        swapped pair still runs in dependency order and leaves no more ends loose; a tool the
        request does not say by its own name's root stays where it is listed."""
        ranker = self._tool_ranker()
        notes: list[str] = []
        moved = True
        while moved:
            moved = False
            for k in range(len(tools) - 1):
                first, second = ranker.said_at(request, tools[k]), ranker.said_at(request, tools[k + 1])
                if first is None or second is None or second >= first:
                    continue
                swapped = [*tools[:k], tools[k + 1], tools[k], *tools[k + 2:]]
                if (self._in_dependency_order(swapped, swapped, visible)[1] != swapped
                        or self._loose_ends(swapped, visible) > self._loose_ends(tools, visible)):
                    continue
                tasks, tools = [*tasks[:k], tasks[k + 1], tasks[k], *tasks[k + 2:]], swapped
                notes.append(f"{tools[k]} put before {tools[k + 1]}, as the request says them")
                moved = True
        return tasks, tools, notes

    def _page_fetched(self, tasks: list[str], tools: list[str], visible: Sequence[Artifact], allowed: set[str],
                      request: str) -> tuple[list[str], list[str], list[str]]:
        """The subtasks' tools with the page downloader first, where the request states the address
        of one page (not of a picture, sound or video file), no step takes an address, no passage is
        quoted, and the first step takes words: "extract the keywords of the blog article at
        https://..." was listed keyword extractor alone, with the article's words never fetched."""
        pages = [u for u in stated_urls(request) if not MEDIA_URL.search(u)]
        if len(pages) != 1 or any(a.kind is Kind.TEXT for a in visible):
            return tasks, tools, []
        if any(_addresses(self.registry.get(t)) for t in tools):
            return tasks, tools, []
        first = self.registry.get(tools[0])
        if not text_slots(first) or _addresses(first) or len(tools) >= MAX_STEPS:
            return tasks, tools, []
        readers = [t.name for t in self.registry if t.name in allowed and _fetches(t) and set(t.outputs.values()) == {Kind.TEXT}]
        if len(readers) != 1:
            return tasks, tools, []
        return [readers[0].replace("_", " "), *tasks], [readers[0], *tools], [f"{readers[0]} added: {tools[0]} reads the page at {pages[0]}"]

    def _address_found(self, tasks: list[str], tools: list[str], visible: Sequence[Artifact],
                       allowed: set[str]) -> tuple[list[str], list[str], list[str]]:
        """The subtasks' tools with the address extractor (the one tool that takes words and makes
        an address) before each downloader that would otherwise read its address from prose: the
        text a step before it makes ("download the page, translate it, then download the image it
        links", listed text downloader, text translator, image downloader), or, first, the one
        passage the request quotes with an address in it ("download the video in this text:
        'Check out this amazing video: https://...'")."""
        finders = [t.name for t in self.registry if t.name in allowed and not t.inputs and text_slots(t) and not _addresses(t)
                   and all(map(_is_address, t.outputs)) and set(t.outputs.values()) == {Kind.TEXT}]
        if len(finders) != 1:
            return tasks, tools, []
        finder = finders[0]
        quoted = [a for a in visible if a.kind is Kind.TEXT and stated_urls(str(a.args.get("text", "")))]
        notes = []
        k = 0
        while k < len(tools) and len(tools) < MAX_STEPS:
            tool = self.registry.get(tools[k])
            before = self.registry.get(tools[k - 1]) if k else None
            prose = before is not None and Kind.TEXT in before.outputs.values() and not any(map(_is_address, before.outputs))
            if _fetches(tool) and finder not in tools[max(k - 1, 0):k] and (prose or (k == 0 and len(quoted) == 1)):
                tasks, tools = [*tasks[:k], finder.replace("_", " "), *tasks[k:]], [*tools[:k], finder, *tools[k:]]
                notes.append(f"{finder} added before {tool.name}")
                k += 1
            k += 1
        return tasks, tools, notes

    @staticmethod
    def _joins(tool: type[Tool], reverse: type[Tool], steps: list[type[Tool]], k: int, visible: Sequence[Artifact]) -> bool:
        """Whether ``reverse``, for ``tool`` at step ``k`` of ``steps``, joins them where ``tool``
        does not. A later step: the step before makes what ``reverse`` takes and ``tool`` cannot
        take, and a step after it is there to take what it makes. The first step: the step after
        takes not what ``tool`` makes, and as an input what ``reverse`` makes, or its words where
        ``reverse`` takes a file of the request (every tool takes words: words alone join nothing,
        and a web address is no text to be read)."""
        def inputs(t: type[Tool]) -> set[Kind]:
            return {spec.kind for spec in t.inputs.values()}

        if k:
            made = set(steps[k - 1].outputs.values())
            takes = inputs(reverse) | ({Kind.TEXT} if text_slots(reverse) else set())
            return k + 1 < len(steps) and bool(made & takes) and not made & inputs(tool)
        after, makes = inputs(steps[1]), set(reverse.outputs.values())
        if set(tool.outputs.values()) & after:
            return False
        worded = not all(map(_is_address, text_slots(steps[1])))
        return bool(makes & after) or (bool(inputs(reverse) & {a.kind for a in visible if a.kind is not Kind.TEXT})
                                       and bool(makes & (after | ({Kind.TEXT} if worded else set()))))

    def _reverse(self, tool: type[Tool], allowed: set[str]) -> str | None:
        """The offered tool that undoes ``tool``'s conversion: named with the same words
        (audio_to_text, text_to_audio), taking only what ``tool`` makes, making what it takes."""
        takes = {spec.kind for spec in tool.inputs.values() if not spec.optional} or ({Kind.TEXT} if text_slots(tool) else set())
        makes = set(tool.outputs.values())
        if len(takes) != 1 or takes == makes:
            return None
        words = sorted(tool.name.split("_"))
        return next((t.name for t in self.registry if t.name in allowed and t is not tool and sorted(t.name.split("_")) == words
                     and set(t.outputs.values()) == takes and _takes_only(t, makes)), None)

    def _shortlists(self, tasks: list[str], allowed: set[str], visible: list[Artifact]) -> list[list[str]]:
        """Each subtask's shortlist, of the tools its step could be: the first step has no earlier
        step to take from, so a tool that needs an input nothing here provides is not on its list.
        The closest tools are found among all and then kept if offered: a tool not offered leaves
        a gap, not room for one further away (with the video generators not offered, "turn the car
        into a big blue truck" gained add_audio_to_video, and the model took it)."""
        fed = accepted_artifacts(self.registry, visible)
        every = {t.name for t in self.registry}
        ranker, k_most = self._tool_ranker(), self.options.shortlist

        def near(task: str, among: set[str], universe: set[str]) -> list[str]:
            kept = [n for n in ranker.shortlist(task, k_most, universe) if n in among]
            return kept or ranker.shortlist(task, k_most, among) or sorted(allowed)

        first = {n for n in allowed if n not in self._needs or fed.get(n)}
        first_every = {n for n in every if n not in self._needs or fed.get(n)}
        return [near(task, first, first_every) if k == 0 else near(task, allowed, every) for k, task in enumerate(tasks)]

    def _helpers(self, shortlists: list[list[str]], visible: list[Artifact], request: str, allowed: set[str], most: int = 3) -> list[str]:
        """Tools that make a kind a shortlisted tool requires and neither the conversation's
        artifacts nor another shortlisted tool provide (a mask for remove_object), closest to the
        request first: the tool graph's answer to "what must run before this"."""
        listed = {n for names in shortlists for n in names}
        have = {a.kind for a in visible} | {kind for n in listed for kind in self.registry.get(n).outputs.values()}
        missing = {kind for n in listed for kind in required_kinds(self.graph, tool_node(n))} - have
        if not missing:
            return []
        makers = {self.graph.nodes[t]["name"] for kind in missing for t in self.graph.predecessors(kind_node(kind))}
        return [n for n in self._ranked(request) if n in makers and n in allowed and n not in listed][:most]

    # -- reading the two answers ------------------------------------------------------------------
    def _read_structure(self, text: str, session: Session, visible: list[Artifact], allowed: set[str], request: str) -> Any:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if extract_gen_image_prompts(text):
                return self._read_full(text, session)
            raise ValueError(f"the answer is not valid JSON ({exc.msg} at character {exc.pos})") from None
        try:
            check_shape(data, "the answer")
        except PlanError as exc:
            raise ValueError(str(exc)) from None
        if isinstance(data, dict) and isinstance(data.get("cannot"), str) and not data.get("steps"):
            return Refusal(data["cannot"])
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise ValueError('the answer must be {"steps": [{"tool": ..., "in": [...]}, ...]} or {"cannot": "..."}')  # noqa: TRY004 (ask() feeds ValueErrors back to the model)
        if data["steps"] and all(isinstance(s, dict) and ("args" in s or "id" in s) for s in data["steps"]):
            return self._read_full(text, session)
        if not data["steps"]:
            return Refusal(str(data.get("reply") or CANNOT))
        problems: list[str] = []
        by_label: dict[str, Source] = {a.id: Source(a.id, ((None, a.kind),)) for a in visible}
        order: list[Source] = list(by_label.values())
        artifact_ids = set(by_label)
        quotes = {a.id for a in visible if a.tool == QUOTE}  # offered by ``plan`` (``agent.quotes``)
        consumed_quotes: dict[str, str] = {}
        raw: list[tuple[str, type[Tool], list[str]]] = []
        for position, item in enumerate(data["steps"], 1):
            label = step_label(position)
            if not isinstance(item, dict) or not isinstance(item.get("tool"), str):
                problems.append(f"step {position} must be an object with a 'tool'")
                continue
            name, sources = item["tool"], item.get("in") or []
            if name not in self.registry or name not in allowed:
                problems.append(f"{label}: unknown tool '{name}'")
                continue
            if not isinstance(sources, list) or not all(isinstance(x, str) for x in sources):
                problems.append(f"{label}: 'in' must be a list of step labels or artifact ids")
                continue
            raw.append((label, self.registry.get(name), sources))
        if problems:
            raise ValueError("; ".join(problems))
        named = {x for _, _, sources in raw for x in sources}
        uses = Counter(x for _, _, sources in raw for x in set(sources))  # how many steps name each source
        consumed: set[str] = set(named)
        meant = meant_instead(visible, request, named) if self.options.provenance else {}
        steps: list[WiredStep] = []
        by_type: list[str] = []
        words = [str(t) for t in data.get("tasks") or []]
        aligned = len(words) == len(raw)  # one subtask per step as written: the words can be shown with the steps
        tasks: list[str] = []
        for position, (label, tool, sources) in enumerate(raw):
            if position and self.options.bridge and tool is raw[position - 1][1] and list(dict.fromkeys(sources)) == [raw[position - 1][0]]:
                # the same tool again on its own output (text_simplifier on text_simplifier): a
                # small model's stutter; the step is left out and later steps take the first one
                previous = raw[position - 1][0]
                by_label[label] = by_label[previous]
                by_type.append(f"{label} ({tool.name}) repeats {previous} on its output: left out")
                continue
            if position and self.options.fold_restyle and self._folds(tool, raw[position - 1], sources, request):
                previous = raw[position - 1][0]
                by_label[label] = by_label[previous]
                by_type.append(f"{label} ({tool.name}) restyles the picture {previous} draws from text: folded into {previous}'s prompt")
                continue
            kind = next(iter(tool.outputs.values()))
            pointed = meant.get(kind) if makes_from_nothing(tool) and label in named else None
            if pointed is not None and pointed[1] in (None, tool.name):  # "put this music on it" answered with new music
                stored = meant.pop(kind)[0]  # the stored one is used
                by_label[label] = by_label[stored]
                by_type.append(f"{label} ({tool.name}) left out: the request means {stored}")
                continue
            known: list[Source] = []
            for x in dict.fromkeys(sources):  # the same source named twice is named once
                if x in quotes and x in consumed_quotes:
                    # a quoted passage is the input of one step (35 of 37 TaskBench dev chains that
                    # quote one); named again, it stands for the newest text made since
                    made = next((o for o in reversed(order) if o.label not in artifact_ids and Kind.TEXT in o.kinds()
                                 and o.label not in sources), None)
                    by_type.append(f"{label} names {x}, which {consumed_quotes[x]} takes already: "
                                   + (f"{made.label}'s text instead" if made else "left out"))
                    if made is not None:
                        known.append(made)
                    continue
                if x in quotes:
                    consumed_quotes[x] = label
                if x == label:
                    problems.append(f"{label} names itself as a source")
                elif x not in by_label:
                    later = x.startswith("s") and x[1:].isdigit()
                    problems.append(f"{label} names {x}, which is {'not an earlier step' if later else 'no artifact of this conversation'}")
                else:
                    known.append(by_label[x])
            earlier = order if self.options.wire_by_type else []
            if self.options.provenance:
                known = newest_first(tool, known, visible)
            wiring = wire(tool, known, earlier, label, frozenset(consumed))
            if wiring.unplaced and self.options.bridge and (sibling := self._sibling(tool, known, earlier, label, frozenset(consumed), allowed)):
                by_type.append(f"{label} ({tool.name}) takes no {'/'.join(sorted(k.value for s in wiring.unplaced for k in s.kinds()))}: "
                               f"{sibling[0].name}, the same job on it, instead")
                tool, wiring = sibling
            if wiring.unplaced and self.options.bridge:
                bridged = self._bridge(tool, known, wiring, earlier, label, frozenset(consumed), request, allowed)
                if bridged is not None:
                    inserted, wiring = bridged
                    for step in inserted:
                        steps.append(step)
                        tasks.append(f"turn {', '.join(r[2:-1] for r in step.refs.values())} into what {label} takes")
                        by_label[step.label] = Source(step.label, tuple(step.tool.outputs.items()))
                        order.append(by_label[step.label])
                        by_type.append(f"{step.label} inserted: {step.tool.name} between {', '.join(r[2:-1] for r in step.refs.values())} and {label}")
            if self.options.make_missing and any("nothing before it makes" in p for p in wiring.problems):
                made_here = [o for o in order if o.label not in artifact_ids]
                made = (self._converted_for(tool, known, wiring, earlier, label, frozenset(consumed), request, allowed, made_here)
                        or self._found_in(tool, known, wiring, earlier, label, frozenset(consumed), request, allowed)
                        or self._made_for(tool, known, wiring, earlier, label, frozenset(consumed), request, allowed, made_here))
                if made is not None:
                    maker, wiring = made
                    makes = "/".join(k.value for k in maker.tool.outputs.values())
                    steps.append(maker)
                    tasks.append(f"make the {makes} {label} needs")
                    by_label[maker.label] = Source(maker.label, tuple(maker.tool.outputs.items()))
                    order.append(by_label[maker.label])
                    by_type.append(f"{maker.label} inserted: {label} needs {makes} and nothing before it makes it")
                elif len(wiring.unplaced) == 1 and uses[wiring.unplaced[0].label] == 1:
                    at = next((i for i, step in enumerate(steps) if step.label == wiring.unplaced[0].label), None)
                    remade = None if at is None else self._remade(tool, known, wiring, earlier, label, frozenset(consumed),
                                                                  request, allowed, steps[at])
                    if remade is not None:
                        swapped, wiring = remade
                        by_type.append(f"{swapped.label} ({steps[at].tool.name}) makes what {label} ({tool.name}) cannot take: "
                                       f"{swapped.tool.name} instead")
                        steps[at] = swapped
                        by_label[swapped.label] = Source(swapped.label, tuple(swapped.tool.outputs.items()))
                        order[:] = [by_label[swapped.label] if o.label == swapped.label else o for o in order]
            problems += wiring.problems
            # a source beyond the tool's inputs of its kind is left out, and the plan says so
            by_type += [f"{note}: left out" for note in wiring.extra]
            if any("nothing before it makes" in p for p in wiring.problems):
                problems.extend(self._chain_hint(tool, order, allowed))
            for source in wiring.unplaced:
                if hint := self._replacement_hint(tool, source, label, allowed):
                    problems.append(hint)
            if self.options.provenance:
                by_type += [f"{label}.{note}" for note in with_own_picture(tool, wiring.args, visible, request)]
            for note in wiring.by_type:
                consumed.add(note.rsplit("<- ", 1)[-1])
            by_type += wiring.by_type
            twin = next((s for s in steps if s.tool is tool and s.refs == wiring.args), None) if (
                self.options.bridge and wiring.args and not wiring.problems and not fillable_params(tool, set(wiring.args))) else None
            if twin is not None:
                # nothing left to write differs: the same work again ("video to audio", "audio to
                # text" listed three times over under greedy decoding); later steps take the first
                by_label[label] = by_label[twin.label]
                by_type.append(f"{label} ({tool.name}) repeats {twin.label} on the same inputs: left out")
                continue
            steps.append(WiredStep(label, tool, wiring.args, {}))
            tasks.append(words[position] if aligned else "")
            by_label[label] = Source(label, tuple(tool.outputs.items()))
            order.append(by_label[label])
        if problems:
            raise ValueError("; ".join(problems))
        # Type-correct by construction: every reference was wired by kind to an earlier step or
        # an existing artifact, so only the parameters remain to be checked (after the arguments).
        return Structure(steps, by_type, json.dumps(data, separators=(",", ":"), ensure_ascii=False),
                         tasks if aligned else [])

    @staticmethod
    def _folds(tool: type[Tool], before: tuple[str, type[Tool], list[str]], sources: list[str], request: str) -> bool:
        """Whether ``tool`` restyles only what the step ``before`` drew from text, in a request
        that asks for one result (``PlannerOptions.fold_restyle``)."""
        label, maker, _ = before
        return (tool.restyles and set(sources) <= {label} and makes_from_nothing(maker)
                and set(maker.outputs.values()) == {Kind.IMAGE} and not IN_TURN.search(request))

    def _bridge(self, tool: type[Tool], known: list[Source], wiring: Wiring, earlier: list[Source], label: str,
                consumed: frozenset[str], request: str, allowed: set[str]) -> tuple[list[WiredStep], Wiring] | None:
        """A source of the wrong kind, joined to ``tool`` through one converter from the tool graph.

        "s2 (audio_effects) takes audio, but s1 is video": the converter is a tool that takes what
        s1 makes and makes what s2 still needs (video_to_audio), the one whose description is
        closest to the request when several fit. It runs as a step of its own between them, and
        the plan says so. A source nothing converts is left out when the tool can run without it
        (a picture "to go with" a speech clip is drawn from its prompt), and the plan says that
        too; when the tool would then lack a required input the problem goes back to the model.
        Converters are tools offered for the request: detect_objects was put between text_to_image
        and layout_to_image for "a cat sitting to the left of a dog", which asks to find nothing.
        """
        free = Counter(spec.kind for name, spec in tool.inputs.items() if name not in wiring.args)
        # No converter's text is an address: an image is never "turned into" a download's URL. And
        # a step fed already takes its words from the request: the model's habit of naming the step
        # before last as well (audio_effects of s4 and s3) put video_to_text there; left out, the
        # v10 TaskBench answers replay at 72.0 / 39.1 node / edge F1 against 71.9 / 38.9 (a
        # converter for a step's only source stays: text_summarizer of a picture, image_to_text).
        if not wiring.args:
            free.update(Kind.TEXT for name in text_slots(tool) if not _is_address(name))
        inserted: list[WiredStep] = []
        left_out: list[str] = []
        replaced = list(known)
        for source in wiring.unplaced:
            kinds = set(source.kinds())
            converter = self._converter(kinds, set(+free), request, allowed)
            step_id = f"{label}_{converter.name}"[:46] + (f"_{len(inserted) + 1}" if inserted else "") if converter else ""
            joined = wire(converter, [source], [], step_id) if converter else None
            if converter is None or joined is None or joined.problems:
                replaced.remove(source)  # nothing turns it into an input of the tool: left out, if the tool needs it not
                left_out.append(f"{label} ({tool.name}) has no input for {source.label} ({'/'.join(sorted(k.value for k in kinds))})")
                continue
            inserted.append(WiredStep(step_id, converter, joined.args, {}))
            replaced[replaced.index(source)] = Source(step_id, tuple(converter.outputs.items()))
            free.subtract(set(converter.outputs.values()) & set(+free))
        rewired = wire(tool, replaced, earlier, label, consumed)
        if rewired.problems:
            return None
        rewired.extra += left_out
        return inserted, rewired

    def _sibling(self, tool: type[Tool], known: list[Source], earlier: list[Source], label: str, consumed: frozenset[str],
                 allowed: set[str]) -> tuple[type[Tool], Wiring] | None:
        """The offered tool described as doing ``tool``'s job on the sources it was given.

        audio_to_text of a video was bridged through video_to_audio, where video_to_text
        ("Transcribes speech from a video file into text") does it in one step: the model named
        the job and the source, and took the tool of the neighbouring kind. Only a tool making
        the same kinds whose description reads nearly the same (``SAME_JOB`` of difflib's ratio)
        is taken: text_summarizer of a picture still gets image_to_text before it."""
        makes = set(tool.outputs.values())
        mine = tool.description()
        best: tuple[float, type[Tool], Wiring] | None = None
        for other in self.registry:
            if other is tool or other.name not in allowed or set(other.outputs.values()) != makes:
                continue
            ratio = difflib.SequenceMatcher(None, mine, other.description()).ratio()
            if ratio < SAME_JOB or (best is not None and ratio <= best[0]):
                continue
            wiring = wire(other, known, earlier, label, consumed)
            if not wiring.problems and not wiring.unplaced:
                best = (ratio, other, wiring)
        return None if best is None else (best[1], best[2])

    def _made_for(self, tool: type[Tool], known: list[Source], wiring: Wiring, earlier: list[Source], label: str,
                  consumed: frozenset[str], request: str, allowed: set[str], steps: Sequence[Source]) -> tuple[WiredStep, Wiring] | None:
        """A generator for the one required input of ``tool`` that nothing before it makes.

        "Make a video of rain and put this music on it", answered with the stored music and
        ``add_audio_to_video`` but no video: the tool graph's makers of a video from nothing
        (text_to_video, story_to_video) are ranked by closeness to the request and the first runs
        as a step of its own, its prompt written with the other arguments. More than one missing
        input, or a kind no tool makes from nothing, goes back to the model as before. Only tools
        offered for the request are makers (make_layout was inserted under draw_layout for "draw a
        corgi ... and post it", a request with no placement word). A text one of this plan's
        ``steps`` made and nothing takes is what a text-taking generator makes from (a summary,
        then "a video of it"); a stored text artifact is not: it was made for another turn."""
        found = self._maker(tool, wiring, request, allowed)
        if found is None:
            return None
        text = next(((source, output) for source in reversed(steps) for output, kind in source.outputs
                     if kind is Kind.TEXT and source.label not in consumed), None) if text_slots(found) else None
        maker = WiredStep(f"{label}_{found.name}"[:46], found, {text_slots(found)[0]: text[0].ref(text[1])} if text else {}, {})
        rewired = wire(tool, [*known, Source(maker.label, tuple(maker.tool.outputs.items()))], earlier, label, consumed)
        return None if rewired.problems else (maker, rewired)

    def _converted_for(self, tool: type[Tool], known: list[Source], wiring: Wiring, earlier: list[Source], label: str,
                       consumed: frozenset[str], request: str, allowed: set[str], steps: Sequence[Source]) -> tuple[WiredStep, Wiring] | None:
        """The one required input of ``tool`` that nothing before it makes, converted from the
        newest picture, sound or video this plan's ``steps`` made and nothing takes.

        "Apply reverb to example.wav, draw its waveform and search for similar images", answered
        audio effects, image search by image: the search needs a picture, and the reverbed audio
        waits for one. A generator from nothing drew one from the request's words
        (text_to_image); the tool graph's converter from audio to image draws it from the audio
        (audio_to_image), and the chain holds. A text left over goes to ``_made_for``, whose
        generator makes from it."""
        missing = _missing(tool, wiring)
        if len(missing) != 1:
            return None
        for source in reversed(steps):
            if source.label in consumed:
                continue
            if Kind.TEXT in source.kinds():
                return None
            if (found := self._converter(set(source.kinds()), set(missing), request, allowed, besides=tool)) is not None:
                break
        else:
            return None
        return _through(found, source, tool, known, earlier, label, consumed)

    def _found_in(self, tool: type[Tool], known: list[Source], wiring: Wiring, earlier: list[Source], label: str,
                  consumed: frozenset[str], request: str, allowed: set[str]) -> tuple[WiredStep, Wiring] | None:
        """The one required input of ``tool`` that nothing before it makes, a box or a mask, found
        in the file ``tool`` itself works on.

        "Crop out the baseball glove in x.png", answered image_cropping alone: the crop has its
        picture and lacks the glove's box, and nothing in the plan makes one. A box, a mask, is a
        fact of that same picture: the tool graph's converter from the picture to what is missing
        (object_detection, image_instance_segmentation) runs on it first, the one closest to the
        request where several do. Only what describes a picture is found in one (``OF_A_PICTURE``):
        the sound a video synchronization lacks is another recording, not the video's own. A tool
        that takes no such file (layout_to_image) has no picture to find it in, and goes on to
        ``_made_for``."""
        missing = _missing(tool, wiring)
        if len(missing) != 1 or missing[0] not in OF_A_PICTURE:
            return None
        taken = set(wiring.args.values())
        for source in known:
            for output, kind in source.outputs:
                if kind is Kind.TEXT or source.ref(output) not in taken:
                    continue
                found = self._converter({kind}, set(missing), request, allowed, besides=tool)
                if found is not None and (made := _through(found, Source(source.label, ((output, kind),)), tool, known, earlier, label, consumed)):
                    return made
        return None

    def _converter(self, kinds: set[Kind], wanted: set[Kind], request: str, allowed: set[str],
                   besides: type[Tool] | None = None) -> type[Tool] | None:
        """The offered tool that takes ``kinds`` alone and makes one of ``wanted`` (other than
        ``besides``), the one closest to the request where several do."""
        ranked = {name: i for i, name in enumerate(self._ranked(request))}
        fits = [t for t in self.registry if t is not besides and t.name in allowed and set(t.outputs.values()) & wanted
                and _takes_only(t, kinds)]
        return min(fits, key=lambda t: (ranked.get(t.name, len(ranked)), t.name), default=None)

    def _maker(self, tool: type[Tool], wiring: Wiring, request: str, allowed: set[str]) -> type[Tool] | None:
        """The offered generator closest to the request of the one required input ``tool`` lacks;
        where the request states a web address, a downloader first ("synchronize the audio file
        at https://... with example.mp4" had text_to_audio read words aloud, not the file fetched)."""
        missing = _missing(tool, wiring)
        if len(missing) != 1:
            return None
        makers = {t.name: t for t in self.registry  # no inputs at all: a mask drawn from boxes without its picture is no mask
                  if t is not tool and t.name in allowed and not t.inputs and makes_from_nothing(t) and missing[0] in t.outputs.values()}
        ranked = [n for n in self._ranked(request) if n in makers]
        if stated_urls(request):  # "the audio file at https://...": fetched, not made from words
            ranked.sort(key=lambda n: not _addresses(makers[n]))
        return makers[ranked[0]] if ranked else None

    def _remade(self, tool: type[Tool], known: list[Source], wiring: Wiring, earlier: list[Source], label: str,
                consumed: frozenset[str], request: str, allowed: set[str], generator: WiredStep) -> tuple[WiredStep, Wiring] | None:
        """``generator``, the step that makes the one source ``tool`` cannot take, swapped for the
        generator of what ``tool`` lacks. "a cat sitting to the left of a dog" was text_to_image,
        then layout_to_image of its picture, three times over: the picture was meant to be the
        layout, so s1 plans the layout instead (no step inserted, no picture drawn twice). Only a
        layout, a plan of a picture, replaces a generator: "make a video and upscale it" has asked
        for the video, and goes back to the model."""
        if len(wiring.unplaced) != 1 or not makes_from_nothing(generator.tool):
            return None
        found = self._maker(tool, wiring, request, allowed)
        if found is None or set(found.outputs.values()) != {Kind.LAYOUT}:  # a video asked for is not a layout's sketch
            return None
        swapped = WiredStep(generator.label, found, {}, {})
        source = Source(generator.label, tuple(found.outputs.items()))
        rewired = wire(tool, [source if k is wiring.unplaced[0] else k for k in known], earlier, label, consumed)
        return None if rewired.problems else (swapped, rewired)

    def _chain_hint(self, tool: type[Tool], order: list[Source], allowed: set[str]) -> list[str]:
        """Chains of offered tools that make a missing kind, those starting from an artifact the
        user has first."""
        available = {k for s in order for k in s.kinds()} | {Kind.TEXT}
        media = {k for s in order for k in s.kinds()} - {Kind.TEXT}
        hints = []
        for spec in tool.inputs.values():
            if spec.optional or spec.kind in available:
                continue
            chains = [c for c in search(self.graph, available, spec.kind, max_steps=2, limit=12) if set(c.tools) <= allowed][:6]

            def uses_media(chain: object) -> bool:
                first = self.registry.get(chain.tools[0])  # type: ignore[attr-defined]
                return any(s.kind in media for s in first.inputs.values())

            chains = sorted(chains, key=lambda c: not uses_media(c))[:3]
            if chains:
                hints.append(f"add a step before it that makes {spec.kind.value}: {' or '.join(str(c) for c in chains)}")
        return hints

    def _replacement_hint(self, tool: type[Tool], source: Source, label: str, allowed: set[str]) -> str | None:
        """Tools that take what ``source`` is and make what ``tool`` makes: the typed neighbours of
        the model's choice on the tool graph, closest names first."""
        kinds, makes = set(source.kinds()), set(tool.outputs.values())
        fits = [
            t.name for t in self.registry
            if t.name != tool.name and t.name in allowed and set(t.outputs.values()) & makes
            and ({s.kind for s in t.inputs.values()} | ({Kind.TEXT} if text_slots(t) else set())) & kinds
        ]
        if not fits:
            return None
        fits.sort(key=lambda n: -difflib.SequenceMatcher(None, n, tool.name).ratio())
        takes = "/".join(sorted(k.value for k in kinds))
        return f"for {label}, a tool that takes {takes} and makes {'/'.join(sorted(k.value for k in makes))}: {', '.join(fits[:4])}"

    def _read_full(self, text: str, session: Session) -> tuple[PlanReply, Plan, BoundPlan | None]:
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

    def _read_arguments(self, text: str, structure: Structure, fillable: dict[str, Any], session: Session) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the answer is not valid JSON ({exc.msg} at character {exc.pos})") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ValueError('the answer must be {"s1": {parameters}, ...}')
        problems = [f"{k} is not a step that takes parameters (those are: {', '.join(fillable)})" for k in data if k not in fillable]
        problems += [f"no parameters for {k} (it needs {', '.join(v['required'])})" for k, v in fillable.items() if k not in data and v.get("required")]
        for step in structure.steps:
            for name, value in data.get(step.label, {}).items():
                if name in step.refs:
                    problems.append(f"{step.label}.{name} already comes from {step.refs[name]}: leave it out")
                elif name in step.params:
                    problems.append(f"{step.label}.{name} is already set from the request: leave it out")
                elif isinstance(value, str) and value.startswith("${"):
                    problems.append(f"{step.label}.{name}: write a value, not a reference")
        if problems:
            raise ValueError("; ".join(problems))
        try:
            self._bind(structure, data, session)
        except PlanError as exc:
            raise ValueError(str(exc)) from None
        return data

    def _bind(self, structure: Structure, given: dict[str, dict[str, Any]], session: Session) -> tuple[Plan, BoundPlan]:
        steps = [Step(id=s.label, tool=s.tool.name, args={**given.get(s.label, {}), **s.params, **s.refs}) for s in structure.steps]
        plan = Plan(steps=steps)
        bound = bind(plan, self.registry, session)
        plan = Plan(steps=steps, outputs=leaf_outputs(plan, bound))
        return plan, bind(plan, self.registry, session)

    # -- one full-plan answer (the earlier planner; an ablation row) ----------------------------
    def _single(self, session: Session, messages: list[BaseMessage], seed: int | None) -> PlanOutcome:
        outcome = PlanOutcome(reply="")
        try:
            answer = ask(self.backend, messages, PlanReply, role="planner", parse=lambda t: self._read_full(t, session),
                         schema=self.schema, retry_prompt="planner_retry", attempts=self.max_attempts, max_tokens=self.max_tokens,
                         seed=seed or 0)
        except RoleError as exc:
            return self._failed(outcome, exc)
        except LlmgaError as exc:
            outcome.errors.append(str(exc))
            outcome.reply = f"The planner model failed: {exc}"
            return outcome
        self._record(outcome, answer.trace)
        return self._full_plan(outcome, *answer.value)

    @staticmethod
    def _full_plan(outcome: PlanOutcome, reply: PlanReply, plan: Plan, bound: BoundPlan | None) -> PlanOutcome:
        """A whole-plan answer: its steps, or with none, its reply (or the plain refusal)."""
        outcome.reply = reply.reply.strip()
        if bound is None:
            outcome.reply = outcome.reply or CANNOT
            return outcome
        outcome.plan, outcome.bound = plan, bound
        return outcome

    def _record(self, outcome: PlanOutcome, trace: Trace) -> None:
        outcome.attempts += trace.attempts
        outcome.generations += trace.generations
        outcome.errors += [p.split("\nHint: ")[0] for p in trace.problems]

    def _failed(self, outcome: PlanOutcome, exc: RoleError) -> PlanOutcome:
        self._record(outcome, exc.trace or Trace())
        outcome.reply = f"I could not make a valid plan in {self.max_attempts} attempts. Last problem: {outcome.errors[-1] if outcome.errors else 'none'}"
        return outcome


@dataclass(frozen=True)
class OffTask:
    """A structure answer with a step whose tool its subtask does not call for."""

    tasks: list[str]
    shortlists: list[list[str]]
    steps: list[dict[str, Any]]


@dataclass
class Answered:
    """A structure answer's value and the traces of the calls that made it (one, or two when the
    steps were asked for again)."""

    value: Any
    traces: list[Trace]


def _through(converter: type[Tool], source: Source, tool: type[Tool], known: list[Source], earlier: list[Source], label: str,
             consumed: frozenset[str]) -> tuple[WiredStep, Wiring] | None:
    """``converter`` as a step on ``source``, and ``tool`` wired again with what it makes; None
    where either leaves an input unfilled."""
    step_id = f"{label}_{converter.name}"[:46]
    joined = wire(converter, [source], [], step_id)
    if joined.problems:
        return None
    maker = WiredStep(step_id, converter, joined.args, {})
    rewired = wire(tool, [*known, Source(step_id, tuple(converter.outputs.items()))], earlier, label, consumed)
    return None if rewired.problems else (maker, rewired)


def _missing(tool: type[Tool], wiring: Wiring) -> list[Kind]:
    """The kinds of ``tool``'s required inputs that ``wiring`` leaves unfilled."""
    return [spec.kind for name, spec in tool.inputs.items() if not spec.optional and name not in wiring.args]


def _is_address(slot: str) -> bool:
    """Whether a text slot or output (``url``, ``url_2``) holds a web address, not words."""
    return slot.rstrip("0123456789_") in ADDRESS_SLOTS


def _addresses(tool: type[Tool]) -> bool:
    """Whether ``tool`` takes a web address."""
    return any(map(_is_address, text_slots(tool)))


def _fetches(tool: type[Tool]) -> bool:
    """Whether ``tool`` takes a web address and nothing else: a downloader."""
    slots = text_slots(tool)
    return not tool.inputs and bool(slots) and all(map(_is_address, slots))


def _takes_only(tool: type[Tool], kinds: set[Kind]) -> bool:
    """Whether a source of ``kinds`` alone can feed ``tool``: every required input is of those
    kinds and at least one is (or, for text, the tool has a text parameter)."""
    required = {spec.kind for spec in tool.inputs.values() if not spec.optional}
    return required <= kinds and (bool(required) or (Kind.TEXT in kinds and bool(text_slots(tool))))


OF_A_PICTURE = frozenset({Kind.MASK, Kind.LAYOUT})
"""Kinds that describe a picture (where its objects are) rather than being media of their own."""

STRUCTURE_TOKENS = 320
GRAPH_ENDING = Ending('"],', '"],"steps":[]}')
"""With ``graph_steps`` the structure grammar binds the steps to ``[]``: once the subtasks' list
closes, the rest is forced, and decoding stops there (``PlannerOptions.stop_early``)."""
CANNOT = "I cannot do that with the tools I have."


def fill_stated_urls(steps: Sequence[WiredStep], request: str) -> None:
    """The ``url`` parameters no source feeds take the web addresses the request states, the first
    step's the first address, where it states exactly as many: with more or fewer, which goes where
    is the model's to say (a url an earlier step extracts is a source, never open)."""
    open_ = [(step, name) for step in steps for name in step.tool.Params.model_fields
             if URL_PARAM.search(name) and name not in step.refs and name not in step.params]
    urls = stated_urls(request)
    if open_ and len(open_) == len(urls):
        for (step, name), url in zip(open_, urls, strict=True):
            step.params[name] = url


def describe(structure: Structure) -> str:
    """The reply shown with a plan, written from the plan itself (no model tokens spent on it)."""
    parts = []
    for number, step in enumerate(structure.steps):
        sources = sorted({r[2:-1].split(".")[0] for r in step.refs.values()}) + (["the quoted text"] if step.params else [])
        task = f"{structure.tasks[number]} with " if structure.tasks else ""
        parts.append(task + step.tool.name + (f" (from {', '.join(sources)})" if sources else ""))
    return "I will " + ("" if structure.tasks else "run ") + ", then ".join(parts) + "."


def warm(backend: LLMBackend, registry: Registry) -> float:
    """Read the planner's system prompt once (one-token answer), so a backend with a prompt cache
    (the embedded model keeps it on disk) starts the first real request from it. Seconds taken."""
    started = time.perf_counter()
    planner = Planner(backend, registry)
    schema = structure_schema([t.name for t in registry], [])
    backend.generate(planner.messages([], "warm up", []), json_schema=schema, max_tokens=1)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agent.planner --warm``: fill the planner's prompt cache (setup.sh runs it)."""
    import argparse
    import sys

    from agent.nodes import _backend_key, _shared_backend, shared_runtime

    parser = argparse.ArgumentParser(prog="python -m agent.planner")
    parser.add_argument("--warm", action="store_true", help="read the planner's system prompt into the prompt cache")
    args = parser.parse_args(argv)
    if not args.warm:
        parser.print_help()
        return 2
    try:
        seconds = warm(_shared_backend(*_backend_key()), shared_runtime().registry)
    except LlmgaError as exc:
        print(f"planner warm-up skipped: {exc}", file=sys.stderr)
        return 0
    print(f"planner prompt cached in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
