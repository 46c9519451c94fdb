"""Our own multi-turn requests (bench/requests/product.yaml) planned as a user's turns would be.

Each turn starts from the artifacts it lists (metadata only: planning reads no pixels), with the
earlier turns as history and the same reference notes the agent's intake adds ("the second one"
-> image-2). The plan is scored on what a correct plan must do: the right tool families, the
right artifacts as inputs, no unrequested steps, and a plain refusal where nothing can do it.

    .venv/bin/python -m bench.product --out bench/results/product.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from agent.planner import Planner, PlannerOptions, PlanOutcome
from agent.references import mention_note, resolve_mentions
from bench.common import AttachedSession
from bench.metrics import percentile
from graphs.plan import ArtifactRef, parse_ref
from tools.artifacts import EXTENSION, Artifact, Kind
from tools.llm.protocol import LLMBackend
from tools.registry import Registry

REQUESTS = Path(__file__).parent / "requests" / "product.yaml"


class ListedSession(AttachedSession):
    """A session holding the listed artifacts as metadata (``"image-2 upscale: a black cat"``).

    ``"image-3 controlnet.condition: edges"`` names the tool output it was stored as (the kind
    when left out); lines in a row from one tool with different outputs are one step's outputs,
    siblings, as the executor stores them (imports are each their own).
    """

    def __init__(self, lines: Sequence[str]):
        super().__init__([])
        rows = []
        for line in lines:
            head, _, prompt = line.partition(": ")
            artifact_id, made = head.split()
            kind = Kind(artifact_id.rsplit("-", 1)[0])
            tool, _, output = made.partition(".")
            rows.append((artifact_id, kind, tool, output or kind.value, prompt, line))
        steps: list[list[int]] = []
        for k, (_, _, tool, output, _, _) in enumerate(rows):
            step = steps[-1] if steps else []
            if step and rows[step[0]][2] == tool != "import" and output not in {rows[i][3] for i in step}:
                step.append(k)
            else:
                steps.append([k])
        for step in steps:
            for k in step:
                artifact_id, kind, tool, output, prompt, line = rows[k]
                self._artifacts[artifact_id] = Artifact(
                    id=artifact_id, kind=kind, file=f"{artifact_id}{EXTENSION[kind]}", tool=tool,
                    args={"prompt": prompt} if prompt else {}, created_at=datetime(2026, 1, 1, tzinfo=UTC),
                    sha256=hashlib.sha256(line.encode()).hexdigest(), meta={"output": output},
                    siblings=[rows[i][0] for i in step if i != k],
                )


@dataclass
class TurnResult:
    conversation: str
    turn: int
    request: str
    right: bool
    problems: list[str]
    tools: list[str]
    refs: list[str]
    reply: str
    valid: bool
    seconds: float
    structure_seconds: float | None
    attempts: int
    completion_tokens: int
    errors: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def judge(turn: dict[str, Any], outcome: PlanOutcome) -> tuple[list[str], list[str], list[str]]:
    """(problems, tools used, artifacts referred to); no problems means the turn is right."""
    steps = outcome.plan.steps if outcome.plan is not None else []
    tools = [s.tool for s in steps]
    refs = sorted({str(r.id) for s in steps for v in s.args.values() if isinstance(r := _ref(v), ArtifactRef)})
    problems: list[str] = []
    if turn.get("cannot"):
        if steps:
            problems.append(f"planned {tools} for a request no tool can do")
        elif not outcome.reply or outcome.reply.startswith(("I could not make", "The planner model failed")):
            problems.append(f"no plain refusal: {outcome.reply!r}")
        return problems, tools, refs
    if outcome.plan is None:
        return [f"no plan: {outcome.reply}"], tools, refs
    groups = [list(g) for g in turn.get("uses", [])]
    for group in groups:
        if not set(group) & set(tools):
            problems.append(f"uses none of {group}")
        elif (times := sum(t in group for t in tools)) > turn.get("times", 1):
            problems.append(f"uses {group} {times} times")  # two pictures for one asked is an unrequested step too
    if turn.get("only", True):
        allowed = {t for g in groups for t in g} | set(turn.get("also", []))
        extra = sorted(set(tools) - allowed)
        if extra:
            problems.append(f"unrequested {extra}")
    for want in turn.get("refers", []):
        if want not in refs:
            problems.append(f"does not use {want}")
    for avoid in turn.get("avoid_refs", []):
        if avoid in refs:
            problems.append(f"uses {avoid}")
    return problems, tools, refs


def _ref(value: Any) -> Any:
    try:
        return parse_ref(value)
    except ValueError:
        return None


def run(conversations: Sequence[dict[str, Any]], registry: Registry, backend: LLMBackend, *,
        options: PlannerOptions | None = None, attempts: int = 3) -> Iterator[TurnResult]:
    planner = Planner(backend, registry, max_attempts=attempts, options=options)
    for conversation in conversations:
        history: list[BaseMessage] = []
        for number, turn in enumerate(conversation["turns"], 1):
            session = ListedSession(turn.get("artifacts", []))
            shown = session.artifacts()
            mentions, unknown = resolve_mentions(turn["request"], shown)
            notes = [n for n in [mention_note(mentions)] if n]
            if unknown:
                notes.append(f"Note: {', '.join(unknown)} do not exist in this conversation.")
            started = time.perf_counter()
            outcome = planner.plan(session, turn["request"], history=history, notes=notes)
            seconds = time.perf_counter() - started
            problems, tools, refs = judge(turn, outcome)
            yield TurnResult(
                conversation["id"], number, turn["request"], not problems, problems, tools, refs, outcome.reply,
                outcome.ok, round(seconds, 2), None if outcome.structure_seconds is None else round(outcome.structure_seconds, 2),
                outcome.attempts, sum(g.completion_tokens for g in outcome.generations), outcome.errors,
                [g.text for g in outcome.generations],
            )
            history += [HumanMessage(turn["request"]), AIMessage(outcome.reply)]


def summarise(results: Sequence[TurnResult]) -> dict[str, Any]:
    seconds = [r.seconds for r in results]
    structure = [r.structure_seconds for r in results if r.structure_seconds is not None]
    plannable = [r for r in results if not r.problems or r.valid or r.tools]
    return {
        "turns": len(results),
        "right": sum(r.right for r in results),
        "right_pct": round(100 * sum(r.right for r in results) / max(len(results), 1), 1),
        "valid_or_refused": sum(r.valid or (not r.tools and not r.reply.startswith("I could not")) for r in results),
        "retried": sum(r.attempts > 2 for r in results),
        "median_s": round(percentile(seconds, 50), 2) if seconds else None,
        "p90_s": round(percentile(seconds, 90), 2) if seconds else None,
        "structure_median_s": round(percentile(structure, 50), 2) if structure else None,
        "n_plannable": len(plannable),
    }


def main(argv: Sequence[str] | None = None) -> int:
    from agent.llm.factory import get_backend
    from tools.registry import load_registry

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REQUESTS)
    parser.add_argument("--planner", default="embedded")
    parser.add_argument("--out", type=Path, default=Path("bench/results/product.jsonl"))
    parser.add_argument("--single", action="store_true", help="one full-plan answer (the earlier planner)")
    parser.add_argument("--no-wire", action="store_true")
    parser.add_argument("--no-tasks", action="store_true", help="no subtasks in words before the steps")
    parser.add_argument("--no-bridge", action="store_true", help="no converter steps from the tool graph")
    parser.add_argument("--repeats-only", action="store_true", help="mend only steps off their subtask that repeat a tool")
    parser.add_argument("--tool-first", action="store_true", help="each step names its tool, then its sources")
    parser.add_argument("--no-provenance", action="store_true", help="no newest-artifact default, no mask-to-its-picture rule")
    parser.add_argument("--no-make-missing", action="store_true", help="no generator step for a required input nothing makes")
    parser.add_argument("--all-params", action="store_true", help="offer every parameter in the arguments answer (steps, guidance... too)")
    parser.add_argument("--no-outside", action="store_true", help="the model decides requests for effects outside the session (post, print)")
    parser.add_argument("--no-offered", action="store_true", help="offer the layout tools for every request, placement words or not")
    parser.add_argument("--no-fold-restyle", action="store_true", help="keep a restyle of a picture the plan just drew from text")
    parser.add_argument("--shortlist", type=int, default=6, help="each step's tool among the N closest to its subtask (0: one answer)")
    parser.add_argument("--parts", action="store_true", help="name the tools the request's parts read closest to (MiniLM) with the request")
    parser.add_argument("--only", help="comma-separated conversation ids")
    args = parser.parse_args(argv)
    conversations = yaml.safe_load(args.data.read_text())
    if args.only:
        conversations = [c for c in conversations if c["id"] in args.only.split(",")]
    options = PlannerOptions(two_part=not args.single, wire_by_type=not args.no_wire, tasks=not args.no_tasks, bridge=not args.no_bridge,
                             shortlist=args.shortlist, off_task=not args.repeats_only, tool_first=args.tool_first, provenance=not args.no_provenance,
                             knobs_named=not args.all_params, make_missing=not args.no_make_missing, outside=not args.no_outside,
                             offered=not args.no_offered, fold_restyle=not args.no_fold_restyle, parts=args.parts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.unlink(missing_ok=True)
    results = []
    for result in run(conversations, load_registry(), get_backend(args.planner), options=options):
        results.append(result)
        with args.out.open("a") as out:
            out.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")
        mark = "ok " if result.right else "BAD"
        print(f"{mark} {result.conversation}#{result.turn} {result.seconds:5.1f}s {result.tools} {'; '.join(result.problems)}", file=sys.stderr)
    summary = summarise(results)
    args.out.with_suffix(".summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
