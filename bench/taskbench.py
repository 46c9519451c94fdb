"""TaskBench (multimedia tools): run the planner on each request and score it like evaluate.py.

In-context examples are never drawn from the requests being scored: ``split`` holds out a fixed,
seeded sample of the file as the example pool and scores the rest. From the pool a few examples
are chosen to cover single / chain / DAG requests and as many tools as possible; they are
converted into our plan format and checked with ``bind`` like any plan, so an example the
planner could not itself write is never shown.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.catalogue import artifact_line
from agent.planner import Planner, PlannerOptions, PlanOutcome, parse_plan
from bench.common import (
    AttachedSession,
    Timing,
    mentioned_files,
    plan_nodes,
    predicted_steps,
    run_planner,
    summarise_latency,
    timing_dict,
)
from bench.metrics import (
    METRICS,
    Counts,
    RequestScore,
    arguments_of,
    micro,
    node_ref,
    normalise_gold,
    percentile,
    score_request,
    task_graph,
)
from bench.registries import label_of, taskbench_registry
from graphs.plan import Plan, Step, bind
from tools.artifacts import Kind
from tools.errors import ConfigError, PlanError
from tools.llm.protocol import Generation, LLMBackend
from tools.registry import Registry

#: Published multimedia-domain node F1 / edge F1 (TaskBench README), for the comparison table.
PUBLISHED: dict[str, tuple[float, float]] = {
    "gpt-4": (90.90, 69.27),
    "claude-2": (80.94, 53.01),
    "gpt-3.5-turbo": (72.83, 44.02),
    "codellama-13b": (62.78, 24.61),
    "vicuna-13b-v1.5": (60.61, 14.78),
    "codellama-7b": (53.29, 14.76),
    "vicuna-7b-v1.5": (46.06, 4.26),
    "llama-2-7b-chat": (26.47, 0.91),
}
SPLITS = ("single", "chain", "dag")
EXAMPLES = 26
"""In-context examples shown by default: every short one of the default 40-request pool. They sit
in the cached system prompt, so a request pays for them only in slower decoding, about 30 % (the
same 92 dev requests: median 11.0 s against 8.4 s with 6). The gain is smaller than it first
looked: +4.6 node F1 on the first 60 requests, +0.5 on the first 92; the whole split, with the
v10 rules as well, 71.6 / 38.4 node / edge F1 against 69.3 / 34.6 (v7, 6 examples)."""


def load_records(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not JSON lines: {exc}") from None


def _rank(record: dict[str, Any], seed: int) -> str:
    return hashlib.sha256(f"{seed}:{record['id']}".encode()).hexdigest()


def split(records: Sequence[dict[str, Any]], pool_size: int, seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(example pool, scored records): a seeded, per-type-proportional hold-out, file order kept."""
    pool_ids: set[str] = set()
    for kind in SPLITS:
        of_kind = sorted((r for r in records if r["type"] == kind), key=lambda r: _rank(r, seed))
        share = round(pool_size * len(of_kind) / max(len(records), 1))
        pool_ids.update(r["id"] for r in of_kind[: max(share, 1 if pool_size and of_kind else 0)])
    pool = [r for r in records if r["id"] in pool_ids]
    return pool, [r for r in records if r["id"] not in pool_ids]


def sample(records: Sequence[dict[str, Any]], limit: int | None, seed: int = 0) -> list[dict[str, Any]]:
    """``limit`` records in the same single/chain/DAG proportions as ``records`` (seeded; file
    order kept), so a short run is a fair miniature of the whole; all of them without a limit."""
    if not limit or limit >= len(records):
        return list(records)
    keep: set[str] = set()
    for kind in SPLITS:
        of_kind = sorted((r for r in records if r["type"] == kind), key=lambda r: _rank(r, seed + 1))
        keep.update(r["id"] for r in of_kind[: round(limit * len(of_kind) / len(records))])
    rest = sorted((r for r in records if r["id"] not in keep), key=lambda r: _rank(r, seed + 1))
    keep.update(r["id"] for r in rest[: max(limit - len(keep), 0)])
    return [r for r in records if r["id"] in keep][:limit]


@dataclass
class Bench:
    """The TaskBench tool list as a registry, plus the maps scoring needs."""

    registry: Registry
    by_label: dict[str, type]
    output_type: dict[str, str]
    names: set[str]

    @classmethod
    def load(cls, tool_desc: Path) -> Bench:
        registry = taskbench_registry(tool_desc)
        nodes = json.loads(Path(tool_desc).read_text())["nodes"]
        output_type = {n["id"]: (n["output-type"][0] if n["output-type"] else "none") for n in nodes}
        return cls(registry, {label_of(t): t for t in registry}, output_type, {n["id"] for n in nodes})


def record_example(record: dict[str, Any], bench: Bench) -> dict[str, Any] | None:
    """A gold record as an in-context example in our plan format, or None if it does not bind."""
    nodes = normalise_gold(record)
    session = AttachedSession(mentioned_files(record["user_request"]))
    tools = [bench.by_label.get(n["task"]) for n in nodes]
    if not nodes or None in tools:
        return None
    ids: list[str] = []
    for tool in tools:
        base = tool.name[:24]
        ids.append(base if base not in ids else f"{base}_{sum(i.startswith(base) for i in ids) + 1}")
    steps = []
    for index, (node, tool) in enumerate(zip(nodes, tools, strict=True)):
        slots = list(tool.slots)
        if len(arguments_of(node)) != len(slots):
            return None
        args: dict[str, Any] = {}
        for slot, argument in zip(slots, arguments_of(node), strict=True):
            ref = node_ref(argument)
            if ref is not None:
                if not 0 <= ref < index:
                    return None
                source = tools[ref]
                output = next(iter(source.outputs))
                args[slot.name] = f"${{{ids[ref]}.{output}}}"
            elif slot.kind is Kind.TEXT:
                if str(argument) in session.by_source:
                    return None  # the gold "downloads" a file the user attached: a poor example to show
                args[slot.name] = str(argument)
            elif str(argument) in session.by_source:
                args[slot.name] = f"${{{session.by_source[str(argument)]}}}"
            else:
                return None
        steps.append({"tool": tool.name, "id": ids[index], "args": args})
    try:
        bind(Plan(steps=[Step(**s) for s in steps]), bench.registry, session)
    except PlanError:
        return None
    names = [s["tool"] for s in steps]
    reply = "I will use " + ", then ".join(names) + "."
    return {
        "artifacts": [artifact_line(a).removeprefix("- ") for a in session.artifacts()],
        "request": record["user_request"],
        "plan": {"reply": reply, "steps": steps},
        "id": record["id"],
        "type": record["type"],
    }


def choose_examples(pool: Sequence[dict[str, Any]], bench: Bench, count: int, max_chars: int = 600) -> list[dict[str, Any]]:
    """Up to ``count`` short examples: one per request type first, then the most tools not yet
    shown (shorter first on ties). Short examples keep the cached prompt small."""
    candidates = pool_examples(pool, bench, max_chars)
    chosen: list[dict[str, Any]] = []
    shown: set[str] = set()

    def gain(example: dict[str, Any]) -> tuple[int, int, str]:
        tools = {s["tool"] for s in example["plan"]["steps"]}
        return (len(tools - shown), -len(json.dumps(example["plan"])), example["id"])

    for kind in ("dag", "chain", "single"):
        of_kind = [e for e in candidates if e["type"] == kind and e not in chosen]
        if of_kind and len(chosen) < count:
            best = max(of_kind, key=gain)
            chosen.append(best)
            shown |= {s["tool"] for s in best["plan"]["steps"]}
    while len(chosen) < count and (rest := [e for e in candidates if e not in chosen]):
        # alternate single-tool and multi-tool examples: about half of the requests need one tool,
        # and a prompt of only multi-step examples teaches a small model to add steps
        singles = sum(e["type"] == "single" for e in chosen)
        want_single = singles <= len(chosen) - singles
        preferred = [e for e in rest if (e["type"] == "single") == want_single] or rest
        best = max(preferred, key=gain)
        chosen.append(best)
        shown |= {s["tool"] for s in best["plan"]["steps"]}
    order = {"single": 0, "chain": 1, "dag": 2}
    return sorted(chosen, key=lambda e: order[e["type"]])


def pool_examples(pool: Sequence[dict[str, Any]], bench: Bench, max_chars: int = 600) -> list[dict[str, Any]]:
    """Every pool record that converts into a plan the planner could write, and is short enough to
    show: the pool the planner retrieves each request's closest examples from."""
    return [e for r in pool if (e := record_example(r, bench)) is not None and len(json.dumps(e["plan"])) <= max_chars]


def folds(records: Sequence[dict[str, Any]], n: int, seed: int = 0) -> list[list[dict[str, Any]]]:
    """``n`` seeded, disjoint parts of ``records`` (file order kept in each): score part i with the
    others as the example pool, and every record is scored without ever being shown."""
    order = sorted(records, key=lambda r: _rank(r, seed + 3))
    fold_of = {r["id"]: i % n for i, r in enumerate(order)}
    return [[r for r in records if fold_of[r["id"]] == i] for i in range(n)]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.taskbench folds --n 2 DATA OUT_DIR``: write the fold files that
    ``llmga bench taskbench --data fold_1.jsonl --examples-from fold_2.jsonl`` scores."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.taskbench")
    parser.add_argument("command", choices=["folds"])
    parser.add_argument("data", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--n", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(folds(load_records(args.data), args.n, args.seed), 1):
        path = args.out_dir / f"fold_{i}.jsonl"
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part))
        print(f"{path}: {len(part)} records")
    return 0


@dataclass
class RequestResult:
    record: dict[str, Any]
    predicted: list[dict[str, Any]]
    source: str
    score: RequestScore
    timing: Timing
    errors: list[str] = field(default_factory=list)
    reply: str = ""
    raw: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.record["id"],
            "type": self.record["type"],
            "request": self.record["user_request"],
            "gold": normalise_gold(self.record),
            "predicted": self.predicted,
            "plan": self.source,
            "scores": {name: {"tp": c.tp, "fp": c.fp, "fn": c.fn} for name, c in self.score.counts.items()},
            "timing": timing_dict(self.timing),
            "errors": self.errors,
            "reply": self.reply,
            "raw": self.raw,
        }


def score_nodes(record: dict[str, Any], predicted: list[dict[str, Any]], bench: Bench) -> RequestScore:
    gold = task_graph(normalise_gold(record), bench.output_type, record.get("task_links", []))
    return score_request(gold, task_graph(predicted, bench.output_type), bench.names)


def run(
    records: Sequence[dict[str, Any]],
    bench: Bench,
    backend: LLMBackend,
    *,
    examples: Sequence[dict[str, Any]] = (),
    max_attempts: int = 3,
    max_tokens: int = 384,
    configure: Callable[[Planner], None] | None = None,
    options: PlannerOptions | None = None,
) -> Iterator[RequestResult]:
    """Plan every record with one planner (one stable system prompt: the model's prompt cache
    keeps it between requests) and yield scored results as they come. ``configure`` may adjust
    the planner first (ablations: another schema, none); ``options`` switches the planner's parts."""
    planner = Planner(
        backend, bench.registry, max_attempts=max_attempts, max_tokens=max_tokens,
        examples_data=list(examples), options=options,
    )
    if configure is not None:
        configure(planner)
    for record in records:
        session = AttachedSession(mentioned_files(record["user_request"]))
        outcome, timing = run_planner(planner, session, record["user_request"])
        steps, source = predicted_steps(outcome)
        predicted = plan_nodes(steps, bench.registry, session, label_of)
        yield RequestResult(
            record, predicted, source, score_nodes(record, predicted, bench), timing,
            outcome.errors, outcome.reply, [g.text for g in outcome.generations],
        )


def examples_pool(data: Sequence[dict[str, Any]], examples_from: Sequence[dict[str, Any]] | None, pool_size: int,
                  seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(example pool, scored records). With ``examples_from`` (a separate file) the pool is that
    file and every scored record whose id is in it is left out; without it a seeded share of
    ``data`` is held out as the pool. Either way no request is scored that could be shown."""
    if examples_from is None:
        return split(data, pool_size, seed)
    shown = {r["id"] for r in examples_from}
    return list(examples_from), [r for r in data if r["id"] not in shown]


def first_attempt(result: RequestResult, bench: Bench) -> RequestResult:
    """The same request scored on the model's first answer only: what no retries would give."""
    if result.timing.attempts <= 1:
        return result
    session = AttachedSession(mentioned_files(result.record["user_request"]))
    outcome = PlanOutcome(reply="", generations=[Generation(result.raw[0])])
    try:
        steps = list(parse_plan(result.raw[0]).steps)
        bound = bind(Plan(steps=steps), bench.registry, session)
        by_id = {s.id: s for s in steps}
        steps, source = [by_id[i] for i in bound.order], "valid"
    except PlanError:
        steps, source = predicted_steps(outcome)
    predicted = plan_nodes(steps, bench.registry, session, label_of)
    first = Timing(attempts=1)
    return RequestResult(result.record, predicted, source, score_nodes(result.record, predicted, bench), first, result.errors[:1], "", result.raw[:1])


def summarise(results: Sequence[RequestResult]) -> dict[str, Any]:
    """Micro-averaged F1 per metric, overall and per request type, and latency."""
    groups: dict[str, list[RequestResult]] = {"overall": list(results)}
    for kind in SPLITS:
        groups[kind] = [r for r in results if r.record["type"] == kind]
    out: dict[str, Any] = {}
    for name, group in groups.items():
        totals: dict[str, Counts] = micro(r.score for r in group)
        out[name] = {"n": len(group), **{m: round(totals[m].f1, 2) for m in METRICS}}
    latency = summarise_latency([r.timing for r in results])
    out["latency"] = {
        "median_s": round(latency.median, 2),
        "p90_s": round(latency.p90, 2),
        "mean_s": round(latency.mean, 2),
        "tokens_per_s": round(latency.tokens_per_second, 1),
        "median_decode_s": round(percentile([r.timing.decode_seconds for r in results], 50), 2),
        "median_prefill_s": round(percentile([r.timing.prefill_seconds for r in results], 50), 2),
    }
    wired = [r.timing.structure_seconds for r in results if r.timing.structure_seconds is not None]
    if wired:  # runs before v15 did not record it
        out["latency"] |= {"structure_median_s": round(percentile(wired, 50), 2), "structure_p90_s": round(percentile(wired, 90), 2),
                           "structure_within_3s": sum(w <= 3.0 for w in wired), "structured": len(wired)}
    out["plans"] = {s: sum(r.source == s for r in results) for s in ("valid", "invalid", "unparsed", "none")}
    out["retried"] = sum(r.timing.attempts > 1 for r in results)
    return out


def table(summary: dict[str, Any], label: str) -> str:
    """Our figures by request type beside the published multimedia results."""
    lines = [
        f"{'system':<34} {'n':>4} {'node F1':>8} {'edge F1':>8} {'t-F1':>7} {'v-F1':>7}",
    ]
    for name in ("overall", *SPLITS):
        row = summary[name]
        if row["n"]:
            lines.append(
                f"{label + ' [' + name + ']':<34} {row['n']:>4} {row['node']:>8.2f} {row['edge']:>8.2f} {row['arg_name']:>7.2f} {row['arg_value']:>7.2f}"
            )
    lines.append("published (TaskBench README, multimedia, full test set):")
    for model, (node, edge) in PUBLISHED.items():
        lines.append(f"  {model:<32} {'':>4} {node:>8.2f} {edge:>8.2f}")
    lat = summary["latency"]
    lines.append(
        f"latency per request: median {lat['median_s']:.2f} s, p90 {lat['p90_s']:.2f} s, mean {lat['mean_s']:.2f} s; "
        f"decode {lat['tokens_per_s']:.1f} tokens/s; medians: decoding {lat.get('median_decode_s', 0):.2f} s, "
        f"reading uncached prompt {lat.get('median_prefill_s', 0):.2f} s"
    )
    if "structure_median_s" in lat:
        lines.append(f"plan structure on screen: median {lat['structure_median_s']:.2f} s, p90 {lat['structure_p90_s']:.2f} s; "
                     f"within 3 s for {lat['structure_within_3s']} of {lat['structured']}")
    plans = summary["plans"]
    lines.append(
        f"plans: {plans['valid']} valid, {plans['invalid']} invalid (scored as written), {plans['unparsed']} unparsed, "
        f"{plans['none']} declined; {summary['retried']} needed a retry"
    )
    return "\n".join(lines)


def write_jsonl(results: Sequence[RequestResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r.as_json(), ensure_ascii=False) + "\n" for r in results))


def append_jsonl(result: RequestResult, path: Path) -> None:
    """One more line, written at once: a long run that stops early keeps what it measured."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")


ProgressFn = Callable[[int, int, RequestResult], None]


def summarise_jsonl(path: Path, ids: set[str] | None = None) -> dict[str, Any]:
    """The summary of a per-request JSONL (a partial run too), optionally over ``ids`` only:
    micro F1 from the stored counts, plans by outcome, latency."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    rows = [r for r in rows if ids is None or r["id"] in ids]
    out: dict[str, Any] = {}
    for name in ("overall", *SPLITS):
        group = [r for r in rows if name == "overall" or r["type"] == name]
        row: dict[str, Any] = {"n": len(group)}
        for metric in METRICS:
            tp = sum(r["scores"][metric]["tp"] for r in group)
            fp = sum(r["scores"][metric]["fp"] for r in group)
            fn = sum(r["scores"][metric]["fn"] for r in group)
            row[metric] = round(100 * 2 * tp / (2 * tp + fp + fn), 2) if tp else 0.0
        out[name] = row
    seconds = sorted(r["timing"]["seconds"] for r in rows)
    out["latency"] = {"median_s": round(percentile(seconds, 50), 2), "p90_s": round(percentile(seconds, 90), 2)} if seconds else {}
    out["plans"] = {s: sum(r["plan"] == s for r in rows) for s in ("valid", "invalid", "unparsed", "none")}
    out["answers"] = dict(sorted(Counter(r["timing"]["attempts"] for r in rows).items()))  # model answers per request
    return out


if __name__ == "__main__":
    raise SystemExit(main())
