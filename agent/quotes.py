"""Passages the request quotes, offered to the planner as text artifacts of their own.

A small model copies a quoted passage into its arguments token by token: slow (about 11 tokens a
second on two cores, 70 tokens for an article) and often cut short or garbled near its end ("a
multitude ofBenefits", TaskBench dev). Told so in words, it kept copying (5 of 6 answers). A
passage listed as an artifact (``text-1 (text) by quote: "..."``) is a source like an attached
file: the structure answer names it where a step takes it, the grammar then offers only tools
that take text, and the step's text is the passage as the user wrote it, with no argument to write.
The artifacts are the planner's only: the session stores nothing for them, and the plan carries
the passage itself.

A web address the request states is a value of its own kind: a ``url`` parameter takes it as
written (``stated_urls``), so a downloader's address needs no second answer. On TaskBench's 329
dev requests (the v13 answers replayed) that answer is no longer asked for on 33, where the
address was all it held; and where a request wrote a bare address, the model had added a scheme
it did not write (``example.com/audio.wav`` -> ``https://example.com/audio.wav``, 4 of them).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime

from tools.artifacts import ARTIFACT_ID, EXTENSION, Artifact, Kind

QUOTED = re.compile(r"""(?:^|(?<=[\s:(]))(['"])(.+?)\1(?=[\s.,;:!?)]|$)""")
"""A passage in single or double quotes: opened after a space, colon or bracket and closed before
one or a stop, so that the apostrophes inside ("today's", "it's") do not end it."""

MIN_WORDS = 6
"""Shorter quotes ('example.mp4', a title) are file names or cost the answer little to write."""

TOOL = "quote"
"""What a quoted passage's artifact line says made it (``text-1 (text) by quote``)."""


URL = re.compile(r"""(?:https?://|www\.)[^\s'"<>]+|(?<![@\w./-])[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|edu|gov|io)\b(?:/[^\s'"<>]*)?""",
                 re.IGNORECASE)
"""A web address as a request writes it: with its scheme or ``www.``, or a bare host under a common
top-level domain (``example.com/audio.wav``; a ``photo.png`` is a file, not an address)."""

URL_PARAM = re.compile(r"(?:^|_)url$")
"""The parameters that take a web address: ``url``, ``source_url``."""


MEDIA_URL = re.compile(r"\.(?:png|jpe?g|gif|bmp|webp|tiff?|wav|mp3|flac|ogg|m4a|aac|mp4|mov|avi|mkv|webm)$", re.IGNORECASE)
"""An address of a picture, a sound or a video file, not of a page to read."""


def stated_urls(text: str) -> list[str]:
    """The web addresses ``text`` states, each once, in order, without the stop or bracket after one."""
    return list(dict.fromkeys(m.group(0).rstrip(".,;:!?)]") for m in URL.finditer(text)))


def passages(text: str) -> list[str]:
    """The passages of ``text`` worth offering, in order."""
    return [m.group(2) for m in QUOTED.finditer(text) if len(m.group(2).split()) >= MIN_WORDS]


def quote_artifacts(request: str, ids: Iterable[str]) -> list[Artifact]:
    """A text artifact per passage of ``request``, numbered after the text artifacts among the
    conversation's ``ids``."""
    taken = [int(m.group(2)) for i in ids if (m := ARTIFACT_ID.match(i)) and m.group(1) == Kind.TEXT.value]
    first = max(taken, default=0) + 1
    return [Artifact(id=f"text-{k}", kind=Kind.TEXT, file=f"text-{k}{EXTENSION[Kind.TEXT]}", tool=TOOL, args={"text": passage},
                     created_at=datetime.now(UTC), sha256=hashlib.sha256(passage.encode()).hexdigest())
            for k, passage in enumerate(passages(request), first)]


def quoted_text(quotes: Iterable[Artifact]) -> dict[str, str]:
    """``{"${text-1}": passage}``: the references to the ``quotes``, with what replaces them."""
    return {f"${{{a.id}}}": a.args["text"] for a in quotes}
