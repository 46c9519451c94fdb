"""Which requests order effects outside the session (``agent.capabilities``)."""

from __future__ import annotations

import pytest

from agent.capabilities import outside_verbs, tool_words
from tools.artifacts import Kind
from tools.base import Input, Tool
from tools.registry import Registry, load_registry


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()


@pytest.mark.parametrize("request_text", [
    "post my last picture on instagram", "can you print it and mail it to me?", "please upload my video to youtube",
    "book me a flight to Lisbon for next Tuesday", "print the poster and post it to my aunt",
])
def test_orders_for_the_outside_world_are_refused(registry, request_text):
    verbs, every, _ = outside_verbs(request_text, tool_words(registry))
    assert verbs and every


@pytest.mark.parametrize("request_text", [
    "Find an image of a beautiful mountain landscape for my upcoming blog post.",  # a purpose, not an order (TaskBench)
    "I have a text message in Spanish, and I want to send its English version in an audio message",
    "posterize the big one for a flat print look", "make the poster four times bigger for printing",
])
def test_purposes_and_look_alike_words_are_not_refused(registry, request_text):
    assert outside_verbs(request_text, tool_words(registry)) == ([], False, request_text)


def test_a_verb_a_tool_names_is_that_tools_to_do(registry):
    class Uploader(Tool):
        """Upload a video to a video site; its address comes back as text."""

        name = "upload_video"
        inputs = {"video": Input(Kind.VIDEO)}  # noqa: RUF012
        outputs = {"text": Kind.TEXT}  # noqa: RUF012

        def run(self, ctx, params, *, video):
            return {"text": "https://videos.invalid/1"}

    with_plugin = Registry()
    for tool in [*registry, Uploader]:
        with_plugin.register(tool)
    assert outside_verbs("upload my video to youtube", tool_words(registry))[:2] == (["upload"], True)
    assert outside_verbs("upload my video to youtube", tool_words(with_plugin))[:2] == ([], False)
    assert outside_verbs("paint a cat and post it on instagram", tool_words(registry))[:2] == (["post"], False)


@pytest.mark.parametrize(("request_text", "rest"), [
    ("draw a cute corgi in a raincoat and post it on instagram", "draw a cute corgi in a raincoat"),
    ("print it, then make a bigger copy", "make a bigger copy"),
    ("make a poster of a jazz night, print it and send it to Ana.", "make a poster of a jazz night"),
])
def test_the_planner_is_asked_only_what_a_tool_can_do(registry, request_text, rest):
    """Told only "leave that part out", the 1.5B model wrote "post it on instagram" as a subtask."""
    assert outside_verbs(request_text, tool_words(registry)).rest == rest
