"""Which artifact does "it", "the second one" or "the last image" mean?

A small planner model is better at following a note than at counting through a catalogue, so
before planning, phrases that point at earlier results are resolved against the artifacts the
user has seen (results and attachments, in order) and the answer is added to the request as a
note. Explicit ids (``image-3``) are checked too. Ambiguity is left to the planner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.artifacts import ARTIFACT_ID, Artifact, Kind

ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "1st": 0, "2nd": 1, "3rd": 2, "4th": 3, "5th": 4}
NOUNS = {
    "image": Kind.IMAGE, "images": Kind.IMAGE, "picture": Kind.IMAGE, "photo": Kind.IMAGE, "one": None,
    "mask": Kind.MASK, "video": Kind.VIDEO, "clip": Kind.VIDEO, "movie": Kind.VIDEO,
    "audio": Kind.AUDIO, "sound": Kind.AUDIO, "song": Kind.AUDIO, "music": Kind.AUDIO, "layout": Kind.LAYOUT,
}
ORDINAL = re.compile(r"\bthe\s+(first|second|third|fourth|fifth|1st|2nd|3rd|4th|5th|last|latest|previous|newest|original)\s+(" + "|".join(NOUNS) + r")\b", re.I)
BARE = re.compile(r"\b(the\s+(?:image|picture|photo|video|clip|sound|audio|result)|it)\b", re.I)
CREATES = re.compile(r"\b(generate|create|draw|paint|make|render|compose|film)\s+(a|an|some|two|three)\b", re.I)
ID_MENTION = re.compile(r"\b(?:text|image|mask|layout|video|audio)-[1-9][0-9]*\b")


@dataclass(frozen=True)
class Mention:
    phrase: str
    artifact: str


def _of_kind(shown: list[Artifact], kind: Kind | None) -> list[Artifact]:
    if kind is not None:
        return [a for a in shown if a.kind == kind]
    images = [a for a in shown if a.kind == Kind.IMAGE]
    return images or shown


def resolve_mentions(text: str, shown: list[Artifact]) -> tuple[list[Mention], list[str]]:
    """Mentions found in ``text``, and ids it names that do not exist."""
    mentions: list[Mention] = []
    known = {a.id for a in shown}
    unknown = [m for m in ID_MENTION.findall(text) if ARTIFACT_ID.match(m) and m not in known]
    taken: list[tuple[int, int]] = []
    for match in ORDINAL.finditer(text):
        which, noun = match.group(1).lower(), match.group(2).lower()
        pool = _of_kind(shown, NOUNS[noun])
        if not pool:
            continue
        if which in ("last", "latest", "newest"):
            target = pool[-1]
        elif which == "previous":
            target = pool[-2] if len(pool) > 1 else pool[-1]
        elif which == "original":
            target = pool[0]
        elif ORDINALS[which] < len(pool):
            target = pool[ORDINALS[which]]
        else:
            continue
        mentions.append(Mention(match.group(0), target.id))
        taken.append(match.span())
    for match in BARE.finditer(text):
        if any(start <= match.start() < end for start, end in taken) or not shown:
            continue
        if CREATES.search(text[: match.start()]):
            break  # "draw a cat and make it blue": "it" is made in this request, not before
        phrase = match.group(1).lower()
        noun = phrase.split()[-1]
        kind = NOUNS.get(noun) if noun in NOUNS else None
        pool = _of_kind(shown, kind) if phrase.startswith("the") and noun != "result" else _of_kind(shown, None)
        if pool:
            mentions.append(Mention(match.group(0), pool[-1].id))
            break  # one pronoun note is enough; the rest follow the same referent
    return mentions, unknown


def mention_note(mentions: list[Mention]) -> str:
    if not mentions:
        return ""
    return "Note: " + "; ".join(f'"{m.phrase}" means {m.artifact}' for m in mentions) + "."
