"""Which planning ideas help the small embedded model on TaskBench? One process, one sample.

Runs the planner over the same sample of TaskBench multimedia requests (held-out examples, see
bench/taskbench.py) in several configurations and prints one row each:

- full:         grammar-constrained, steps tool-first, N held-out examples, 3 attempts with
                type hints on retry (what `llmga bench taskbench` runs);
- first answer: the full run scored on each request's first answer (no retries);
- id-first:     the grammar with the step id written before the tool (the previous order);
- no examples:  no in-context examples;
- no schema:    no grammar at all (the prompt asks for JSON; the answer is parsed and bound).

Latency is wall time per request including retries. Run it under the shared lock:

    flock /tmp/llmga-llm-bench.lock .venv/bin/python bench/taskbench_ablation.py --n 36
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.llm.factory import get_backend
from agent.planner import Planner
from bench import eval_dir
from bench import taskbench as tb


def id_first(planner: Planner) -> None:
    schema = copy.deepcopy(planner.schema)
    for alternative in schema["properties"]["steps"]["items"]["anyOf"]:
        props = alternative["properties"]
        alternative["properties"] = {"id": props["id"], **{k: v for k, v in props.items() if k != "id"}}
    planner.schema = schema


def no_schema(planner: Planner) -> None:
    planner.schema = None  # type: ignore[assignment]


def row(name: str, summary: dict, seconds: float) -> str:
    o, lat = summary["overall"], summary["latency"]
    return (f"| {name} | {o['n']} | {o['node']:.2f} | {o['edge']:.2f} | {o['arg_name']:.2f} | {o['arg_value']:.2f} | "
            f"{summary['single']['node']:.1f} / {summary['chain']['node']:.1f} / {summary['dag']['node']:.1f} | "
            f"{summary['chain']['edge']:.1f} / {summary['dag']['edge']:.1f} | "
            f"{lat['median_s']:.1f} | {lat['p90_s']:.1f} | {lat['tokens_per_s']:.1f} | {summary['plans']['valid']} | {summary['retried']} | {seconds / 60:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=36)
    parser.add_argument("--examples", type=int, default=tb.EXAMPLES)
    parser.add_argument("--pool", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="full,id-first,no-examples,no-schema")
    parser.add_argument("--out-dir", type=Path, default=Path("bench/results"))
    parser.add_argument("--planner", default="embedded", help="backend name (fake: a dry run of the pipeline)")
    parser.add_argument("--data", type=Path, default=eval_dir() / "taskbench_multimedia" / "dev.jsonl",
                        help="TaskBench dev.jsonl (tool_desc.json beside it; default: $LLMGA_EVAL_DIR or ../shared/eval)")
    args = parser.parse_args()

    bench = tb.Bench.load(args.data.parent / "tool_desc.json")
    pool, scored = tb.split(tb.load_records(args.data), args.pool, args.seed)
    sample = tb.sample(scored, args.n, args.seed)
    examples = tb.choose_examples(pool, bench, args.examples)
    backend = get_backend(args.planner)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    counts = ", ".join(f"{kind} {sum(r['type'] == kind for r in sample)}" for kind in tb.SPLITS)
    print(f"{len(sample)} requests ({counts}); examples from the held-out pool: {[e['id'] for e in examples]}", flush=True)
    header = ("| variant | n | node F1 | edge F1 | t-F1 | v-F1 | node F1 single/chain/dag | edge F1 chain/dag | "
              "median s | p90 s | tok/s | valid | retried | minutes |\n|" + " --- |" * 14)
    rows = []
    variants = {
        "full": dict(examples=examples),
        "id-first": dict(examples=examples, configure=id_first),
        "no-examples": dict(examples=[]),
        "no-schema": dict(examples=examples, configure=no_schema),
    }
    for name in args.variants.split(","):
        started = time.perf_counter()
        results = []
        for result in tb.run(sample, bench, backend, **variants[name]):
            results.append(result)
            print(f"  {name} {len(results)}/{len(sample)} {result.record['type']:<6} {result.timing.seconds:5.1f}s {result.source}", flush=True)
        seconds = time.perf_counter() - started
        tb.write_jsonl(results, args.out_dir / f"taskbench_{name}.jsonl")
        summary = tb.summarise(results)
        (args.out_dir / f"taskbench_{name}.summary.json").write_text(json.dumps(summary, indent=2))
        rows.append(row(name, summary, seconds))
        if name == "full":
            first = [tb.first_attempt(r, bench) for r in results]
            rows.append(row("full, first answer only", tb.summarise(first), 0.0))
            print(tb.table(summary, "full"), flush=True)
        print("\n".join([header, *rows]), flush=True)


if __name__ == "__main__":
    main()
