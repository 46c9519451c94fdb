"""Local threads vs Ray workers: throughput of the same tiny multi-step requests, and what Ray adds per step.

Each request is a three-step plan on the tiny profile (text_to_image 64 px / 2 denoising steps ->
resize -> canny), with its own seed and no cache. The 20 requests run two at a time (two clients)
on the local backend and then on Ray, whose workers are the text2img and light family actors of a
Ray head with 2 CPUs (started here on 127.0.0.1 unless --address names a cluster). Both backends
are warmed first (models loaded, actors started), so the figures compare steady states.

Per-step overhead: a chain of no-op steps (a light tool) run one after another on each backend;
(ray - local) / steps is what shipping a step to a worker and back costs, set against one warm
tiny text_to_image step.

    .venv/bin/python bench/ray_throughput.py [--requests 20] [--address HOST:PORT] [--out FILE]
"""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep a local head on 127.0.0.1
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a loopback-only cluster; no token file in ~/.ray
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import importlib
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.config import Settings
from agent.runtime import Runtime
from graphs.plan import Plan, Step
from tools.artifacts import Kind
from tools.base import Tool, ToolContext, ToolParams
from tools.registry import Registry, load_registry


class Noop(Tool):
    """Return a one-character text after a text; the cheapest step a chain can have."""

    name = "noop"
    inputs = {"text": Kind.TEXT}
    outputs = {"text": Kind.TEXT}

    class Params(ToolParams):
        n: int = 0

    def run(self, ctx: ToolContext, params: Params, *, text) -> dict:
        return {"text": "x"}


def request(seed: int) -> Plan:
    return Plan(steps=[
        Step(id="gen", tool="text_to_image", args={"prompt": f"a red car, take {seed}", "width": 64, "height": 64, "steps": 2, "seed": seed}),
        Step(id="small", tool="resize", args={"image": "${gen.image}", "width": 32, "height": 32}),
        Step(id="edges", tool="canny", args={"image": "${small.image}"}),
    ])


def chain(n: int, session) -> Plan:
    first = session.add(Kind.TEXT, "start", tool="bench").id
    steps = [Step(id="s0", tool="noop", args={"text": f"${{{first}}}"})]
    steps += [Step(id=f"s{i}", tool="noop", args={"text": f"${{s{i - 1}}}", "n": i}) for i in range(1, n)]
    return Plan(steps=steps)


def registry() -> Registry:
    found = load_registry(only=["builtin", "diffusion"])
    # Ray workers import tools by module: take Noop from this file's module name, not __main__
    found.register(importlib.import_module("bench.ray_throughput").Noop, origin="bench")
    return found


def run_requests(runtime: Runtime, seeds: list[int], clients: int) -> float:
    def one(seed: int) -> None:
        _, result = runtime.run_plan(request(seed), runtime.session(None, prefix="req"), use_cache=False)
        assert result.ok, result.steps

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, seeds))
    return time.perf_counter() - start


def chain_seconds(runtime: Runtime, steps: int) -> float:
    session = runtime.session(None, prefix="chain")
    plan = chain(steps, session)
    runtime.run_plan(plan, session, use_cache=False)  # warm
    start = time.perf_counter()
    _, result = runtime.run_plan(plan, session, use_cache=False)
    elapsed = time.perf_counter() - start
    assert result.ok, {s: r.error for s, r in result.steps.items() if r.error}
    return elapsed


def generate_step_seconds(runtime: Runtime, repeats: int = 5) -> float:
    session = runtime.session(None, prefix="gen")
    times = []
    for seed in range(100, 100 + repeats):
        _, result = runtime.run_plan(Plan(steps=[request(seed).steps[0]]), session, use_cache=False)
        assert result.ok
        times.append(result.steps["gen"].seconds)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--chain", type=int, default=50)
    parser.add_argument("--address", default=None, help="a running Ray cluster; default: a local head with 2 CPUs")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import ray
    import torch

    torch.set_num_threads(1)  # Ray gives each worker one thread; the local side gets the same
    if args.address is None:
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100_000_000, namespace="llmga", log_to_driver=False)
    with tempfile.TemporaryDirectory(prefix="ray-bench-") as tmp:
        workspace = Path(tmp)
        runtimes = {
            kind: Runtime(Settings(workspace=workspace, executor=kind, ray_address=args.address, max_workers=2), registry=registry())
            for kind in ("local", "ray")
        }
        seeds = list(range(args.requests))
        figures: dict[str, float] = {}
        for kind, runtime in runtimes.items():
            run_requests(runtime, [1000, 1001], args.clients)  # warm: models loaded, workers started
            seconds = run_requests(runtime, seeds, args.clients)
            figures[f"{kind}_seconds"] = seconds
            figures[f"{kind}_requests_per_s"] = args.requests / seconds
            figures[f"{kind}_chain_ms_per_step"] = chain_seconds(runtime, args.chain) * 1000 / args.chain
            figures[f"{kind}_text_to_image_step_ms"] = generate_step_seconds(runtime) * 1000
        runtimes["ray"].backend.close(kill_workers=True)
    figures["throughput_ratio_ray_over_local"] = figures["ray_requests_per_s"] / figures["local_requests_per_s"]
    overhead = figures["ray_chain_ms_per_step"] - figures["local_chain_ms_per_step"]
    figures["ray_overhead_ms_per_step"] = overhead
    figures["overhead_share_of_tiny_text_to_image_step"] = overhead / figures["local_text_to_image_step_ms"]
    if args.address is None:
        ray.shutdown()

    print(f"{args.requests} requests x 3 steps, {args.clients} clients, tiny profile, no cache")
    for kind in ("local", "ray"):
        print(f"  {kind:<5} {figures[f'{kind}_seconds']:6.2f} s  {figures[f'{kind}_requests_per_s']:5.2f} requests/s  "
              f"chain {figures[f'{kind}_chain_ms_per_step']:6.2f} ms/step  "
              f"text_to_image step {figures[f'{kind}_text_to_image_step_ms']:6.1f} ms")
    print(f"throughput ray/local: {figures['throughput_ratio_ray_over_local']:.2f}")
    print(f"Ray adds {overhead:.2f} ms per step ({'under' if overhead < 20 else 'over'} the 20 ms target), "
          f"{figures['overhead_share_of_tiny_text_to_image_step']:.1%} of a warm tiny text_to_image step "
          f"({'under' if figures['overhead_share_of_tiny_text_to_image_step'] < 0.05 else 'over'} the 5 % target)")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
