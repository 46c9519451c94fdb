"""How much of TaskBench's node F1 the subtasks carry that the steps lose.

Re-scores a finished ``llmga bench taskbench`` JSONL without running the model: for each request
the first structure answer (``raw[0]``) is read again, and its subtasks are mapped to tools the
way the planner's subtask check does (the tool a subtask names, else the closest by MiniLM).
Printed beside the scores as run, it bounds what mending steps from their subtasks can gain
before a run is spent on it (a steps-side fix cannot beat subtasks that are themselves wrong).

    .venv/bin/python -m bench.subtask_rescore bench/results/v4/taskbench_dev_full.jsonl
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.retrieval import ToolRanker
from bench import eval_dir
from bench.metrics import Counts, set_counts
from bench.registries import label_of, taskbench_registry

TYPES = ("single", "chain", "dag")


def first_answer(row: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads((row.get("raw") or ["{}"])[0])
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def node_f1(rows: list[dict[str, Any]], predict: Callable[[dict[str, Any]], list[str]], labels: set[str]) -> dict[str, float]:
    totals = {name: Counts() for name in ("overall", *TYPES)}
    for row in rows:
        counts = set_counts([n["task"] for n in row["gold"]], predict(row), labels)
        totals["overall"] += counts
        totals[row["type"]] += counts
    return {name: round(c.f1, 1) for name, c in totals.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--tools", type=Path, default=None, help="tool_desc.json (default: the eval dir's)")
    args = parser.parse_args(argv)
    registry = taskbench_registry(args.tools or eval_dir() / "taskbench_multimedia" / "tool_desc.json")
    label = {tool.name: label_of(tool) for tool in registry}
    ranker = ToolRanker(registry)
    rows = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]

    def as_run(row: dict[str, Any]) -> list[str]:
        return [n["task"] for n in row["predicted"]]

    def subtasks(row: dict[str, Any]) -> list[str]:
        tasks = [str(t) for t in first_answer(row).get("tasks") or []]
        if not tasks:
            return as_run(row)
        return [label[(ranker.named(t) or ranker.rank(t))[0]] for t in tasks]

    labels = set(label.values())
    named = sum(1 for r in rows if (t := first_answer(r).get("tasks")) and all(ranker.named(str(x)) for x in t))
    print(f"{len(rows)} requests; {named} whose subtasks all name a tool")
    for name, predict in (("steps as run", as_run), ("subtasks' tools", subtasks)):
        print(f"{name:<16} node F1 " + "  ".join(f"{k} {v}" for k, v in node_f1(rows, predict, labels).items()))


if __name__ == "__main__":
    main()
