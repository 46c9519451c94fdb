"""`llmga workflow ...`: validate and run YAML workflow files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from agent.display import Display
from agent.runtime import Runtime
from graphs.plan import bind
from graphs.recipe import remake_plan
from graphs.workflow import parse_assignments, read_batch


@click.group()
def workflow() -> None:
    """Validate and run YAML workflow files."""


@workflow.command("validate")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE")
@click.pass_obj
def workflow_validate(rt: Runtime, file: Path, assignments: tuple[str, ...]) -> None:
    """Check a workflow (tools, arguments, references, inputs) without running it."""
    plan = rt.validate_workflow(file, parse_assignments(list(assignments)))
    Display().plan(plan, f"{file.name} is valid")


@workflow.command("run")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE", help="Set an input (repeatable).")
@click.option("--batch", type=click.Path(path_type=Path), help="Run once per row of a .jsonl or .csv file.")
@click.option("--session", "session_id", help="Add to this session (default: a new one).")
@click.option("--no-cache", is_flag=True, help="Run every step even if a cached result exists.")
@click.option("--input", "inputs", multiple=True, type=click.Path(path_type=Path), help="IMAGE.png: a file it was made from (repeatable).")
@click.pass_obj
def workflow_run(rt: Runtime, file: Path, assignments: tuple[str, ...], batch: Path | None, session_id: str | None, no_cache: bool,
                 inputs: tuple[Path, ...]) -> None:
    """Run a workflow: plan, progress per step, results with paths. Given a PNG made by llmga, re-run
    the chain of steps its recipe records (files it was made from are found by content hash)."""
    if file.suffix.lower() == ".png":
        _remake(rt, file, session_id, no_cache, list(inputs))
        return
    given = parse_assignments(list(assignments))
    rows = [{**row, **given} for row in read_batch(batch)] if batch else [given]
    display = Display()
    session, runs = rt.run_workflow(
        file,
        rows,
        session_id=session_id,
        use_cache=not no_cache,
        on_event=display.event,
        on_plan=lambda plan, row: display.plan(plan, f"Plan for {json.dumps(row)}" if batch else "Plan"),
    )
    for run in runs:
        display.summary(run.result, session)
    if not all(run.result.ok for run in runs):
        sys.exit(1)


def _remake(rt: Runtime, png: Path, session_id: str | None, no_cache: bool, inputs: list[Path]) -> None:
    """``workflow run IMAGE.png``: the recipe's chain as a plan, run like any workflow, hash compared."""
    session = rt.session(session_id, create=True, prefix="remake")
    plan, recipe = remake_plan(png, rt.registry, rt.workspace, session, inputs)
    display = Display()
    if recipe.get("profile") and recipe["profile"] != rt.models.profile.name:
        click.echo(f"note: {png.name} was made on profile '{recipe['profile']}', this run uses '{rt.models.profile.name}': "
                   "expect different pixels (set LLMGA_PROFILE to match)")
    bound = bind(plan, rt.registry, session)
    display.plan(bound, f"Remaking {png.name} ({len(plan.steps)} step(s))")
    result = rt.executor(session, use_cache=not no_cache, on_event=display.event).run(bound)
    display.summary(result, session)
    if not result.ok:
        sys.exit(1)
    made = session.get(result.outputs["image"])
    same = made.sha256 == recipe.get("sha256")
    click.echo(f"{made.id}: {'the same pixels as' if same else 'differs from'} {png.name} (sha256 {made.sha256[:16]}…)")
