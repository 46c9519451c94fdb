"""Similarity search for the planner: a request read in parts, each part's closest tool."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.llm.fake import FakeBackend
from agent.planner import Planner, PlannerOptions
from agent.retrieval import ToolRanker, request_parts
from tools.artifacts import Session
from tools.registry import load_registry

REQUEST = "Paint a lighthouse on a cliff at dusk, then make the picture four times larger, and compose calm piano music for it."


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_a_request_is_read_in_its_parts_without_what_it_quotes():
    parts = request_parts("I have a video file 'example.mp4'. Read this aloud: 'Welcome to our show, it is great to have you here today.' "
                          "Then translate it, and finally make a video of the sea.")
    # "translate it" is two words and "I have a video file" says what the user has: neither names a job
    assert parts == ["Read this aloud", "make a video of the sea"]


def test_each_part_names_the_tool_it_reads_closest_to(registry):
    ranker = ToolRanker(registry)
    # "paint a lighthouse ..." reads like no description closely enough (0.31, outpaint's): no tool named for it
    assert ranker.read_in_parts(REQUEST) == ["upscale", "music"]
    assert ranker.read_in_parts(REQUEST, among={"music"}) == ["music"]  # a tool not offered is not named
    assert ranker.read_in_parts("Hello there, how are you doing today?") == []  # nothing reads close enough


def test_the_parts_tools_travel_with_the_request_only_when_asked(registry, tmp_path: Path):
    (tmp_path / "s").mkdir()
    session = Session(tmp_path / "s")
    script = [{"steps": [{"tool": "text_to_image"}]}, {"s1": {"prompt": "a lighthouse"}}]
    for on in (True, False):
        fake = FakeBackend(list(script))
        assert Planner(fake, registry, options=PlannerOptions(parts=on)).plan(session, REQUEST).ok
        asked = fake.calls[0].messages[-1].content
        assert ("Tools its parts read closest to: upscale, music." in asked) is on
