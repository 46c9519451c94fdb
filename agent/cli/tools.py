"""`llmga tools ...`: inspect installed tools and the tool graph."""

from __future__ import annotations

import json
from pathlib import Path

import click

from agent.runtime import Runtime
from graphs.tool_graph import build_tool_graph, render_png, search, to_dot, to_mermaid
from tools.artifacts import Kind
from tools.errors import UserError

KINDS = click.Choice([k.value for k in Kind])


@click.group()
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
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:  # a full device, a missing folder, no permission
            raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
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


