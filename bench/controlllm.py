"""ControlLLM tool100: does the plan use the right kinds of tools, in the right order, on the
user's files?

The gold answer lists *subtasks*, each tagged with tool domains (``image-perception``,
``image-editing``, ...), dependencies (``dep``: ``-1`` none, ``k`` subtask k) and typed
arguments. Our plans are scored at that level:

- **domain F1**: micro F1 between the set of gold domains and the domains of the planned tools;
- **dependency recall**: of the gold dependencies ``i -> j``, the share realised by the plan (a
  step of a domain of ``j`` depends, directly or not, on a step of a domain of ``i``), and the
  share of requests with dependencies where all are realised;
- **argument-type accuracy**: of the gold arguments that are the user's files, the share the plan
  consumes as an artifact input of the right kind (image, video, audio, ...).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from agent.planner import Planner, PlannerOptions
from bench.common import (
    AttachedSession,
    Timing,
    mentioned_files,
    predicted_steps,
    run_planner,
    summarise_latency,
    timing_dict,
)
from bench.metrics import Counts, set_counts
from bench.registries import controlllm_registry, kind_of
from graphs.plan import ArtifactRef, StepRef, parse_ref
from tools.errors import ConfigError
from tools.llm.protocol import LLMBackend
from tools.registry import Registry

LEVELS = ("easy", "medium", "hard")
SOLUTION = re.compile(r"<Solution>(.*)</Solution>", re.DOTALL)


def load_registry(path: Path) -> Registry:
    return controlllm_registry(path)


def load_records(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}") from None


def sample(records: Sequence[dict[str, Any]], limit: int | None, seed: int = 0) -> list[dict[str, Any]]:
    """``limit`` records spread over the task types and levels (seeded; file order kept)."""
    if not limit or limit >= len(records):
        return list(records)
    rank = {id(r): hashlib.sha256(f"{seed}:{r['instruction']}".encode()).hexdigest() for r in records}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: rank[id(r)]):
        groups.setdefault((record["level"], record["type"]), []).append(record)
    chosen: list[dict[str, Any]] = []
    while len(chosen) < limit:
        for group in groups.values():
            if group and len(chosen) < limit:
                chosen.append(group.pop(0))
    keep = {id(r) for r in chosen}
    return [r for r in records if id(r) in keep]


def gold_subtasks(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``<Solution>`` list; ``task`` always a list of domains."""
    match = SOLUTION.search(record["output"])
    if not match:
        return []
    body = match.group(1)
    try:
        subtasks = json.loads(body)
    except json.JSONDecodeError:
        subtasks = ast.literal_eval(body)
    for subtask in subtasks:
        if isinstance(subtask["task"], str):
            subtask["task"] = [subtask["task"]]
    return subtasks


def gold_dependencies(subtasks: Sequence[dict[str, Any]]) -> list[tuple[int, int]]:
    ids = {s["id"] for s in subtasks}
    return [(int(d), s["id"]) for s in subtasks for d in s.get("dep", []) if int(d) >= 0 and int(d) in ids]


def gold_files(record: dict[str, Any], subtasks: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
    """(file name, kind) of every gold argument that is a file the user named."""
    named = {name for name, _ in mentioned_files(record["instruction"])}
    out = set()
    for subtask in subtasks:
        for arg in subtask.get("args", []):
            value = str(arg.get("value", ""))
            if value in named:
                out.add((value, kind_of(str(arg.get("type", "text"))).value))
    return out


@dataclass
class Result:
    record: dict[str, Any]
    predicted_domains: set[str]
    gold_domains: set[str]
    domains: Counts
    deps_total: int
    deps_realised: int
    files_total: int
    files_used: int
    source: str
    timing: Timing
    steps: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    """The model's answers as written, in order: what a replay of today's code on this run needs."""

    def as_json(self) -> dict[str, Any]:
        return {
            "instruction": self.record["instruction"],
            "level": self.record["level"],
            "type": self.record["type"],
            "gold_domains": sorted(self.gold_domains),
            "predicted_domains": sorted(self.predicted_domains),
            "domains": {"tp": self.domains.tp, "fp": self.domains.fp, "fn": self.domains.fn},
            "dependencies": [self.deps_realised, self.deps_total],
            "files": [self.files_used, self.files_total],
            "plan": self.source,
            "steps": self.steps,
            "timing": timing_dict(self.timing),
            "errors": self.errors,
            "raw": self.raw,
        }


def score(record: dict[str, Any], steps: Sequence[Any], registry: Registry, session: AttachedSession) -> dict[str, Any]:
    subtasks = gold_subtasks(record)
    domain_of = {s.id: getattr(registry.get(s.tool), "domain", "") for s in steps if s.tool in registry}
    graph = nx.DiGraph()
    graph.add_nodes_from(domain_of)
    used: set[tuple[str, str]] = set()
    for step in steps:
        tool = registry.get(step.tool) if step.tool in registry else None
        for name, value in step.args.items():
            try:
                ref = parse_ref(value)
            except ValueError:
                continue
            if isinstance(ref, StepRef) and ref.step in domain_of and step.id in domain_of:
                graph.add_edge(ref.step, step.id)
            elif isinstance(ref, ArtifactRef) and session.exists(ref.id) and tool is not None and name in tool.inputs:
                artifact = session.get(ref.id)
                if tool.inputs[name].kind == artifact.kind:
                    used.add((artifact.args["source"], artifact.kind.value))
    gold_domains = {d for s in subtasks for d in s["task"]}
    predicted_domains = set(domain_of.values())
    by_id = {s["id"]: set(s["task"]) for s in subtasks}
    deps = gold_dependencies(subtasks)
    realised = 0
    for source, target in deps:
        starts = [n for n, d in domain_of.items() if d in by_id[source]]
        ends = [n for n, d in domain_of.items() if d in by_id[target]]
        if any(a != b and nx.has_path(graph, a, b) for a in starts for b in ends):
            realised += 1
    files = gold_files(record, subtasks)
    return {
        "gold_domains": gold_domains,
        "predicted_domains": predicted_domains,
        "domains": set_counts(gold_domains, predicted_domains),
        "deps_total": len(deps),
        "deps_realised": realised,
        "files_total": len(files),
        "files_used": len(files & used),
    }


def run(records: Sequence[dict[str, Any]], registry: Registry, backend: LLMBackend, *, max_attempts: int = 3, max_tokens: int = 384,
        options: PlannerOptions | None = None) -> Iterator[Result]:
    """No in-context examples: ControlLLM has no held-out split of its own here, and the
    packaged product examples name tools this registry does not have."""
    planner = Planner(backend, registry, max_attempts=max_attempts, max_tokens=max_tokens, examples_text="", options=options or PlannerOptions())
    for record in records:
        session = AttachedSession(mentioned_files(record["instruction"]))
        outcome, timing = run_planner(planner, session, record["instruction"])
        steps, source = predicted_steps(outcome)
        figures = score(record, steps, registry, session)
        yield Result(record, source=source, timing=timing, steps=[s.model_dump() for s in steps], errors=outcome.errors,
                     raw=[g.text for g in outcome.generations], **figures)


def summarise(results: Sequence[Result]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, group in {"overall": list(results), **{lvl: [r for r in results if r.record["level"] == lvl] for lvl in LEVELS}}.items():
        counts = Counts()
        for r in group:
            counts = counts + r.domains
        deps_total = sum(r.deps_total for r in group)
        with_deps = [r for r in group if r.deps_total]
        files_total = sum(r.files_total for r in group)
        out[name] = {
            "n": len(group),
            "domain_f1": round(counts.f1, 2),
            "dependency_recall": round(100.0 * sum(r.deps_realised for r in group) / deps_total, 2) if deps_total else None,
            "dependency_all_correct": round(100.0 * sum(r.deps_realised == r.deps_total for r in with_deps) / len(with_deps), 2) if with_deps else None,
            "argument_type_accuracy": round(100.0 * sum(r.files_used for r in group) / files_total, 2) if files_total else None,
        }
    latency = summarise_latency([r.timing for r in results])
    out["latency"] = {"median_s": round(latency.median, 2), "p90_s": round(latency.p90, 2), "tokens_per_s": round(latency.tokens_per_second, 1)}
    out["plans"] = {s: sum(r.source == s for r in results) for s in ("valid", "invalid", "unparsed", "none")}
    return out


def table(summary: dict[str, Any]) -> str:
    def cell(value: float | None) -> str:
        return f"{value:>9.2f}" if value is not None else f"{'-':>9}"

    lines = [f"{'level':<8} {'n':>4} {'domain F1':>9} {'dep rec':>9} {'dep all':>9} {'arg type':>9}"]
    for name in ("overall", *LEVELS):
        row = summary[name]
        if row["n"]:
            lines.append(f"{name:<8} {row['n']:>4} {cell(row['domain_f1'])} {cell(row['dependency_recall'])} "
                         f"{cell(row['dependency_all_correct'])} {cell(row['argument_type_accuracy'])}")
    lat = summary["latency"]
    lines.append(f"latency per request: median {lat['median_s']:.2f} s, p90 {lat['p90_s']:.2f} s; decode {lat['tokens_per_s']:.1f} tokens/s")
    lines.append(f"plans: {summary['plans']}")
    return "\n".join(lines)


def write_jsonl(results: Sequence[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r.as_json(), ensure_ascii=False) + "\n" for r in results))
