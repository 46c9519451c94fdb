"""NSR-1K layout planning benchmark (LayoutGPT's counting and spatial splits) for ``plan_layout``.

For each file, a fixed random sample of ``--n`` records is the scored split; the rest of the file
(less the all-zero-box records and any example that fails the plan check) is the pool of
in-context examples, retrieved per request by word overlap with the prompt. Scored records never
serve as examples. Metrics:

- counting: the planned boxes name exactly the requested objects in exactly the requested numbers
  (names compared singular, case-insensitive; an extra object counts as wrong);
- spatial (``spatial_correct``, sign only): the first box of obj1 and the first of obj2 satisfy
  the relation between their centres by the sign of the offset; lenient and not comparable with
  published figures. ``layoutgpt_counting`` / ``layoutgpt_spatial`` are LayoutGPT's own rules
  (name containment; difflib matching and the 45-degree rule): ``llmga bench layout`` uses them.

A request whose plan fails its checks after every retry counts as wrong. One JSON line per request
goes to ``--out``; the summary is printed. Run the model under the shared lock:

    flock /tmp/llmga-llm-bench.lock .venv/bin/python bench/nsr1k.py --n 60 --out bench/results/nsr1k.jsonl
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import random
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.llm import get_backend
from tools.llm.layout import (
    GRID,
    LayoutExample,
    LayoutPlan,
    PlannedBox,
    PlannedObject,
    check_plan,
    normalize_name,
    plan_layout,
    relation_holds,
)
from tools.llm.structured import RoleError

DATA = Path("../shared/eval/layout")  # repository-relative, like every bench default
RELATIONS = {"left": "left of", "right": "right of", "top": "above", "bottom": "below", "next to": "next to"}
STOP = {"a", "an", "the", "of", "in", "on", "to", "is", "are", "there", "and", "image", "picture", "photo", "with"}


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def grid_box(name: str, box: list[float], instance: int = 1) -> PlannedBox:
    """A gold [x, y, w, h] box in [0, 1] as corners on the 64x64 grid (at least one cell wide)."""
    x, y, w, h = box
    x0, y0 = min(GRID - 1, round(x * GRID)), min(GRID - 1, round(y * GRID))
    x1, y1 = max(x0 + 1, min(GRID, round((x + w) * GRID))), max(y0 + 1, min(GRID, round((y + h) * GRID)))
    return PlannedBox(phrase=name, instance=instance, x0=x0, y0=y0, x1=x1, y1=y1)


def example_from(record: dict) -> LayoutExample | None:
    """A dev record as an in-context example in plan_layout's own format (None if unusable)."""
    if "num_object" in record:
        objects = [{"name": n, "count": c} for n, c in record["num_object"]]
        seen: Counter = Counter()
        boxes = []
        for n, b in record["object_list"]:
            seen[normalize_name(n)] += 1
            boxes.append(grid_box(n, b, seen[normalize_name(n)]))
        relations = []
    else:
        (n1, b1), (n2, b2) = record["obj1"], record["obj2"]
        if not any(b1) or not any(b2):
            return None
        if normalize_name(n1) == normalize_name(n2):
            return None
        objects = [{"name": n1, "count": 1}, {"name": n2, "count": 1}]
        boxes = [grid_box(n1, b1), grid_box(n2, b2)]
        relations = [{"subject": n1, "relation": RELATIONS[record["relation"]], "object": n2}]
    try:
        plan = LayoutPlan.model_validate({"objects": objects, "relations": relations, "boxes": [b.model_dump() for b in boxes]})
    except ValueError:
        return None
    return LayoutExample(record["prompt"], plan) if not check_plan(plan) else None


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOP}


def retrieve(prompt: str, pool: list[LayoutExample], k: int) -> list[LayoutExample]:
    """The k examples sharing the most words with the prompt (Jaccard), most similar last."""
    mine = words(prompt)
    scored = sorted(pool, key=lambda e: (len(mine & words(e.request)) / max(1, len(mine | words(e.request))), e.request), reverse=True)
    return list(reversed(scored[:k]))


def fixed_examples(pool: list[LayoutExample], k: int) -> list[LayoutExample]:
    """k varied examples, the same for every request (the model server reuses the shared prompt prefix).

    Spatial pools: round-robin over the relations; counting pools: the first example of each
    (number of kinds, total count) bucket, so small and large counts and mixtures all appear.
    """
    buckets: dict[tuple, list[LayoutExample]] = {}
    for example in pool:
        plan = example.plan
        key = (plan.relations[0].relation,) if plan.relations else (len(plan.objects), min(len(plan.boxes), 8))
        buckets.setdefault(key, []).append(example)
    chosen: list[LayoutExample] = []
    depth = 0
    while len(chosen) < k and any(len(b) > depth for b in buckets.values()):
        for key in sorted(buckets):
            if depth < len(buckets[key]) and len(chosen) < k:
                chosen.append(buckets[key][depth])
        depth += 1
    return chosen


def counting_correct(record: dict, plan: LayoutPlan) -> bool:
    """Every counted category has exactly its count of boxes (LayoutGPT's gold lists only the
    counted categories: "two hot dogs on a plate" counts hot dogs, so a plate box is not an error)."""
    have = Counter(normalize_name(b.phrase) for b in plan.boxes)
    return all(have[normalize_name(n)] == c for n, c in record["num_object"])


def counting_strict(record: dict, plan: LayoutPlan) -> bool:
    """Stricter: the boxes name the counted categories and nothing else."""
    want = Counter({normalize_name(n): c for n, c in record["num_object"]})
    return want == Counter(normalize_name(b.phrase) for b in plan.boxes)


def spatial_correct(record: dict, plan: LayoutPlan) -> bool:
    (n1, _), (n2, _) = record["obj1"], record["obj2"]
    first = next((b for b in plan.boxes if normalize_name(b.phrase) == normalize_name(n1)), None)
    second = next((b for b in plan.boxes if normalize_name(b.phrase) == normalize_name(n2) and b is not first), None)
    if first is None or second is None:
        return False
    return relation_holds(RELATIONS[record["relation"]], first.centre, second.centre, rule="sign")


def split(records: list[dict], n: int, seed: int) -> tuple[list[int], list[int]]:
    indices = list(range(len(records)))
    scored = sorted(random.Random(seed).sample(indices, min(n, len(indices))))
    rest = [i for i in indices if i not in set(scored)]
    return scored, rest


def run(args: argparse.Namespace) -> dict:
    backend = get_backend(args.backend)
    out = open(args.out, "w") if args.out else None
    summary: dict[str, dict] = {}
    for task, filename, correct in (("counting", "nsr1k_counting_dev.jsonl", counting_correct), ("spatial", "nsr1k_spatial_dev.jsonl", spatial_correct)):
        if args.only and task != args.only:
            continue
        records = load(args.data / filename)
        scored, rest = split(records, args.n, args.seed)
        pool = [e for i in rest if (e := example_from(records[i])) is not None]
        fixed = fixed_examples(pool, args.k)
        hits, latencies, attempts, failures = 0, [], [], 0
        for done, index in enumerate(scored, 1):
            record = records[index]
            examples = retrieve(record["prompt"], pool, args.k) if args.examples == "similar" else fixed
            started = time.perf_counter()
            error, plan, trace = None, None, None
            try:
                _, answer = plan_layout(backend, record["prompt"], examples=examples, attempts=args.attempts, seed=0)
                plan, trace = answer.value, answer.trace
            except RoleError as exc:
                error = str(exc)
                failures += 1
            seconds = time.perf_counter() - started
            ok = plan is not None and correct(record, plan)
            strict = plan is not None and counting_strict(record, plan) if task == "counting" else None
            hits += ok
            latencies.append(seconds)
            attempts.append(trace.attempts if trace else args.attempts)
            line = {
                "task": task, "id": record["id"], "prompt": record["prompt"], "correct": ok, "strict": strict, "seconds": round(seconds, 2),
                "attempts": attempts[-1], "problems": trace.problems if trace else [], "error": error,
                "prompt_tokens": trace.prompt_tokens if trace else None, "completion_tokens": trace.completion_tokens if trace else None,
                "plan": plan.model_dump() if plan else None, "examples": [e.request for e in examples],
            }
            if out:
                out.write(json.dumps(line) + "\n")
                out.flush()
            print(f"[{task} {done}/{len(scored)}] {'ok ' if ok else 'BAD'} {seconds:5.1f}s x{attempts[-1]} {record['prompt']}", flush=True)
        latencies.sort()
        summary[task] = {
            "n": len(scored), "accuracy": round(100 * hits / max(1, len(scored)), 1), "unplanned": failures,
            "median_s": round(statistics.median(latencies), 2), "p90_s": round(latencies[int(0.9 * (len(latencies) - 1))], 2),
            "mean_attempts": round(statistics.mean(attempts), 2), "example_pool": len(pool), "examples": args.examples, "k": args.k,
        }
    if out:
        out.close()
    return summary


def _corners(plan: dict) -> dict:
    """Plans written before boxes became corners (x, y, w, h; no instance numbers) in today's form."""
    boxes = []
    seen: Counter = Counter()
    for box in plan["boxes"]:
        if "x" in box:
            seen[normalize_name(box["phrase"])] += 1
            box = {"phrase": box["phrase"], "instance": seen[normalize_name(box["phrase"])], "x0": box["x"], "y0": box["y"],
                   "x1": min(GRID, box["x"] + box["w"]), "y1": min(GRID, box["y"] + box["h"])}
        boxes.append(box)
    return {**plan, "boxes": boxes}


def rescore(path: Path, data: Path) -> dict:
    """Recompute the metrics from a JSONL written by ``run`` (the stored plans), without the model."""
    records = {r["id"]: r for f in ("nsr1k_counting_dev.jsonl", "nsr1k_spatial_dev.jsonl") for r in load(data / f)}
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    summary: dict[str, dict] = {}
    for task in ("counting", "spatial"):
        rows = [r for r in lines if r["task"] == task]
        if not rows:
            continue
        plans = [LayoutPlan.model_validate(_corners(r["plan"])) if r["plan"] else None for r in rows]
        score = counting_correct if task == "counting" else spatial_correct
        hits = [p is not None and score(records[r["id"]], p) for r, p in zip(rows, plans, strict=True)]
        latencies = sorted(r["seconds"] for r in rows)
        summary[task] = {
            "n": len(rows), "accuracy": round(100 * sum(hits) / len(rows), 1),
            "unplanned": sum(p is None for p in plans),
            "first_attempt_ok": sum(r["attempts"] == 1 and r["plan"] is not None for r in rows),
            "median_s": round(statistics.median(latencies), 2), "p90_s": round(latencies[int(0.9 * (len(latencies) - 1))], 2),
            "mean_s": round(statistics.mean(latencies), 2),
        }
        if task == "counting":
            summary[task]["strict_accuracy"] = round(100 * sum(p is not None and counting_strict(records[r["id"]], p)
                                                                for r, p in zip(rows, plans, strict=True)) / len(rows), 1)
    return summary


# -- LayoutGPT's own rules (the ones its published numbers use) --------------------------------
LGPT_RELATION = {"left": "left of", "right": "right of", "top": "above", "bottom": "below"}


def _lgpt_category(phrase: str, gold: list) -> str:
    """A planned phrase as ``eval_counting_layout.py`` files it: under the last gold category that
    contains it or that it contains, after its ``lstrip("a ").lstrip("an ").lstrip("the ")`` (which
    strips leading *characters*, not words: kept as is, for figures comparable with the paper's)."""
    category = phrase
    for name, _ in gold:
        stripped = category.lstrip("a ").lstrip("an ").lstrip("the ")
        if stripped in name or name in stripped:
            category = name
    return category


def layoutgpt_counting(record: dict, plan: LayoutPlan) -> bool:
    """``eval_counting_layout.py``: each planned box is filed under a gold category by name
    containment; every gold category needs exactly its count, other categories are not penalised.
    Comparison prompts ("the number of X is more than that of Y", "the same number of Y"): X
    exactly as stated, and Y's count on the same side of X's as the gold's (equal when the gold
    counts are equal)."""
    gold = record["num_object"]
    have = Counter(_lgpt_category(b.phrase, gold) for b in plan.boxes)
    if record.get("sub-type") == "comparison" and len(gold) == 2:
        (first, n1), (second, n2) = gold
        c1, c2 = have[first], have[second]
        if n1 == n2:
            return c1 == c2 == n1
        return c1 == n1 and (n1 - n2) * (c1 - c2) > 0
    return all(have[name] == n for name, n in gold)


def _lgpt_relation(subject: PlannedBox, obj: PlannedBox) -> str:
    """The relation of two box centres by the 45-degree rule (``eval_spatial_layout.py``)."""
    (sx, sy), (ox, oy) = subject.centre, obj.centre
    dx, dy = sx - ox, sy - oy
    norm = math.hypot(dx, dy)
    if norm == 0:
        return "diagonal"
    cos_x, cos_y = dx / norm, dy / norm
    if cos_x > math.sqrt(2) / 2:
        return "right"
    if cos_x < -math.sqrt(2) / 2:
        return "left"
    if cos_y > math.sqrt(2) / 2:
        return "bottom"
    if cos_y < -math.sqrt(2) / 2:
        return "top"
    return "diagonal"


def layoutgpt_spatial(record: dict, plan: LayoutPlan, *, rule: str = "45") -> bool:
    """``eval_spatial_layout.py``: each named object matches the closest planned name (difflib,
    cutoff 0.6); correct when any pair of matched boxes has the gold relation ("next to": left or
    right). ``rule="sign"`` compares only the sign of the centre offset (lenient; not comparable)."""
    names = sorted({b.phrase for b in plan.boxes})
    (n1, _), (n2, _) = record["obj1"], record["obj2"]
    m1 = difflib.get_close_matches(n1, names, n=1, cutoff=0.6)
    m2 = difflib.get_close_matches(n2, names, n=1, cutoff=0.6)
    if not m1 or not m2:
        return False
    firsts = [b for b in plan.boxes if b.phrase == m1[0]]
    seconds = [b for b in plan.boxes if b.phrase == m2[0]]
    wanted = {"left", "right"} if record["relation"] == "next to" else {record["relation"]}
    for a in firsts:
        for b in seconds:
            if a is b:
                continue
            if rule == "45" and _lgpt_relation(a, b) in wanted:
                return True
            if rule == "sign":
                dx, dy = a.centre[0] - b.centre[0], a.centre[1] - b.centre[1]
                sign = {"left": dx < 0, "right": dx > 0, "top": dy < 0, "bottom": dy > 0}
                if any(sign[w] for w in wanted):
                    return True
    return False


def run_layout(data: Path, examples_from: Path | None, *, backend: object, n: int | None, k: int, attempts: int, seed: int,
               out: Path) -> dict:
    """One NSR-1K file (counting or spatial, told apart by its fields), examples from
    ``examples_from`` (default: the rest of ``data``); scored records are never examples.
    One JSON line per request (with the planned boxes) as each finishes; returns the summary."""
    records = load(data)
    counting = "num_object" in records[0]
    if n is None or n >= len(records):
        scored_ix = list(range(len(records)))
    else:
        scored_ix, _ = split(records, n, seed)
    scored = [records[i] for i in scored_ix]
    scored_ids = {r["id"] for r in scored}
    pool_records = load(examples_from) if examples_from else [r for r in records if r["id"] not in scored_ids]
    pool = [e for r in pool_records if r["id"] not in scored_ids and (e := example_from(r)) is not None]
    examples = fixed_examples(pool, k)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    rows = []
    for done, record in enumerate(scored, 1):
        started = time.perf_counter()
        plan, trace, error = None, None, None
        try:
            _, answer = plan_layout(backend, record["prompt"], examples=examples, attempts=attempts, seed=0)
            plan, trace = answer.value, answer.trace
        except RoleError as exc:
            error, trace = str(exc), exc.trace
        seconds = time.perf_counter() - started
        row: dict = {"id": record["id"], "prompt": record["prompt"], "seconds": round(seconds, 2),
                     "attempts": trace.attempts if trace else attempts, "problems": trace.problems if trace else [], "error": error,
                     "completion_tokens": trace.completion_tokens if trace else None,
                     "boxes": [b.model_dump() for b in plan.boxes] if plan else None}
        row.update(layoutgpt_scores(record, plan))
        rows.append(row)
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"[{done}/{len(scored)}] {'ok ' if row['layoutgpt'] else 'BAD'} {seconds:5.1f}s x{row['attempts']} {record['prompt']}",
              file=sys.stderr, flush=True)
    summary = {"examples": len(examples), "pool": len(pool), **layout_summary(rows, counting=counting)}
    out.with_suffix(".summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def layoutgpt_scores(record: dict, plan: LayoutPlan | None) -> dict[str, bool]:
    """One request's marks by LayoutGPT's rules (an unplanned request is wrong by every rule)."""
    if "num_object" in record:
        return {"layoutgpt": plan is not None and layoutgpt_counting(record, plan),
                "strict": plan is not None and counting_strict(record, plan)}
    return {"layoutgpt": plan is not None and layoutgpt_spatial(record, plan),
            "sign_only": plan is not None and layoutgpt_spatial(record, plan, rule="sign")}


def layout_summary(rows: list[dict], *, counting: bool) -> dict:
    latencies = sorted(r["seconds"] for r in rows)
    summary = {
        "task": "counting" if counting else "spatial", "n": len(rows),
        "layoutgpt_accuracy": round(100 * sum(r["layoutgpt"] for r in rows) / max(1, len(rows)), 1),
        "unplanned": sum(r["boxes"] is None for r in rows),
        "median_s": round(statistics.median(latencies), 2) if latencies else None,
        "p90_s": round(latencies[int(0.9 * (len(latencies) - 1))], 2) if latencies else None,
    }
    key = "strict" if counting else "sign_only"
    summary[f"{key}_accuracy"] = round(100 * sum(r[key] for r in rows) / max(1, len(rows)), 1)
    return summary


def rescore_layout(path: Path, data: Path) -> dict:
    """Re-mark a JSONL written by ``run_layout`` from its stored boxes (no model): a fix to a
    scoring rule then applies to runs already made."""
    records = {r["id"]: r for r in load(data)}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in rows:
        record = records[row["id"]]
        plan = None
        if row["boxes"] is not None:
            counts = Counter(b["phrase"] for b in row["boxes"])
            plan = LayoutPlan(objects=[PlannedObject(name=n, count=c) for n, c in counts.items()], relations=[],
                              boxes=[PlannedBox.model_validate(b) for b in row["boxes"]])
        row.update(layoutgpt_scores(record, plan))
    return layout_summary(rows, counting="num_object" in next(iter(records.values())))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=60, help="scored records per file")
    parser.add_argument("--k", type=int, default=8, help="in-context examples per request")
    parser.add_argument("--examples", choices=["fixed", "similar"], default="fixed",
                        help="fixed: one varied set per file (prompt prefix reused); similar: retrieved per request by word overlap")
    parser.add_argument("--attempts", type=int, default=3, help="tries per request (1 = no self-correction)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the scored/example split")
    parser.add_argument("--only", choices=["counting", "spatial"])
    parser.add_argument("--backend", default="embedded")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--rescore", type=Path, help="only recompute the metrics from this JSONL (no model)")
    args = parser.parse_args(argv)
    if args.rescore:
        print(json.dumps(rescore(args.rescore, args.data), indent=2))
        return 0
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    print(json.dumps(run(args), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
