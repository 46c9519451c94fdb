"""The ``llmga`` command: parse flags, call ``Runtime``, print. No logic lives here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from agent.config import Settings
from agent.display import Display
from agent.runtime import Runtime
from graphs.tool_graph import build_tool_graph, render_png, search, to_dot, to_mermaid
from graphs.workflow import parse_assignments, read_batch
from tools.artifacts import Kind
from tools.errors import LlmgaError, UserError

KINDS = click.Choice([k.value for k in Kind])


class Cli(click.Group):
    """Turns every llmga error into one line on stderr and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except LlmgaError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code if isinstance(exc, UserError) else 1)


@click.group(cls=Cli)
@click.option("--workspace", type=click.Path(path_type=Path), help="Folder for sessions and cache (default: $LLMGA_WORKSPACE or the user data dir).")
@click.pass_context
def main(ctx: click.Context, workspace: Path | None) -> None:
    """llmga: plan, run and remember multi-step image, video and sound generation."""
    settings = Settings(**({"workspace": workspace} if workspace else {}))
    ctx.obj = Runtime(settings)


# -- tools ------------------------------------------------------------------------------------
@main.group()
def tools() -> None:
    """Inspect the installed tools and the tool graph."""


@tools.command("list")
@click.pass_obj
def tools_list(rt: Runtime) -> None:
    """One line per tool: name, inputs -> outputs, plugin, summary."""
    for tool in rt.registry:
        ins = ", ".join(f"{n}:{s.kind.value}{'?' if s.optional else ''}" for n, s in tool.inputs.items())
        outs = ", ".join(f"{n}:{k.value}" for n, k in tool.outputs.items())
        click.echo(f"{tool.name:<18} ({ins}) -> ({outs})  [{rt.registry.origin(tool.name)}]  {tool.summary()}")


@tools.command("show")
@click.argument("name")
@click.pass_obj
def tools_show(rt: Runtime, name: str) -> None:
    """Full description, inputs, outputs and the parameter JSON schema of one tool."""
    tool = rt.registry.get(name)
    click.echo(f"{tool.name} (plugin {rt.registry.origin(tool.name)}, version {tool.version})\n")
    click.echo(tool.description() + "\n")
    for n, s in tool.inputs.items():
        click.echo(f"input  {n}: {s.kind.value}{' (optional)' if s.optional else ''} {s.description}".rstrip())
    for n, k in tool.outputs.items():
        click.echo(f"output {n}: {k.value}")
    if tool.models:
        click.echo(f"models: {', '.join(tool.models)}")
    click.echo("parameters: " + json.dumps(tool.Params.model_json_schema(), indent=2))


@tools.command("graph")
@click.option("--format", "fmt", type=click.Choice(["dot", "mermaid", "png"]), default="mermaid")
@click.option("--out", type=click.Path(path_type=Path), help="Write here instead of stdout (required for png).")
@click.pass_obj
def tools_graph(rt: Runtime, fmt: str, out: Path | None) -> None:
    """Export the kind <-> tool graph as DOT, Mermaid or (with Graphviz) PNG."""
    graph = build_tool_graph(rt.registry)
    if fmt == "png":
        if out is None:
            raise UserError("--format png needs --out FILE.png")
        click.echo(render_png(to_dot(graph), out))
        return
    text = to_dot(graph) if fmt == "dot" else to_mermaid(graph)
    if out:
        out.write_text(text)
        click.echo(out)
    else:
        click.echo(text, nl=False)


@tools.command("chain")
@click.option("--have", "have", multiple=True, type=KINDS, help="A kind you have (repeatable).")
@click.option("--want", required=True, type=KINDS)
@click.option("--max-steps", default=3, show_default=True)
@click.pass_obj
def tools_chain(rt: Runtime, have: tuple[str, ...], want: str, max_steps: int) -> None:
    """Ranked tool chains from the kinds you have to the kind you want."""
    chains = search(build_tool_graph(rt.registry), {Kind(k) for k in have}, Kind(want), max_steps=max_steps)
    if not chains:
        raise UserError(f"no chain of at most {max_steps} tools makes a {want} from {', '.join(have) or 'nothing'}")
    for number, chain in enumerate(chains, 1):
        click.echo(f"{number}. {chain}  (cost {chain.cost:g})")


# -- workflows --------------------------------------------------------------------------------
@main.group()
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
@click.pass_obj
def workflow_run(rt: Runtime, file: Path, assignments: tuple[str, ...], batch: Path | None, session_id: str | None, no_cache: bool) -> None:
    """Run a workflow: plan, progress per step, results with paths."""
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


# -- artifacts --------------------------------------------------------------------------------
@main.command()
@click.option("--session", "session_id", help="Session to list (default: the most recent).")
@click.pass_obj
def artifacts(rt: Runtime, session_id: str | None) -> None:
    """List a session's artifacts with their lineage."""
    session = rt.workspace.session(session_id) if session_id else rt.latest_session()
    Display().artifacts(session, session.artifacts())


@main.command()
@click.pass_obj
def sessions(rt: Runtime) -> None:
    """List sessions, oldest first."""
    for session_id in rt.workspace.sessions():
        click.echo(session_id)
