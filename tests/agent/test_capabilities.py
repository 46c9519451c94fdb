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
    verbs, every = outside_verbs(request_text, tool_words(registry))
    assert verbs and every


@pytest.mark.parametrize("request_text", [
    "Find an image of a beautiful mountain landscape for my upcoming blog post.",  # a purpose, not an order (TaskBench)
    "I have a text message in Spanish, and I want to send its English version in an audio message",
    "posterize the big one for a flat print look", "make the poster four times bigger for printing",
])
def test_purposes_and_look_alike_words_are_not_refused(registry, request_text):
    assert outside_verbs(request_text, tool_words(registry)) == ([], False)


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
    assert outside_verbs("upload my video to youtube", tool_words(registry)) == (["upload"], True)
    assert outside_verbs("upload my video to youtube", tool_words(with_plugin)) == ([], False)
    assert outside_verbs("paint a cat and post it on instagram", tool_words(registry)) == (["post"], False)
