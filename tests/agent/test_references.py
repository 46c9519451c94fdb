"""Which stored artifact a phrase means: notes for the planner, from what the session knows."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from agent.catalogue import artifact_catalogue
from agent.references import resolve_mentions
from bench.product import ListedSession
from tools.artifacts import Kind, Session


@pytest.fixture
def session(tmp_path: Path) -> Session:
    return Session(tmp_path)


def _image(session: Session, prompt: str = "a cat") -> str:
    return session.add(Kind.IMAGE, Image.new("RGB", (64, 64)), tool="text_to_image", args={"prompt": prompt}).id


def test_the_photo_means_the_main_output_and_the_catalogue_says_which_is_which(session):
    sketch = _image(session, "a sketch")
    photo, edges = session.add_many([(Kind.IMAGE, Image.new("RGB", (64, 64)), {"output": "image"}),
                                     (Kind.IMAGE, Image.new("RGB", (64, 64)), {"output": "condition"})], tool="controlnet")
    shown = session.artifacts()
    assert resolve_mentions("show me the edge map of the photo you made", shown)[0][0].artifact == photo.id
    assert resolve_mentions("upscale the third image", shown)[0][0].artifact == edges.id  # counting still counts every image
    lines = artifact_catalogue(shown).splitlines()
    assert lines[0].startswith(f"- {sketch} (image 64x64) by text_to_image:")
    assert lines[2].startswith(f"- {edges.id} (image 64x64) by controlnet (condition, made with {photo.id})")


def test_a_demonstrative_points_at_what_exists_even_in_a_request_that_makes_more():
    shown = ListedSession(["audio-1 music: calm piano", "image-1 text_to_image: a cat", "image-2 upscale: a cat"]).artifacts()
    mentions, _ = resolve_mentions("make a video of rain on a window and put this music on it", shown)
    assert [(m.phrase, m.artifact) for m in mentions] == [("this music", "audio-1")]  # "it" is the video made here: no note
    assert resolve_mentions("make a video of rain", shown) == ([], [])
    assert [m.artifact for m in resolve_mentions("post my last picture", shown)[0]] == ["image-2"]
    assert [m.artifact for m in resolve_mentions("the first frame of the final picture", shown)[0]] == ["image-2"]


def test_it_in_a_request_that_makes_a_companion_is_what_exists():
    """"Draw a cat and make it blue": "it" is made here. "A picture to go with it": "it" is what
    the picture goes with, already stored (the speech of the turn before)."""
    shown = ListedSession(["audio-1 speech: welcome to our little bakery"]).artifacts()
    for request in ("and make a picture of a cosy bakery to go with it", "compose some music that goes with it",
                    "make a picture to match it"):
        assert [m.artifact for m in resolve_mentions(request, shown)[0]] == ["audio-1"], request
    for request in ("draw a cat and make it blue", "draw a cat and play with it"):
        assert resolve_mentions(request, shown) == ([], []), request


def test_a_bare_it_stands_in_only_for_the_tool_that_made_it():
    """"this music" stands in for any new music; a bare "it" names no kind, so only for a step of
    the tool that made it (the speech of the turn before planned again), not for a download."""
    from agent.references import meant_instead

    shown = ListedSession(["audio-1 music: calm piano"]).artifacts()
    assert meant_instead(shown, "make a video and put this music on it", set()) == {Kind.AUDIO: ("audio-1", None)}
    shown = ListedSession(["image-1 import: a page"]).artifacts()
    assert meant_instead(shown, "read the address in it and download the image", set()) == {Kind.IMAGE: ("image-1", "import")}


def test_the_catalogue_shows_what_a_speech_said(session, tmp_path):
    """Speech records its words as ``text``, not ``prompt``: without them "read it again" or
    "a picture to go with it" has nothing to go on."""
    import wave

    wav = tmp_path / "said.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16000), out.writeframes(bytes(3200))
    said = session.add(Kind.AUDIO, wav, tool="speech", args={"text": "welcome to our bakery"})
    assert artifact_catalogue([said]).endswith(': "welcome to our bakery"')
