"""Planner benchmarks on public data nobody here wrote: TaskBench (multimedia) and ControlLLM.

A plain folder of the source checkout, not installed with the package: ``llmga bench`` imports it
when it is there. ``registries`` turns the benchmarks' tool lists into description-only ``Tool``
classes in their own registry, so the product's planner, catalogue, plan schema and tool graph run
unchanged; ``metrics`` scores plans the way the benchmarks' own evaluation code does; ``taskbench``
and ``controlllm`` load the data, run the planner and report. The scripts beside them
(``executor_overhead.py``, ``nsr1k.py``, ...) are run as files and write into ``results/``.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def eval_dir() -> Path:
    """Where the benchmark data lives: ``$LLMGA_EVAL_DIR``, else ``../shared/eval`` beside the checkout."""
    return Path(os.environ.get("LLMGA_EVAL_DIR") or REPO.parent / "shared" / "eval")
