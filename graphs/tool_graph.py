"""The typed tool graph (ControlLLM's Thoughts-on-Graph): artifact kinds <-> tools.

Bipartite and derived from the registry every time, never kept by hand: an edge kind -> tool
means "accepts", tool -> kind means "produces". ``search`` chains tools backwards from the kind
wanted, so a tool that needs several inputs (image + mask) is only used when every required
input is either available or made by an earlier tool in the chain.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from tools.artifacts import Kind
from tools.errors import ConfigError, InputError
from tools.registry import Registry


def kind_node(kind: Kind) -> str:
    return f"kind:{kind.value}"


def tool_node(name: str) -> str:
    return f"tool:{name}"


def build_tool_graph(registry: Registry) -> nx.DiGraph:
    graph = nx.DiGraph()
    for kind in Kind:
        graph.add_node(kind_node(kind), type="kind", kind=kind)
    for tool in registry:
        graph.add_node(tool_node(tool.name), type="tool", name=tool.name, cost=tool.cost, summary=tool.summary())
        for name, spec in tool.inputs.items():
            edge = graph.get_edge_data(kind_node(spec.kind), tool_node(tool.name))
            if edge is None:
                graph.add_edge(kind_node(spec.kind), tool_node(tool.name), inputs=[name], optional=spec.optional)
            else:
                edge["inputs"].append(name)
                edge["optional"] = edge["optional"] and spec.optional
        for name, kind in tool.outputs.items():
            graph.add_edge(tool_node(tool.name), kind_node(kind), outputs=[name])
    return graph


@dataclass(frozen=True)
class Chain:
    """Tools in the order they run; every required input is available or made earlier."""

    tools: tuple[str, ...]
    cost: float

    def __str__(self) -> str:
        return " -> ".join(self.tools)


def required_kinds(graph: nx.DiGraph, tool: str) -> list[Kind]:
    return sorted(
        (graph.nodes[k]["kind"] for k, _, data in graph.in_edges(tool, data=True) if not data["optional"]),
        key=lambda k: k.value,
    )


def search(
    graph: nx.DiGraph,
    available: set[Kind],
    want: Kind,
    *,
    max_steps: int = 3,
    limit: int = 10,
) -> list[Chain]:
    """Ranked, type-correct tool chains that make ``want`` from ``available`` kinds."""

    def ways(kind: Kind, depth: int, visiting: frozenset[Kind]) -> list[tuple[str, ...]]:
        if depth == 0:
            return []
        found: list[tuple[str, ...]] = []
        for tool in graph.predecessors(kind_node(kind)):
            options = []
            for need in required_kinds(graph, tool):
                if need in available:
                    continue
                if need in visiting:
                    options = None
                    break
                sub = ways(need, depth - 1, visiting | {need})
                if not sub:
                    options = None
                    break
                options.append(sub)
            if options is None:
                continue
            for combo in itertools.islice(itertools.product(*options), 50):
                ordered: list[str] = []
                for part in combo:
                    ordered.extend(t for t in part if t not in ordered)
                if tool not in ordered:
                    ordered.append(tool)
                if len(ordered) <= max_steps:
                    found.append(tuple(ordered))
        return found

    chains = {
        Chain(tuple(graph.nodes[t]["name"] for t in path), sum(graph.nodes[t]["cost"] for t in path))
        for path in ways(want, max_steps, frozenset({want}))
    }
    return sorted(chains, key=lambda c: (len(c.tools), c.cost, c.tools))[:limit]


@dataclass(frozen=True)
class Source:
    """Where an input can come from: an earlier step (``label`` ``s2``) or an artifact
    (``image-3``), with the outputs it offers by name and kind (an artifact offers itself)."""

    label: str
    outputs: tuple[tuple[str | None, Kind], ...]

    def ref(self, output: str | None) -> str:
        return f"${{{self.label}.{output}}}" if output else f"${{{self.label}}}"

    def kinds(self) -> list[Kind]:
        return [k for _, k in self.outputs]


@dataclass
class Wiring:
    """A step's inputs filled from its sources: argument name -> reference, how each was chosen."""

    args: dict[str, str]
    by_type: list[str]
    problems: list[str]
    unplaced: list[Source] = field(default_factory=list)
    """Sources of a kind no input of the tool takes."""
    extra: list[str] = field(default_factory=list)
    """Sources of a kind the tool takes when every input of that kind is already filled (one
    more image than the tool has inputs for): the caller decides whether that is an error."""
    """Sources that fit no input (their problems are in ``problems``)."""


def text_slots(tool: type) -> list[str]:
    """The parameters a text source can feed: the required ``str`` ones, else ``prompt``/``text``."""
    fields = tool.Params.model_fields
    required = [n for n, f in fields.items() if f.is_required() and f.annotation is str]
    return required or [n for n in ("prompt", "text", "story") if n in fields]


def wire(tool: type, sources: list[Source], earlier: list[Source], label: str, consumed: frozenset[str] = frozenset()) -> Wiring:
    """Fill ``tool``'s inputs from the ``sources`` the model named, by kind, in the order given.

    A source fills the first free input of a kind it offers (a step that makes an image and a
    mask feeds both of ``harmonize``'s inputs); a text source feeds a text parameter. A required
    artifact input nobody named is wired by type to the most recent unconsumed earlier output of
    its kind, else the most recent one of its kind (``earlier``: steps and artifacts, oldest
    first; ``consumed``: references other steps already take), never one another input of the step
    already takes while another of its kind is there. A source that fits no input, or an input that nothing can fill, is a problem worded
    for the model.
    """
    slots: list[tuple[str, Kind]] = [(n, spec.kind) for n, spec in tool.inputs.items()]
    slots += [(n, Kind.TEXT) for n in text_slots(tool)]
    args: dict[str, str] = {}
    problems: list[str] = []
    unplaced: list[Source] = []
    extra: list[str] = []
    for source in sources:
        placed = False
        for output, kind in source.outputs:
            free = next((n for n, k in slots if k == kind and n not in args), None)
            if free is not None:
                args[free] = source.ref(output)
                placed = True
        if not placed and any(k in source.kinds() for _, k in slots):
            taken = ", ".join(f"{n} <- {args[n][2:-1]}" for n, k in slots if k in source.kinds() and n in args)
            extra.append(f"{label} ({tool.name}) has no free input for {source.label} ({taken})")
        elif not placed:
            unplaced.append(source)
            takes = sorted({k.value for _, k in slots}) or ["nothing"]
            made = sorted({k.value for k in source.kinds()})
            problems.append(f"{label} ({tool.name}) takes {', '.join(takes)}, but {source.label} is {', '.join(made)}")
    by_type: list[str] = []
    for name, spec in tool.inputs.items():
        if name in args or spec.optional:
            continue
        fitting = [(s, o) for s in reversed(earlier) for o, k in s.outputs if k == spec.kind]
        if not fitting:
            problems.append(f"{label} ({tool.name}) needs {'an' if spec.kind.value[0] in 'aeiou' else 'a'} {spec.kind.value} for '{name}', and nothing before it makes one")
            continue
        # not what another input of this step already takes (audio_splicer wired audio-2 twice)
        fresh = [(s, o) for s, o in fitting if s.ref(o) not in args.values()] or fitting
        source, output = next(((s, o) for s, o in fresh if s.ref(o) not in consumed), fresh[0])
        args[name] = source.ref(output)
        by_type.append(f"{label}.{name} <- {source.label}")
    return Wiring(args, by_type, problems, unplaced, extra)


def to_dot(graph: nx.DiGraph) -> str:
    lines = ["digraph llmga_tools {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for node, data in graph.nodes(data=True):
        if data["type"] == "kind":
            lines.append(f'  "{node}" [label="{data["kind"].value}", shape=ellipse, style=filled, fillcolor="#dde8ff"];')
        else:
            lines.append(f'  "{node}" [label="{data["name"]}", shape=box];')
    for src, dst, data in graph.edges(data=True):
        label = ",".join(data.get("inputs") or data.get("outputs") or [])
        style = ", style=dashed" if data.get("optional") else ""
        lines.append(f'  "{src}" -> "{dst}" [label="{label}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(graph: nx.DiGraph) -> str:
    def ident(node: str) -> str:
        return node.replace(":", "_")

    lines = ["flowchart LR"]
    for node, data in graph.nodes(data=True):
        if data["type"] == "kind":
            lines.append(f"  {ident(node)}(({data['kind'].value}))")
        else:
            lines.append(f"  {ident(node)}[{data['name']}]")
    for src, dst, data in graph.edges(data=True):
        label = ",".join(data.get("inputs") or data.get("outputs") or [])
        arrow = "-.->" if data.get("optional") else "-->"
        lines.append(f"  {ident(src)} {arrow}|{label}| {ident(dst)}")
    return "\n".join(lines) + "\n"


def render_png(dot_source: str, dest: Path) -> Path:
    """Render DOT to PNG with Graphviz's ``dot`` program, when it is installed."""
    dot = shutil.which("dot")
    if dot is None:
        raise ConfigError("PNG export needs Graphviz's `dot` (apt-get install graphviz); DOT and Mermaid work without it")
    try:
        subprocess.run([dot, "-Tpng", "-o", str(dest)], input=dot_source.encode(), check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:  # a full device, an unwritable folder
        reason = exc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [f"exit {exc.returncode}"]
        raise InputError(f"Graphviz could not write {dest}: {reason[0][:200]}") from None
    return dest
