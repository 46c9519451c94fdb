"""Planner benchmarks on public data nobody here wrote: TaskBench (multimedia) and ControlLLM.

``tools`` turns the benchmarks' tool lists into description-only ``Tool`` classes in their own
registry, so the product's planner, catalogue, plan schema and tool graph run unchanged;
``metrics`` scores plans the way the benchmarks' own evaluation code does; ``taskbench`` and
``controlllm`` load the data, run the planner and report.
"""
