"""What both benchmarks share: attached files as an in-memory session, plan -> nodes, timing."""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.planner import Planner, PlanOutcome, parse_plan
from agent.quotes import URL
from bench.metrics import AUDIO_EXT, IMAGE_EXT, VIDEO_EXT, percentile
from graphs.plan import ArtifactRef, Step, StepRef, parse_ref
from tools.artifacts import EXTENSION, Artifact, Kind, Session
from tools.errors import InputError, PlanError
from tools.registry import Registry

_EXT = {**{e: Kind.IMAGE for e in IMAGE_EXT}, **{e: Kind.AUDIO for e in AUDIO_EXT}, **{e: Kind.VIDEO for e in VIDEO_EXT}}
FILE = re.compile(r"(?<![\w./-])([\w./-]*\w\.(" + "|".join(sorted(_EXT, key=len, reverse=True)) + r"))(?![\w-])", re.IGNORECASE)


def mentioned_files(request: str) -> list[tuple[str, Kind]]:
    """Image, audio and video file names the request mentions (not inside web addresses, as the
    planner reads them: ``agent.quotes.URL``), in order.

    A benchmark request names its inputs ("example.jpg"); in the product the user attaches them.
    Each becomes an imported artifact, the way ``llmga run --input`` would make one.
    """
    seen: dict[str, Kind] = {}
    for match in FILE.finditer(URL.sub(" ", request)):
        seen.setdefault(match.group(1), _EXT[match.group(2).lower()])
    return list(seen.items())


class AttachedSession(Session):
    """A session holding only the user's files, as metadata: planning needs nothing more."""

    def __init__(self, files: Sequence[tuple[str, Kind]]):
        super().__init__(Path("attached"))
        self._artifacts: dict[str, Artifact] = {}
        counts: dict[Kind, int] = {}
        for name, kind in files:
            counts[kind] = counts.get(kind, 0) + 1
            artifact_id = f"{kind.value}-{counts[kind]}"
            self._artifacts[artifact_id] = Artifact(
                id=artifact_id,
                kind=kind,
                file=f"{artifact_id}{EXTENSION[kind]}",  # the name the user gave is kept as args['source']
                tool="import",
                args={"source": name},
                created_at=datetime(2026, 1, 1, tzinfo=UTC),
                sha256=hashlib.sha256(name.encode()).hexdigest(),
            )
        self.by_source = {a.args["source"]: a.id for a in self._artifacts.values()}

    def artifacts(self) -> list[Artifact]:
        return list(self._artifacts.values())

    def get(self, artifact_id: str) -> Artifact:
        try:
            return self._artifacts[artifact_id]
        except KeyError:
            raise InputError(f"no artifact '{artifact_id}'") from None

    def exists(self, artifact_id: str) -> bool:
        return artifact_id in self._artifacts


def predicted_steps(outcome: PlanOutcome) -> tuple[list[Any], str]:
    """The steps to score and where they came from.

    A validated plan when there is one (``valid``); otherwise the last answer that parsed as a
    plan (``invalid``: benchmarks score what a model wrote, and so do we, flagged); else none.
    """
    if outcome.plan is not None and outcome.bound is not None:
        by_id = {s.id: s for s in outcome.plan.steps}
        return [by_id[i] for i in outcome.bound.order], "valid"
    for generation in reversed(outcome.generations):
        try:
            return list(parse_plan(generation.text).steps), "invalid"
        except PlanError:
            pass
        if (steps := structure_steps(generation.text)) is not None:
            return steps, "invalid"
    return [], "none" if not outcome.generations or outcome.reply else "unparsed"


def structure_steps(text: str) -> list[Step] | None:
    """A structure answer (``{"steps": [{"tool", "in"}]}``) that did not validate, as steps whose
    arguments are its sources: scored as written, like an invalid full plan."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list) or not data["steps"]:
        return None
    steps = []
    for position, item in enumerate(data["steps"], 1):
        if not isinstance(item, dict) or not isinstance(item.get("tool"), str):
            return None
        sources = [x for x in item.get("in") or [] if isinstance(x, str)]
        args = {f"in{i}": f"${{{x}}}" for i, x in enumerate(sources)}
        steps.append(Step(id=f"s{position}", tool=item["tool"], args=args))
    return steps


def plan_nodes(steps: Sequence[Any], registry: Registry, session: AttachedSession, label: Any) -> list[dict[str, Any]]:
    """Steps -> ``[{"task": benchmark tool name, "arguments": [...]}]`` with ``<node-k>`` refs.

    Arguments follow the tool's declared inputs; a step output becomes ``<node-k>`` (k its
    0-based position), an attached file its file name, a literal stays as written.
    """
    index = {step.id: i for i, step in enumerate(steps)}
    nodes = []
    for step in steps:
        if step.tool not in registry:
            nodes.append({"task": step.tool, "arguments": [str(v) for v in step.args.values()]})
            continue
        tool = registry.get(step.tool)
        names = [slot.name for slot in getattr(tool, "slots", ())]
        if not any(n in step.args for n in names):  # a structure scored as written: sources in order
            names = list(step.args)
        arguments = []
        for name in names:
            if name not in step.args or step.args[name] is None:
                continue
            value = step.args[name]
            try:
                ref = parse_ref(value)
            except ValueError:
                ref = None
            if isinstance(ref, StepRef) and ref.step in index:
                arguments.append(f"<node-{index[ref.step]}>")
            elif isinstance(ref, ArtifactRef) and session.exists(ref.id):
                arguments.append(session.get(ref.id).args["source"])
            else:
                arguments.append(value if isinstance(value, str) else json.dumps(value))
        nodes.append({"task": label(tool), "arguments": arguments})
    return nodes


@dataclass
class Timing:
    """Per-request wall time and the model's token figures."""

    seconds: float = 0.0
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    decode_seconds: float = 0.0
    prefill_seconds: float = 0.0
    """reading the prompts' uncached parts; the rest of ``seconds`` beside decoding is our code
    (and grammar set-up)."""
    prefill_tokens: int = 0
    structure_seconds: float | None = None
    """until the plan's structure (tools and sources) was wired: what the user sees first (None: no plan)."""


def run_planner(planner: Planner, session: AttachedSession, request: str) -> tuple[PlanOutcome, Timing]:
    started = time.perf_counter()
    wired: list[float] = []
    outcome = planner.plan(session, request, on_structure=lambda _steps: wired.append(time.perf_counter() - started))
    seconds = time.perf_counter() - started
    return outcome, Timing(
        seconds=seconds,
        structure_seconds=wired[0] if wired else None,
        attempts=outcome.attempts,
        prompt_tokens=sum(g.prompt_tokens for g in outcome.generations),
        completion_tokens=sum(g.completion_tokens for g in outcome.generations),
        decode_seconds=sum(g.seconds for g in outcome.generations),
        prefill_seconds=sum(g.prompt_seconds for g in outcome.generations),
        prefill_tokens=sum(g.prompt_read for g in outcome.generations),
    )


@dataclass
class LatencySummary:
    median: float
    p90: float
    mean: float
    tokens_per_second: float
    total_completion_tokens: int
    count: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def summarise_latency(timings: Sequence[Timing]) -> LatencySummary:
    seconds = [t.seconds for t in timings]
    tokens = sum(t.completion_tokens for t in timings)
    decode = sum(t.decode_seconds for t in timings)
    return LatencySummary(
        median=percentile(seconds, 50),
        p90=percentile(seconds, 90),
        mean=sum(seconds) / len(seconds) if seconds else 0.0,
        tokens_per_second=tokens / decode if decode else 0.0,
        total_completion_tokens=tokens,
        count=len(seconds),
    )


def timing_dict(timing: Timing) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(timing).items()}
