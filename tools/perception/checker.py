"""Questions about a picture answered by the object detector, in GenEval's manner.

GenEval (Ghosh et al., 2023) checks a generated image with an object detector instead of asking a
model for an opinion: an object is present when the detector finds it, a count is the number of
confident detections, and "A left of B" compares the boxes' centres after discounting a margin of
their sizes. Those are the only questions answered here; one about colour, material, text, style,
actions or anything else the detector cannot see is *skipped* with the reason, never guessed.

``answer(image, question)`` returns an ``Answer``: ``"yes"``/``"no"`` for yes/no questions, a number
for "how many", or ``None`` with a reason. Questions are parsed strictly: the object phrase must be
a COCO class with at most an article or number in front, so "is there a fluffy cat?" is skipped
(the detector cannot judge "fluffy") instead of being answered as "is there a cat?".
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from tools.perception.labels import FORMS
from tools.perception.models import Detection, detector

COUNT_THRESHOLD = 0.5
POSITION_MARGIN = 0.1
"""GenEval's ``POSITION_THRESHOLD``: centre offsets count only beyond 10 % of the two boxes' sizes."""
NAME = "detector (ssd_mobilenet_v2_coco, GenEval-style)"

NUMBERS = {"no": 0, "zero": 0, "a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
           "seven": 7, "eight": 8, "nine": 9, "ten": 10, "a pair of": 2}  # fmt: skip
COLOURS = re.compile(r"\b(colou?rs?|red|green|blue|yellow|orange|purple|pink|brown|black|white|gr[ae]y|silver|gold(en)?|"
                     r"beige|violet|cyan|magenta|turquoise|dark|light|bright|pale)\b")  # fmt: skip
RELATIONS = {
    "left of": "left of", "to the left of": "left of", "on the left of": "left of", "on the left side of": "left of",
    "right of": "right of", "to the right of": "right of", "on the right of": "right of", "on the right side of": "right of",
    "above": "above", "over": "above", "on top of": "above", "below": "below", "under": "below", "underneath": "below",
    "beneath": "below",
}  # fmt: skip
TRAILER = re.compile(r"\s*(in|on|within)\s+(the|this)\s+(image|picture|photo|photograph|scene|frame)\s*$|\s*(visible|shown|present|depicted)\s*$")
ARTICLE = r"(?:the|a|an|any|some|exactly|only|just)"


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str | None
    """"yes", "no", a count as digits, or None when skipped."""
    reason: str = ""


def _noun(phrase: str) -> tuple[str, int | None] | None:
    """(COCO label, number asked for) when the phrase is exactly [article] [number] class; else None."""
    words = phrase.strip().lower()
    words = re.sub(rf"^({ARTICLE}\s+)+", "", words)
    number = None
    for word, value in sorted(NUMBERS.items(), key=lambda kv: -len(kv[0])):
        if re.match(rf"^{re.escape(word)}\s+", words):
            number, words = value, words[len(word):].strip()
            break
    else:
        digits = re.match(r"^(\d+)\s+", words)
        if digits:
            number, words = int(digits.group(1)), words[digits.end():]
    words = re.sub(rf"^({ARTICLE}\s+)+", "", words).strip()
    label = FORMS.get(words)
    return (label, number) if label else None


def relation(a: Detection, b: Detection) -> set[str]:
    """Where A is relative to B: GenEval's rule (centre offset beyond a margin of the sizes)."""
    boxes = np.array([a.box, b.box], dtype=np.float64).reshape(2, 2, 2)
    centre_a, centre_b = boxes.mean(axis=1)
    dim_a, dim_b = np.abs(boxes[:, 1] - boxes[:, 0])
    offset = centre_a - centre_b
    revised = np.maximum(np.abs(offset) - POSITION_MARGIN * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    found = set()
    if dx < -0.5:
        found.add("left of")
    if dx > 0.5:
        found.add("right of")
    if dy < -0.5:
        found.add("above")
    if dy > 0.5:
        found.add("below")
    return found


@dataclass
class DetectorChecker:
    """Answers presence, count and position questions with the detector from the pool."""

    pool: Any
    threshold: float = COUNT_THRESHOLD
    name: str = NAME

    def questions(self, request: str) -> list[str]:
        return questions_from_request(request)

    def detections(self, image: Image.Image) -> list[Detection]:
        return detector(self.pool).detect(image, self.threshold)

    def answer(self, image: Image.Image, question: str, detections: list[Detection] | None = None) -> Answer:
        text = question.strip().rstrip("?").strip().lower()
        text = TRAILER.sub("", text)
        if COLOURS.search(text):
            return Answer(question, None, "skipped: colour; the detector finds objects, counts and positions, not colours")
        found = self.detections(image) if detections is None else detections

        def of(label: str) -> list[Detection]:
            return [d for d in found if d.label == label]

        if m := re.fullmatch(r"how many (.+?)(?: are there| is there| can you see| do you see| does the image (?:show|contain|have))?", text):
            noun = _noun(m.group(1))
            if noun:
                return Answer(question, str(len(of(noun[0]))), f"{len(of(noun[0]))} {noun[0]} detection(s)")
        if m := re.fullmatch(r"(?:is|are) (.+?) (" + "|".join(sorted(map(re.escape, RELATIONS), key=len, reverse=True)) + r") (.+)", text):
            a, b = _noun(m.group(1)), _noun(m.group(3))
            if a and b:
                wanted = RELATIONS[m.group(2)]
                first, second = of(a[0]), of(b[0])
                if not first or not second:
                    missing = a[0] if not first else b[0]
                    return Answer(question, "no", f"no {missing} detected")
                holds = any(wanted in relation(x, y) for x in first for y in second if x is not y)
                return Answer(question, "yes" if holds else "no", f"{a[0]} {'is' if holds else 'is not'} {wanted} {b[0]} (box centres)")
        if m := re.fullmatch(r"(?:is|are) there (.+)|(?:does|do) (?:the|this) (?:image|picture|photo|scene) (?:show|contain|have|include|depict) (.+)|(?:can you see|do you see|i see) (.+)", text):
            noun = _noun(next(g for g in m.groups() if g))
            if noun:
                label, number = noun
                count = len(of(label))
                if number is None or number == 1 and not re.search(r"\b(one|single|exactly|only)\b", text):
                    holds = count >= 1 if number is None or number == 1 else count == number
                else:
                    holds = count == number
                return Answer(question, "yes" if holds else "no", f"{count} {label} detection(s)")
        return Answer(question, None, "skipped: not a presence, count or position question about COCO objects")


_RELATION_WORDS = "|".join(sorted(map(re.escape, RELATIONS), key=len, reverse=True))


def questions_from_request(request: str) -> list[str]:
    """The questions GenEval would ask of a request, written without a model: one per object named
    (with its number: "two cats" -> "Are there two cats?"), one per colour given to an object (which
    the detector will then skip), one per relation ("a cup left of a bowl")."""
    from tools.perception.labels import _PATTERN, FORMS, is_plural

    text = request.lower()
    questions: list[str] = []
    mentions = list(_PATTERN.finditer(text))
    for m in mentions:
        label, word = FORMS[m.group(1)], m.group(1)
        before = text[: m.start()].split()[-2:]
        number = next((NUMBERS[w] for w in reversed(before) if w in NUMBERS and w not in ("no",)), None)
        if number is None:
            number = next((int(w) for w in reversed(before) if w.isdigit()), None)
        colour = next((w for w in reversed(before) if COLOURS.fullmatch(w)), None)
        if number and number > 1:
            question = f"Are there {next(k for k, v in NUMBERS.items() if v == number) if number <= 10 else number} {_plural_of(label)}?"
        elif is_plural(word):
            question = f"Are there {_plural_of(label)}?"
        else:
            question = f"Is there {'an' if label[0] in 'aeiou' else 'a'} {label}?"
        if question not in questions:
            questions.append(question)
        if colour:
            questions.append(f"Is the {label} {colour}?")
    for a, b in itertools.pairwise(mentions):
        between = text[a.end() : b.start()]
        rel = re.search(rf"\b({_RELATION_WORDS})\b", between)
        if rel and len(between.split()) <= 6:
            questions.append(f"Is the {FORMS[a.group(1)]} {RELATIONS[rel.group(1)]} the {FORMS[b.group(1)]}?")
    return questions


def _plural_of(label: str) -> str:
    from tools.perception.labels import _plural

    return "people" if label == "person" else _plural(label)
