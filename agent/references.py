"""Which artifact does "it", "the second one" or "the last image" mean?

A small planner model is better at following a note than at counting through a catalogue, so
before planning, phrases that point at earlier results are resolved against the artifacts the
user has seen (results and attachments, in order) and the answer is added to the request as a
note. Explicit ids (``image-3``) are checked too. Ambiguity is left to the planner, and once it has
named its sources two facts of the session settle what it left open: the newest artifact is the
default, and a mask belongs to the picture it was made with.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from graphs.tool_graph import Source, text_slots
from tools.artifacts import ARTIFACT_ID, Artifact, Kind, byproducts

ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "1st": 0, "2nd": 1, "3rd": 2, "4th": 3, "5th": 4}
NOUNS = {
    "image": Kind.IMAGE, "images": Kind.IMAGE, "picture": Kind.IMAGE, "photo": Kind.IMAGE, "one": None,
    "mask": Kind.MASK, "video": Kind.VIDEO, "clip": Kind.VIDEO, "movie": Kind.VIDEO,
    "audio": Kind.AUDIO, "sound": Kind.AUDIO, "song": Kind.AUDIO, "music": Kind.AUDIO, "layout": Kind.LAYOUT,
}
WHICH = [*ORDINALS, "last", "latest", "final", "previous", "newest", "original"]
ORDINAL = re.compile(r"\b(?:the|my)\s+(" + "|".join(WHICH) + r")\s+(" + "|".join(NOUNS) + r")\b", re.IGNORECASE)
THIS = re.compile(r"\b(?:this|that)\s+(" + "|".join(n for n in NOUNS if n != "one" and not n.endswith("s")) + r")\b", re.IGNORECASE)
BARE = re.compile(r"\b(the\s+(?:image|picture|photo|video|clip|sound|audio|result)|it)\b", re.IGNORECASE)
CREATES = re.compile(r"\b(generate|create|draw|paint|make|render|compose|film)\s+(a|an|some|two|three)\b", re.IGNORECASE)
# "make a picture to go with it": "it" is what the new thing accompanies, so it exists already
ACCOMPANIES = re.compile(r"\b(?:(?:go(?:es)?|fits?|matches|along)\s+with|to\s+match)\s+it$", re.IGNORECASE)
ID_MENTION = re.compile(r"\b(?:text|image|mask|layout|video|audio)-[1-9][0-9]*\b")


@dataclass(frozen=True)
class Mention:
    phrase: str
    artifact: str


def _of_kind(shown: list[Artifact], kind: Kind | None, *, main: bool = False) -> list[Artifact]:
    """The artifacts a noun can mean; ``main``: side outputs left out ("the photo" is never the edge
    map made beside it; "the third image" still counts every image listed)."""
    if main:
        side = byproducts(shown)
        shown = [a for a in shown if a.id not in side] or shown
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
        if which in ("last", "latest", "final", "newest"):
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
    for match in THIS.finditer(text):  # "put this music on it": a demonstrative points at what exists, even in a request that makes more
        if any(start <= match.start() < end for start, end in taken):
            continue
        pool = _of_kind(shown, NOUNS[match.group(1).lower()], main=True)
        if pool:
            mentions.append(Mention(match.group(0), pool[-1].id))
            taken.append(match.span())
    for match in BARE.finditer(text):
        if any(start <= match.start() < end for start, end in taken) or not shown:
            continue
        if CREATES.search(text[: match.start()]) and not ACCOMPANIES.search(text[: match.end()]):
            break  # "draw a cat and make it blue": "it" is made in this request, not before
        phrase = match.group(1).lower()
        noun = phrase.split()[-1]
        kind = NOUNS.get(noun) if noun in NOUNS else None
        pool = _of_kind(shown, kind if phrase.startswith("the") and noun != "result" else None, main=True)
        if pool:
            mentions.append(Mention(match.group(0), pool[-1].id))
            break  # one pronoun note is enough; the rest follow the same referent
    return mentions, unknown


def mention_note(mentions: list[Mention]) -> str:
    if not mentions:
        return ""
    return "Note: " + "; ".join(f'"{m.phrase}" means {m.artifact}' for m in mentions) + "."


def newest_first(tool: type, sources: list[Source], shown: list[Artifact]) -> list[Source]:
    """``sources`` with the newest artifacts first where the planner named more artifacts of one
    kind than ``tool`` has inputs for ("video-1, video-2" for one video): a planner unsure which
    one is meant falls back on the rule it is given, "it" is the newest. Other sources keep
    their places; the oldest are the ones left over."""
    slots = Counter(spec.kind for spec in tool.inputs.values()) + Counter(Kind.TEXT for _ in text_slots(tool))
    age = {a.id: k for k, a in enumerate(shown)}
    ordered = list(sources)
    for kind, room in slots.items():
        places = [k for k, s in enumerate(ordered) if s.label in age and s.kinds() == [kind]]
        if len(places) > room:
            newest = sorted((ordered[k] for k in places), key=lambda s: -age[s.label])
            for k, source in zip(places, newest, strict=True):
                ordered[k] = source
    return ordered


def with_own_picture(tool: type, args: dict[str, str], shown: list[Artifact], request: str) -> list[str]:
    """Give a step that takes a stored mask the picture that mask was made with (outpaint's new
    area and the widened image), in place of another stored picture the request does not name:
    the mask's pixels describe only its own picture. Changes ``args``; returns what it changed."""
    by_id = {a.id: a for a in shown}
    mask = next((by_id.get(args[n][2:-1]) for n, spec in tool.inputs.items() if spec.kind == Kind.MASK and n in args), None)
    image = next((n for n, spec in tool.inputs.items() if spec.kind == Kind.IMAGE and n in args), None)
    if mask is None or image is None:
        return []
    own = [s for s in mask.siblings if s in by_id and by_id[s].kind == Kind.IMAGE]
    given = args[image][2:-1]
    if len(own) != 1 or given == own[0] or given not in by_id or re.search(rf"\b{re.escape(given)}\b", request):
        return []
    args[image] = f"${{{own[0]}}}"
    return [f"{image} <- {own[0]}, not {given}: {mask.id} was made with {own[0]}"]


def meant_instead(shown: list[Artifact], request: str, named: set[str]) -> dict[Kind, tuple[str, str | None]]:
    """Stored artifacts the request points at ("this music" -> audio-1) that the plan names
    nowhere, by kind: a step that makes one of that kind from nothing, for a later step to use,
    is making what the user already has. Each comes with the one tool it stands in for, or None
    for any: a bare "it" names no kind, so it stands in only for the tool that made it (the
    speech of the turn before, planned again), never for another maker of the kind (a download
    in "download an image from it")."""
    tools = {a.id: a.tool for a in shown}
    kinds = {a.id: a.kind for a in shown}
    out: dict[Kind, tuple[str, str | None]] = {}
    for mention in resolve_mentions(request, shown)[0]:
        if mention.artifact not in named and mention.artifact in kinds:
            out.setdefault(kinds[mention.artifact], (mention.artifact, tools[mention.artifact] if mention.phrase.lower() == "it" else None))
    return out


def makes_from_nothing(tool: type) -> bool:
    """A generator: one kind of output, no artifact input it needs (music, text_to_video)."""
    return len(set(tool.outputs.values())) == 1 and all(spec.optional for spec in tool.inputs.values())
