"""Planning latency of the agent's planner with the installed tools, one process, ten requests.

Each request goes through `Planner.plan` exactly as a turn does (system prompt with the tool
catalogue, JSON schema from the registry, validation, bounded retries). Prints per-request wall
time, attempts, tokens and whether the plan validated, then the median, p90 and decode tokens/s.

    flock /tmp/llmga-llm-bench.lock .venv/bin/python bench/planner_latency.py [--planner embedded]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config import Settings
from agent.llm import get_backend
from agent.planner import Planner
from agent.runtime import Runtime
from tools.artifacts import Kind

REQUESTS = [
    "Draw a red car on a country road at sunset, make the picture 64 pixels wider on both sides, then upscale it 2x",
    "a watercolor fox in a snowy forest",
    "make image-1 twice as big",
    "replace the masked part of image-1 with a vase of sunflowers",
    "generate a short video of a car running on the road and give it engine sound",
    "compose calm piano music for 10 seconds",
    "turn image-1 into a pencil sketch",
    "make a picture with three elephants beside a pool, boxes first",
    "say 'welcome to the show' in a friendly voice",
    "extend image-1 by 128 pixels on the left and fill it with more beach",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--planner", default=None, help="backend name (default: as configured, else embedded)")
    args = parser.parse_args()
    asset = Path(__file__).resolve().parent.parent / "examples" / "assets" / "car_on_road.png"
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime(Settings(workspace=Path(tmp)))
        session = runtime.workspace.session("bench", create=True)
        image = session.import_file(asset, Kind.IMAGE)
        mask = session.add(Kind.MASK, session.handle(image.id).image().convert("L").point(lambda v: 255 if v > 128 else 0), tool="import")
        planner = Planner(get_backend(args.planner), runtime.registry)
        print(f"planner {planner.backend.name}, {len(runtime.registry)} tools, system prompt {len(planner.system)} characters")
        rows = []
        for request in REQUESTS:
            start = time.perf_counter()
            outcome = planner.plan(session, request, artifacts=[image, session.get(mask.id)])
            seconds = time.perf_counter() - start
            tokens = sum(g.completion_tokens for g in outcome.generations)
            decode = sum(g.seconds for g in outcome.generations)
            prompt = sum(g.prompt_tokens for g in outcome.generations)
            steps = " -> ".join(s.tool for s in outcome.plan.steps) if outcome.plan else f"(none) {outcome.reply[:80]}"
            rows.append((seconds, tokens, decode, outcome.ok))
            print(f"{seconds:6.1f} s  {outcome.attempts} att  {prompt:5d} prompt tok  {tokens:4d} out tok  {'ok ' if outcome.ok else 'NO '} {steps}  <- {request[:60]}")
    times = sorted(r[0] for r in rows)
    p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
    tps = sum(r[1] for r in rows) / max(sum(r[2] for r in rows), 1e-9)
    print(f"median {statistics.median(times):.1f} s, p90 {p90:.1f} s, first {rows[0][0]:.1f} s, decode {tps:.1f} tokens/s, "
          f"{sum(r[3] for r in rows)}/{len(rows)} valid plans")


if __name__ == "__main__":
    main()
