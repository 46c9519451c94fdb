"""The textbook layout request, several times: "three elephants standing beside a pool of water"
must give three elephant boxes beside a pool every time (issue 15).

    .venv/bin/python -m bench.elephants --runs 3 --out bench/results/elephants.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from bench.nsr1k import layoutgpt_spatial
from tools.llm.layout import normalize_name, plan_layout
from tools.llm.structured import RoleError

REQUEST = "three elephants standing beside a pool of water"


def main(argv: list[str] | None = None) -> int:
    from agent.llm.factory import get_backend

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--planner", default="embedded")
    parser.add_argument("--out", type=Path, default=Path("bench/results/elephants.jsonl"))
    args = parser.parse_args(argv)
    backend = get_backend(args.planner)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.unlink(missing_ok=True)
    good = 0
    for run in range(args.runs):
        started = time.perf_counter()
        row: dict = {"run": run, "request": REQUEST}
        try:
            _, answer = plan_layout(backend, REQUEST, seed=run)
            plan = answer.value
            counts = Counter(normalize_name(b.phrase) for b in plan.boxes)
            pool = next((b.phrase for b in plan.boxes if "pool" in b.phrase or "water" in b.phrase), None)
            beside = pool is not None and layoutgpt_spatial(
                {"obj1": ["elephant", []], "obj2": [pool, []], "relation": "next to"}, plan)
            row |= {"boxes": [b.model_dump() for b in plan.boxes], "elephants": counts.get("elephant", 0), "pool": pool,
                    "beside": beside, "attempts": answer.trace.attempts, "ok": counts.get("elephant", 0) == 3 and beside}
        except RoleError as exc:
            row |= {"error": str(exc), "ok": False}
        row["seconds"] = round(time.perf_counter() - started, 2)
        good += row["ok"]
        with args.out.open("a") as out:
            out.write(json.dumps(row) + "\n")
        print(json.dumps({k: v for k, v in row.items() if k != "boxes"}), file=sys.stderr)
    print(f"{good}/{args.runs} runs: three elephant boxes beside a pool")
    return 0 if good == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
