"""From a phrase to the detections it means: which class, and which of several by position or size.

"the bicycle on the left" -> class bicycle, pick the leftmost; "the people" -> every person;
"the biggest dog" -> the largest dog; "the cat" among three -> the most confident, with a warning
that says how to choose. A phrase naming no COCO class is refused with the list of what the
detector knows, never answered with the nearest thing it saw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.errors import ToolFailure
from tools.perception.labels import LABELS, find_class, is_plural
from tools.perception.models import Detection

ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4}
SELECTORS: list[tuple[str, re.Pattern[str]]] = [
    ("left", re.compile(r"\b(left|leftmost|left-most)\b")),
    ("right", re.compile(r"\b(right|rightmost|right-most)\b")),
    ("top", re.compile(r"\b(top|upper|topmost|highest)\b")),
    ("bottom", re.compile(r"\b(bottom|lower|lowest|bottommost)\b")),
    ("middle", re.compile(r"\b(middle|center|centre|central)\b")),
    ("largest", re.compile(r"\b(biggest|largest|big|large|closest|nearest)\b")),
    ("smallest", re.compile(r"\b(smallest|small|little|tiny|farthest|furthest)\b")),
]
ALL = re.compile(r"\b(all|every|each|both)\b")


@dataclass(frozen=True)
class Query:
    """What a phrase asks for: a class, position/size words (in order), an ordinal, one or all."""

    label: str
    selectors: tuple[str, ...]
    ordinal: int | None
    every: bool


def parse_phrase(phrase: str) -> Query:
    text = phrase.lower()
    found = find_class(text)
    if found is None:
        raise ToolFailure(
            f"'{phrase}' names nothing the detector knows: it finds the 80 COCO classes ({', '.join(sorted(LABELS))}); "
            "for anything else draw the mask by hand"
        )
    label, word = found
    selectors = tuple(name for name, pattern in SELECTORS if pattern.search(text))
    ordinal = next((n for w, n in ORDINALS.items() if re.search(rf"\b{w}\b", text)), None)
    every = bool(ALL.search(text)) or (is_plural(word) and not selectors and ordinal is None)
    return Query(label, selectors, ordinal, every)


def _key(selector: str):
    return {
        "left": lambda d: d.centre[0],
        "right": lambda d: -d.centre[0],
        "top": lambda d: d.centre[1],
        "bottom": lambda d: -d.centre[1],
        "middle": lambda d: (d.centre[0] - 0.5) ** 2 + (d.centre[1] - 0.5) ** 2,
        "largest": lambda d: -d.area,
        "smallest": lambda d: d.area,
    }[selector]


def select(query: Query, detections: list[Detection], *, image_id: str = "the image") -> tuple[list[Detection], list[str]]:
    """The detections the query means, and warnings for a choice the phrase left open."""
    matching = [d for d in detections if d.label == query.label]
    if not matching:
        seen = ", ".join(f"{d.label} {d.score:.2f}" for d in detections[:6]) or "nothing"
        raise ToolFailure(f"no {query.label} found in {image_id} (the detector saw: {seen})")
    if query.every:
        return matching, []
    warnings: list[str] = []
    if query.selectors:
        ranked = sorted(matching, key=_key(query.selectors[0]))
    elif query.ordinal is not None:
        ranked = sorted(matching, key=_key("left"))  # "the second cat": counted from the left
    else:
        ranked = sorted(matching, key=lambda d: -d.score)
        if len(matching) > 1:
            warnings.append(
                f"{len(matching)} {query.label} detections in {image_id}; took the most confident. "
                "Say 'on the left', 'the biggest', ... to choose another, or 'all' for every one"
            )
    index = query.ordinal or 0
    if index >= len(ranked):
        raise ToolFailure(f"asked for {query.label} number {index + 1}, but {image_id} has {len(ranked)}")
    return [ranked[index]], warnings
