"""The tool graph is derived from the registry, and search returns type-correct chains."""

from __future__ import annotations

import shutil

import pytest

from graphs.tool_graph import build_tool_graph, kind_node, render_png, search, to_dot, to_mermaid, tool_node
from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Tool, ToolContext, ToolParams
from tools.builtin import TOOLS
from tools.registry import Registry


class Inpaint(Tool):
    """Fill the masked area of an image (needs both)."""

    name = "fake_inpaint"
    inputs = {"image": Input(Kind.IMAGE), "mask": Input(Kind.MASK)}
    outputs = {"image": Kind.IMAGE}
    cost = 5

    def run(self, ctx: ToolContext, params: ToolParams, *, image: ArtifactHandle, mask: ArtifactHandle) -> dict:
        return {"image": image.image()}


class Segment(Tool):
    """Mask of an object named by a phrase."""

    name = "fake_segment"
    inputs = {"image": Input(Kind.IMAGE)}
    outputs = {"mask": Kind.MASK}

    def run(self, ctx: ToolContext, params: ToolParams, *, image: ArtifactHandle) -> dict:
        return {"mask": image.image().convert("L")}


class Speak(Tool):
    """Text to speech."""

    name = "fake_speak"
    inputs = {"text": Input(Kind.TEXT)}
    outputs = {"audio": Kind.AUDIO}

    def run(self, ctx: ToolContext, params: ToolParams, *, text: ArtifactHandle) -> dict:
        raise NotImplementedError


@pytest.fixture
def graph():
    registry = Registry()
    for tool in [*TOOLS, Inpaint, Segment, Speak]:
        registry.register(tool)
    return build_tool_graph(registry)


def test_graph_is_bipartite_and_follows_declarations(graph):
    for src, dst in graph.edges:
        assert {src.split(":")[0], dst.split(":")[0]} == {"kind", "tool"}
    assert graph.has_edge(kind_node(Kind.IMAGE), tool_node("fake_inpaint"))
    assert graph.has_edge(kind_node(Kind.MASK), tool_node("fake_inpaint"))
    assert graph.has_edge(tool_node("pad_canvas"), kind_node(Kind.MASK))
    assert graph.edges[kind_node(Kind.IMAGE), tool_node("composite")]["inputs"] == ["image", "overlay"]
    assert graph.edges[kind_node(Kind.MASK), tool_node("composite")]["optional"] is True


def test_multi_input_tool_gets_its_missing_input_made_first(graph):
    chains = [c.tools for c in search(graph, {Kind.IMAGE}, Kind.IMAGE)]
    assert ("resize",) in chains and ("fake_inpaint",) not in chains
    two_step = [c for c in chains if c[-1] == "fake_inpaint"]
    assert ("fake_segment", "fake_inpaint") in two_step
    assert all(c.index("fake_inpaint") == len(c) - 1 for c in two_step)
    with_mask = [c.tools for c in search(graph, {Kind.IMAGE, Kind.MASK}, Kind.IMAGE)]
    assert ("fake_inpaint",) in with_mask


def test_ranking_is_shortest_then_cheapest(graph):
    chains = search(graph, {Kind.IMAGE}, Kind.IMAGE)
    keys = [(len(c.tools), c.cost) for c in chains]
    assert keys == sorted(keys)


def test_impossible_requests_return_nothing(graph):
    assert search(graph, {Kind.IMAGE}, Kind.VIDEO) == []
    assert search(graph, set(), Kind.AUDIO) == []
    assert [c.tools for c in search(graph, {Kind.TEXT}, Kind.AUDIO)] == [("fake_speak",)]


def test_exports(graph, tmp_path):
    dot = to_dot(graph)
    assert '"kind:image" -> "tool:fake_inpaint"' in dot and dot.startswith("digraph")
    mermaid = to_mermaid(graph)
    assert mermaid.startswith("flowchart LR") and "tool_fake_inpaint[fake_inpaint]" in mermaid
    if shutil.which("dot"):
        out = render_png(dot, tmp_path / "g.png")
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class Blend(Tool):
    """Two pictures into one (two inputs of one kind)."""

    name = "fake_blend"
    inputs = {"image": Input(Kind.IMAGE), "image_2": Input(Kind.IMAGE)}
    outputs = {"image": Kind.IMAGE}

    def run(self, ctx: ToolContext, params: ToolParams, *, image: ArtifactHandle, image_2: ArtifactHandle) -> dict:
        return {"image": image.image()}


def test_two_inputs_of_one_kind_wired_by_type_take_two_sources():
    """Nothing named, two pictures in the session: each input gets one (audio_splicer was wired
    audio-2 twice); with one picture only, both take it rather than fail."""
    from graphs.tool_graph import Source, wire

    first, second = Source("image-1", ((None, Kind.IMAGE),)), Source("image-2", ((None, Kind.IMAGE),))
    wiring = wire(Blend, [], [first, second], "s1")
    assert sorted(wiring.args.values()) == ["${image-1}", "${image-2}"] and not wiring.problems
    assert wire(Blend, [], [first], "s1").args == {"image": "${image-1}", "image_2": "${image-1}"}
