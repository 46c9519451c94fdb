"""Today's planner code on a finished TaskBench run's recorded answers, without the model.

A run of the whole dev split costs 90 minutes of CPU; most planner changes (how an answer is
read, checked against its subtasks, mended, wired or bridged) change what the code does with the
model's answers, not the answers. This serves each request's recorded answers (``raw``) back in
order to a planner built as the run's was (same examples, same options) and scores the plan's
structure (tools and sources, before arguments), so a change is measured on all requests in a
minute. A request whose replay needs an answer the run did not record (it now re-asks where the
run did not, or the reverse) is *diverged*: it is scored as run and counted, so the figure is a
replay where it can be and says how much it cannot.

    .venv/bin/python -m bench.replay bench/results/v5/taskbench_dev_full_offtask.jsonl
    .venv/bin/python -m bench.replay --product bench/results/v4/product_meant.jsonl

``--product`` replays a ``bench.product`` run turn by turn (arguments included) and judges it
as that bench does. Where today's code changes the prompt (a new reference note, the artifact
list) the model would have answered something else: the replay shows what the code does with
the answers it had, not a new run.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agent.llm.fake import FakeBackend, ScriptExhausted
from agent.planner import Planner, PlannerOptions
from bench import eval_dir
from bench import product as pr
from bench import taskbench as tb
from bench.common import AttachedSession, mentioned_files, plan_nodes
from bench.metrics import Counts
from bench.registries import label_of
from graphs.plan import Step

TYPES = ("single", "chain", "dag")


class _Wired(Exception):
    """A signal, not an error: the structure is all a replay scores."""

    def __init__(self, steps: list[tuple[str, str, list[str]]]):
        super().__init__("structure wired")
        self.steps = steps


@dataclass
class Replayed:
    row: dict[str, Any]
    predicted: list[dict[str, Any]]
    diverged: bool


def replay_one(planner: Planner, row: dict[str, Any]) -> Replayed:
    """The structure today's code makes of ``row``'s recorded answers, or the run's nodes if the
    replay asks for an answer that was not recorded."""
    planner.backend = FakeBackend(list(row.get("raw") or []), name="replay")
    session = AttachedSession(mentioned_files(row["request"]))

    def stop(steps: list[tuple[str, str, list[str]]]) -> None:
        raise _Wired(steps)

    try:
        outcome = planner.plan(session, row["request"], on_structure=stop)
    except _Wired as wired:
        steps = [Step(id=label, tool=tool, args={f"in{i}": ref for i, ref in enumerate(refs)}) for label, tool, refs in wired.steps]
        return Replayed(row, plan_nodes(steps, planner.registry, session, label_of), diverged=False)
    if outcome.plan is None and row["plan"] == "declined" and not outcome.errors:
        return Replayed(row, [], diverged=False)  # declined again
    return Replayed(row, row["predicted"], diverged=True)


def scores(results: Sequence[Replayed], records: dict[str, dict[str, Any]], bench: tb.Bench, *, as_run: bool) -> dict[str, dict[str, float]]:
    """Node and edge F1 against the records themselves (their ``task_links`` included)."""
    totals = {name: {"node": Counts(), "edge": Counts()} for name in ("overall", *TYPES)}
    for r in results:
        predicted = r.row["predicted"] if as_run else r.predicted
        counts = tb.score_nodes(records[r.row["id"]], predicted, bench).counts
        for name in ("overall", r.row["type"]):
            totals[name]["node"] += counts["node"]
            totals[name]["edge"] += counts["edge"]
    return {name: {m: round(c.f1, 1) for m, c in t.items()} for name, t in totals.items()}


def planner_for(data: Path, tool_desc: Path, options: PlannerOptions, n_examples: int = tb.EXAMPLES, pool_size: int = 40,
                seed: int = 0) -> tuple[Planner, tb.Bench]:
    """The planner ``llmga bench taskbench`` builds with its default pool and examples."""
    bench = tb.Bench.load(tool_desc)
    pool, _ = tb.examples_pool(tb.load_records(data), None, pool_size, seed)
    examples = tb.choose_examples(pool, bench, n_examples)
    return Planner(FakeBackend([]), bench.registry, max_attempts=3, max_tokens=384, examples_data=examples, options=options), bench


class _Turns:
    """One backend for a whole product run, given each turn's recorded answers before it plans."""

    name = "replay"

    def __init__(self) -> None:
        self.fake = FakeBackend([])
        self.exhausted = False

    def load(self, answers: list[str]) -> None:
        self.fake, self.exhausted = FakeBackend(answers, name=self.name), False

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.fake.generate(*args, **kwargs)
        except ScriptExhausted:
            self.exhausted = True
            raise


def replay_product(path: Path, data: Path = pr.REQUESTS) -> tuple[list[pr.TurnResult], list[dict[str, Any]], list[str]]:
    """(turns judged today, turns as run, the turns that diverged: scored as run, as ``id#turn``)."""
    from tools.registry import load_registry

    rows = {(r["conversation"], r["turn"]): r for r in (json.loads(x) for x in path.read_text().splitlines() if x.strip())}
    conversations = [c for c in yaml.safe_load(data.read_text()) if any((c["id"], 1) == k for k in rows)]
    backend = _Turns()
    turns = pr.run(conversations, load_registry(), backend)
    results, as_run, diverged = [], [], []
    for conversation in conversations:
        for number in range(1, len(conversation["turns"]) + 1):
            row = rows[(conversation["id"], number)]
            backend.load(list(row.get("raw") or []))
            result = next(turns)
            if backend.exhausted:
                diverged.append(f"{conversation['id']}#{number}")
                result = pr.TurnResult(**{k: row[k] for k in pr.TurnResult.__dataclass_fields__ if k in row})
            results.append(result)
            as_run.append(row)
    return results, as_run, diverged


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--product", action="store_true", help="the file is a bench.product run")
    parser.add_argument("--data", type=Path, default=None, help="the dev.jsonl (or product.yaml) the run scored (default: the eval dir's / ours)")
    parser.add_argument("--examples", type=int, default=tb.EXAMPLES, help="the in-context examples the run showed (v9 and before: 6)")
    parser.add_argument("--describe", action="store_true", help="the run described the tools its examples leave out (v11 on)")
    parser.add_argument("--changed", action="store_true", help="list the requests whose nodes differ from the run's")
    parser.add_argument("--off", action="append", default=[], metavar="OPTION",
                        help="a PlannerOptions switch turned off for this replay (an ablation row: --off called)")
    parser.add_argument("--folds", type=int, default=0, help="also score each of N seeded parts of the requests on its own")
    args = parser.parse_args(argv)
    if args.product:
        results, as_run, diverged = replay_product(args.results, args.data or pr.REQUESTS)
        print(f"{len(results)} turns replayed; {len(diverged)} diverged (scored as run): {', '.join(diverged) or '-'}")
        print(f"as run   {sum(r['right'] for r in as_run)}/{len(as_run)} right")
        print(f"replayed {sum(r.right for r in results)}/{len(results)} right")
        for then, now in zip(as_run, results, strict=True):
            if then["right"] != now.right or (args.changed and then["tools"] != now.tools):
                print(f"{now.conversation}#{now.turn}: {'right' if then['right'] else 'wrong'} -> {'right' if now.right else 'wrong'} "
                      f"{then['tools']} -> {now.tools} {'; '.join(now.problems)}")
        return 0
    data = args.data or eval_dir() / "taskbench_multimedia" / "dev.jsonl"
    unknown = [name for name in args.off if not isinstance(getattr(PlannerOptions(), name, None), bool)]
    if unknown:
        parser.error(f"not a PlannerOptions switch: {', '.join(unknown)}")
    options = PlannerOptions(describe_unshown=args.describe, **dict.fromkeys(args.off, False))
    planner, bench = planner_for(data, data.parent / "tool_desc.json", options, n_examples=args.examples)
    records = {r["id"]: r for r in tb.load_records(data)}
    rows = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    results = [replay_one(planner, row) for row in rows]
    diverged = sum(r.diverged for r in results)
    changed = [r for r in results if [n["task"] for n in r.predicted] != [n["task"] for n in r.row["predicted"]]]
    print(f"{len(rows)} requests replayed; {diverged} diverged (scored as run); {len(changed)} with other nodes than the run's")
    for label, as_run in (("as run", True), ("replayed", False)):
        figures = scores(results, records, bench, as_run=as_run)
        print(f"{label:<9} " + "  ".join(f"{k} {v['node']}/{v['edge']}" for k, v in figures.items()) + "   (node/edge F1)")
    for k, part in enumerate(tb.folds([r.row for r in results], args.folds) if args.folds else [], 1):
        ids = {row["id"] for row in part}
        these = [r for r in results if r.row["id"] in ids]
        figures = {label: scores(these, records, bench, as_run=as_run)["overall"] for label, as_run in (("as run", True), ("replayed", False))}
        print(f"part {k} of {args.folds} ({len(these)}): " + "  ".join(f"{label} {v['node']}/{v['edge']}" for label, v in figures.items()))
    if args.changed:
        for r in changed:
            print(f"{r.row['id']} {r.row['type']}: gold {[n['task'] for n in r.row['gold']]}\n"
                  f"    run  {[n['task'] for n in r.row['predicted']]}\n    now  {[n['task'] for n in r.predicted]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
