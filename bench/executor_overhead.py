"""Executor overhead per step, with tools that do (almost) nothing.

Runs N no-op steps as a chain and as independent steps, with and without the cache, and
compares the per-step cost with one denoising step of a tiny UNet (the smallest real unit of
work a generation tool does here). Prints the figures; nothing is asserted.

    .venv/bin/python bench/executor_overhead.py [--steps 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphs.cache import StepCache
from graphs.executor import Executor
from graphs.plan import Plan, Step, bind
from tools.artifacts import Kind, Workspace
from tools.base import Tool, ToolContext, ToolParams
from tools.registry import Registry


class Noop(Tool):
    """Return a one-character text; the cheapest step possible."""

    name = "noop"
    outputs = {"text": Kind.TEXT}

    class Params(ToolParams):
        n: int = 0

    def run(self, ctx: ToolContext, params: Params) -> dict:
        return {"text": "x"}


class NoopAfter(Tool):
    """Depend on a text and return one; used to build chains."""

    name = "noop_after"
    inputs = {"text": Kind.TEXT}
    outputs = {"text": Kind.TEXT}

    class Params(ToolParams):
        n: int = 0

    def run(self, ctx: ToolContext, params: Params, *, text) -> dict:
        return {"text": "x"}


def plans(n: int) -> dict[str, Plan]:
    chain = [Step(id="s0", tool="noop")] + [Step(id=f"s{i}", tool="noop_after", args={"text": f"${{s{i - 1}}}", "n": i}) for i in range(1, n)]
    fan = [Step(id=f"s{i}", tool="noop", args={"n": i}) for i in range(n)]
    return {"chain": Plan(steps=chain), "independent": Plan(steps=fan)}


def time_plan(plan: Plan, registry: Registry, root: Path, *, cache: bool, warm: bool) -> float:
    workspace = Workspace(root)
    session = workspace.session("bench", create=True)
    bound = bind(plan, registry, session)
    executor = Executor(session, StepCache(workspace) if cache else None)
    if warm:
        executor.run(bound)
    start = time.perf_counter()
    result = executor.run(bound)
    elapsed = time.perf_counter() - start
    assert result.ok
    return elapsed


def unet_step_seconds(repeats: int = 10) -> float:
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    ).eval()
    latents, text = torch.randn(2, 4, 32, 32), torch.randn(2, 77, 32)
    times = []
    with torch.no_grad():
        for _ in range(repeats + 2):
            start = time.perf_counter()
            unet(latents, 10, encoder_hidden_states=text)
            times.append(time.perf_counter() - start)
    return statistics.median(times[2:])


def tiny_text_to_image_step_seconds(root: Path, repeats: int = 5) -> float:
    """Wall time of one whole text_to_image step on the tiny profile (2 denoising steps, 64 px),
    through the executor, models already loaded: the smallest real generation step a plan has."""
    from agent.config import Settings
    from agent.runtime import Runtime

    runtime = Runtime(Settings(workspace=root))
    session = runtime.workspace.session("tiny", create=True)
    times = []
    for seed in range(repeats + 1):
        plan = Plan(steps=[Step(id="g", tool="text_to_image", args={"prompt": "a red car", "steps": 2, "width": 64, "height": 64, "seed": seed})])
        bound = bind(plan, runtime.registry, session)
        start = time.perf_counter()
        assert runtime.executor(session, use_cache=False).run(bound).ok
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    registry = Registry()
    registry.register(Noop)
    registry.register(NoopAfter)
    rows = []
    for name, plan in plans(args.steps).items():
        for cache, warm, label in ((False, False, "no cache"), (True, False, "cache, cold"), (True, True, "cache, all hits")):
            with tempfile.TemporaryDirectory() as tmp:
                seconds = time_plan(plan, registry, Path(tmp), cache=cache, warm=warm)
            rows.append((name, label, seconds * 1000 / args.steps))
    unet = unet_step_seconds()
    with tempfile.TemporaryDirectory() as tmp:
        tool_step = tiny_text_to_image_step_seconds(Path(tmp))
    print(f"executor overhead, {args.steps} no-op steps (ms per step):")
    for name, label, ms in rows:
        print(f"  {name:<12} {label:<16} {ms:7.3f} ms = {ms / (unet * 1000):6.2%} of one tiny UNet call, "
              f"{ms / (tool_step * 1000):6.2%} of a tiny text_to_image step")
    print(f"one tiny UNet forward (batch 2, 32x32 latents, CPU): {unet * 1000:.1f} ms")
    print(f"one tiny text_to_image step (64 px, 2 denoising steps, through the executor): {tool_step * 1000:.1f} ms")
    worst = max(ms for _, _, ms in rows)
    print(f"worst per-step overhead {worst:.3f} ms: {'under' if worst < 5 else 'over'} 5 ms; "
          f"{worst / (tool_step * 1000):.2%} of a tiny text_to_image step, {worst / (unet * 1000):.2%} of one UNet call")


if __name__ == "__main__":
    main()
