"""`llmga bench ...`: score the planner on public benchmarks (TaskBench, ControlLLM).

The harnesses live in the top-level ``bench/`` folder of a source checkout, not in the installed
package; this command imports them from there when the checkout has them.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import click

from agent.cli.agent import PLANNER_HELP
from agent.llm.factory import get_backend
from tools.errors import ConfigError

# The checkout holding this package: agent/cli/bench.py -> agent/cli -> agent -> repository root.
REPO = Path(__file__).resolve().parents[2]
DATA_HELP = "default: $LLMGA_EVAL_DIR, else ../shared/eval beside the checkout"


def eval_dir() -> Path:
    """The benchmark data folder (same rule as ``bench.eval_dir``, which may not be importable yet)."""
    return Path(os.environ.get("LLMGA_EVAL_DIR") or REPO.parent / "shared" / "eval")


def harness(name: str) -> ModuleType:
    """Import ``bench.<name>`` from the checkout, or say why it cannot be found."""
    if not (REPO / "bench" / "__init__.py").is_file():
        raise ConfigError(f"`llmga bench` needs a source checkout: the harnesses live in bench/ at the repository root, "
                          f"and {REPO} has none (clone the repository and install it with `pip install -e .`)")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return importlib.import_module(f"bench.{name}")


@click.group()
def bench() -> None:
    """Planner benchmarks on public data, beside the published numbers."""


def _out(out: Path | None, name: str) -> Path:
    return out or Path("bench-results") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"


def planner_options(two_part: bool, positional: bool, wire: bool, refusal: bool, candidates: int, restrict: int,
                    similar: int, tasks: bool, bridge: bool, shortlist: int, off_task: bool, tool_first: bool, describe: bool,
                    quotes: bool, parts: bool, urls: bool, graph_steps: bool, shown_steps: bool, cues: bool) -> object:
    from agent.planner import PlannerOptions

    return PlannerOptions(two_part=two_part, positional=positional, wire_by_type=wire, refusal=refusal, candidates=candidates,
                          restrict=restrict, similar=similar, tasks=tasks, bridge=bridge, shortlist=shortlist, off_task=off_task, tool_first=tool_first,
                          describe_unshown=describe, quotes=quotes, parts=parts, urls=urls, graph_steps=graph_steps, shown_steps=shown_steps, cues=cues)


PARTS_HELP = "The request message names the tools its parts (clauses) read closest to (MiniLM)."


def ablation_flags(fn):  # type: ignore[no-untyped-def]
    """The planner's switches, one per ablation row (defaults: everything on)."""
    for option in reversed([
        click.option("--two-part/--single", "two_part", default=True, show_default=True, help="Structure first, arguments after (or one full-plan answer)."),
        click.option("--positional/--free-refs", default=True, show_default=True, help="Grammar: step k names only earlier steps."),
        click.option("--wire/--no-wire", default=True, show_default=True, help="The tool graph wires unnamed artifact inputs by type."),
        click.option("--refusal/--no-refusal", default=True, show_default=True, help="Offer a one-sentence 'cannot' answer."),
        click.option("--candidates", default=0, show_default=True, help="Name the N closest tools (MiniLM) in the request."),
        click.option("--restrict", default=0, show_default=True, help="Grammar allows only the N closest tools (0: all)."),
        click.option("--tasks/--no-tasks", default=True, show_default=True, help="The structure answer opens with the subtasks in words."),
        click.option("--bridge/--no-bridge", default=True, show_default=True,
                     help="A source of the wrong kind is joined through one converter tool (or left out when not needed)."),
        click.option("--shortlist", default=6, show_default=True,
                     help="Subtasks first, then each step's tool among the N closest to its subtask (0: one answer, any tool)."),
        click.option("--off-task/--repeats-only", "off_task", default=True, show_default=True,
                     help="Where the examples' subtasks are tool names (TaskBench's), mend every step off its subtask (or only one that repeats a tool)."),
        click.option("--tool-first/--sources-first", "tool_first", default=False, show_default=True,
                     help="Each step names its tool, then its sources (or its sources, which narrow the tools)."),
        click.option("--describe/--no-describe", "describe", default=True, show_default=True,
                     help="A tool no pool example uses gets a one-step example written from its description."),
        click.option("--quotes/--no-quotes", "quotes", default=True, show_default=True,
                     help="A passage the request quotes (six words or more) is offered as a text artifact a step takes whole."),
        click.option("--parts/--no-parts", "parts", default=True, show_default=True,
                     help=PARTS_HELP),
        click.option("--cues/--no-cues", "cues", default=False, show_default=True,
                     help="With --parts, also name the tools a word of the request belongs to (a word only that tool's description uses)."),
        click.option("--urls/--no-urls", "urls", default=True, show_default=True,
                     help="An open url parameter takes the web address the request states (no arguments answer to copy it)."),
        click.option("--graph-steps/--model-steps", "graph_steps", default=True, show_default=True,
                     help="Where the examples' subtasks are tool names, the answer ends after the subtasks and the tool graph makes the steps."),
        click.option("--shown-steps/--no-shown-steps", "shown_steps", default=False, show_default=True,
                     help="With --graph-steps, the examples show their steps (or \"steps\":[], as the answer is)."),
        click.option("--similar", default=0, show_default=True,
                     help="Show each request the N pool examples closest to it (MiniLM); 0: a fixed set in the system prompt."),
    ]):
        fn = option(fn)
    return fn


@bench.command("taskbench")
@click.option("--data", type=click.Path(path_type=Path), help=f"TaskBench dev.jsonl ({DATA_HELP}/taskbench_multimedia/dev.jsonl)")
@click.option("--examples-from", "examples_from", type=click.Path(path_type=Path),
              help="JSONL of records to draw in-context examples from; their ids are never scored "
                   "(default: a seeded pool held out of --data).")
@click.option("--tools", "tool_desc", type=click.Path(path_type=Path), help="tool_desc.json (default: beside --data)")
@click.option("--limit", type=int, help="Score N requests, sampled in the single/chain/DAG proportions of the file.")
@click.option("--planner", help=PLANNER_HELP)
@click.option("--examples", "n_examples", type=int, help="In-context examples, drawn from the example pool (default: bench.taskbench.EXAMPLES, 26).")
@click.option("--pool", "pool_size", default=40, show_default=True, help="Requests held out of --data as the pool (without --examples-from).")
@click.option("--seed", default=0, show_default=True, help="Seed of the hold-out split.")
@click.option("--attempts", default=3, show_default=True, help="Planner attempts per request (retries on invalid plans).")
@click.option("--max-tokens", default=384, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Per-request JSONL, one line as each request finishes (default: bench-results/taskbench-<time>.jsonl).")
@ablation_flags
def taskbench(data: Path | None, examples_from: Path | None, tool_desc: Path | None, limit: int | None, planner: str | None,
              n_examples: int | None, pool_size: int, seed: int, attempts: int, max_tokens: int, out: Path | None, two_part: bool,
              positional: bool, wire: bool, refusal: bool, candidates: int, restrict: int, similar: int, tasks: bool,
              bridge: bool, shortlist: int, off_task: bool, tool_first: bool, describe: bool,
              quotes: bool, parts: bool, urls: bool, graph_steps: bool, shown_steps: bool, cues: bool) -> None:
    """TaskBench multimedia: node/edge F1, t-F1, v-F1 by request type; latency; tokens/s."""
    tb = harness("taskbench")
    data = data or eval_dir() / "taskbench_multimedia" / "dev.jsonl"
    bench_tools = tb.Bench.load(tool_desc or data.parent / "tool_desc.json")
    pool, scored = tb.examples_pool(tb.load_records(data), tb.load_records(examples_from) if examples_from else None, pool_size, seed)
    # Seeded shuffle: any prefix of a long run that stops early is a fair mix of request types.
    scored = sorted(tb.sample(scored, limit, seed), key=lambda r: tb._rank(r, seed + 2))
    if similar:
        examples = tb.pool_examples(pool, bench_tools)
        click.echo(f"{len(scored)} requests scored; {len(pool)} in the example pool ({len(examples)} usable), "
                   f"the {similar} closest shown with each request", err=True)
    else:
        examples = tb.choose_examples(pool, bench_tools, tb.EXAMPLES if n_examples is None else n_examples)
        click.echo(f"{len(scored)} requests scored; {len(pool)} in the example pool, {len(examples)} shown as examples "
                   f"({', '.join(e['id'] for e in examples) or 'none'})", err=True)
    backend = get_backend(planner)
    options = planner_options(two_part, positional, wire, refusal, candidates, restrict, similar, tasks, bridge, shortlist, off_task, tool_first,
                              describe, quotes, parts, urls, graph_steps, shown_steps, cues)
    path = _out(out, "taskbench")
    path.unlink(missing_ok=True)
    results = []
    for number, result in enumerate(tb.run(scored, bench_tools, backend, examples=examples, max_attempts=attempts,
                                           max_tokens=max_tokens, options=options), 1):
        results.append(result)
        tb.append_jsonl(result, path)
        s = result.score.counts
        click.echo(f"[{number}/{len(scored)}] {result.record['id']} {result.record['type']:<6} {result.timing.seconds:5.1f}s "
                   f"{result.source:<8} node tp/fp/fn {s['node'].tp}/{s['node'].fp}/{s['node'].fn} "
                   f"edge {s['edge'].tp}/{s['edge'].fp}/{s['edge'].fn}", err=True)
    summary = tb.summarise(results)
    path.with_suffix(".summary.json").write_text(json.dumps(summary, indent=2))
    click.echo(tb.table(summary, backend.name.split(":")[-1][:24]))
    click.echo(f"per-request results: {path}")


@bench.command("layout")
@click.option("--data", type=click.Path(path_type=Path),
              help=f"An NSR-1K file, counting or spatial ({DATA_HELP}/layout/nsr1k_spatial_dev.jsonl)")
@click.option("--examples-from", "examples_from", type=click.Path(path_type=Path),
              help="JSONL to draw in-context examples from (default: the records of --data not scored).")
@click.option("--limit", type=int, default=60, show_default=True, help="Score N records (seeded sample; 0: all).")
@click.option("--planner", help=PLANNER_HELP)
@click.option("--examples", "k", default=8, show_default=True, help="In-context examples.")
@click.option("--attempts", default=3, show_default=True)
@click.option("--seed", default=2026, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Per-request JSONL with the planned boxes (default: bench-results/layout-<time>.jsonl).")
@click.option("--rescore", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Only re-mark this earlier --out file from its stored boxes (no model).")
def layout(data: Path | None, examples_from: Path | None, limit: int, planner: str | None, k: int, attempts: int, seed: int,
           out: Path | None, rescore: Path | None) -> None:
    """NSR-1K layouts scored by LayoutGPT's rules (counting; spatial with the 45-degree rule; sign-only beside it)."""
    nsr = harness("nsr1k")
    data = data or eval_dir() / "layout" / "nsr1k_spatial_dev.jsonl"
    if rescore:
        click.echo(json.dumps(nsr.rescore_layout(rescore, data), indent=2))
        return
    path = _out(out, "layout")
    summary = nsr.run_layout(data, examples_from, backend=get_backend(planner), n=limit or None, k=k, attempts=attempts,
                             seed=seed, out=path)
    click.echo(json.dumps(summary, indent=2))
    click.echo(f"per-request results: {path}")


@bench.command("controlllm")
@click.option("--data", type=click.Path(path_type=Path), help=f"ControlLLM tool100_dev.jsonl ({DATA_HELP}/controlllm/tool100_dev.jsonl)")
@click.option("--tools", "tools_json", type=click.Path(path_type=Path), help="tools.json (default: beside --data)")
@click.option("--limit", type=int, help="Score N instructions spread over task types and levels.")
@click.option("--planner", help=PLANNER_HELP)
@click.option("--attempts", default=3, show_default=True)
@click.option("--max-tokens", default=384, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Per-request JSONL (default: bench-results/controlllm-<time>.jsonl).")
@click.option("--parts/--no-parts", "parts", default=False, show_default=True,
              help=PARTS_HELP)
def controlllm(data: Path | None, tools_json: Path | None, limit: int | None, planner: str | None, attempts: int, max_tokens: int,
               out: Path | None, parts: bool) -> None:
    """ControlLLM tool100: tool-domain F1, dependency and argument-type correctness, by level."""
    cl = harness("controlllm")
    data = data or eval_dir() / "controlllm" / "tool100_dev.jsonl"
    registry = cl.load_registry(tools_json or data.parent / "tools.json")
    records = cl.load_records(data)
    records = cl.sample(records, limit)
    from agent.planner import PlannerOptions

    backend = get_backend(planner)
    results = []
    options = PlannerOptions(parts=parts)
    for number, result in enumerate(cl.run(records, registry, backend, max_attempts=attempts, max_tokens=max_tokens, options=options), 1):
        results.append(result)
        click.echo(f"[{number}/{len(records)}] {result.record['level']:<6} {result.timing.seconds:5.1f}s {result.source:<8} "
                   f"domains {sorted(result.predicted_domains)} vs {sorted(result.gold_domains)}", err=True)
    path = _out(out, "controlllm")
    cl.write_jsonl(results, path)
    summary = cl.summarise(results)
    path.with_suffix(".summary.json").write_text(json.dumps(summary, indent=2))
    click.echo(cl.table(summary))
    click.echo(f"per-request results: {path}")
