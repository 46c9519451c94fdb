"""What no tool can do: effects outside the session (post, print, e-mail, book, buy).

Every tool makes or changes files in the session; none reaches the world outside it. A small
planner still answers "post my last picture on instagram" with a tool whose name looks like the
verb (``posterize``), so a request that asks only for such effects is answered in one sentence
before the model is asked. A clause counts when it starts with the verb, after "please", "can
you" and the like: "my blog post", "so I can send it" and "share it with my team" inside a
longer sentence are purposes, not orders. A verb that some tool's name or description uses (a
plugin that uploads) is that tool's to do and is not refused.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from tools.registry import Registry

OUTSIDE = ("post", "upload", "send", "email", "e-mail", "mail", "print", "publish", "share", "tweet", "book", "order", "buy", "pay")
CLAUSE = re.compile(r"([,;.!?]+|\s(?:and|then)\s)", re.IGNORECASE)
OPENING = re.compile(r"^(?:(?:please|pls|kindly|now|also|just|and|then|can|could|would|will|you|go|ahead)\s+)+", re.IGNORECASE)
WORD = re.compile(r"[a-z][a-z-]*")


def tool_words(registry: Registry) -> frozenset[str]:
    """The words of the tools' names and descriptions: a verb among them is some tool's to do
    (computed once per planner, not per request)."""
    words: set[str] = set()
    for tool in registry:
        words |= set(WORD.findall(f"{tool.name.replace('_', ' ')} {tool.description()}".lower()))
    return frozenset(words)


class Outside(NamedTuple):
    """What a request orders outside the session."""

    verbs: list[str]
    """the verbs no tool names, in the order the request says them ("post", "e-mail")"""
    every: bool
    """every clause is such an order: nothing is left to plan"""
    rest: str
    """the request without those clauses: what the planner is asked. Told only "leave that part
    out", the 1.5B model still wrote "post it on instagram" as a subtask and gave it a tool."""


def outside_verbs(request: str, done: frozenset[str]) -> Outside:
    """The orders of ``request`` for effects outside the session that no tool (``done``:
    ``tool_words``) names."""
    parts = CLAUSE.split(request)  # clause, separator, clause, ...
    verbs, kept, clauses = [], [], 0
    for k in range(0, len(parts), 2):
        clause = OPENING.sub("", parts[k].strip())
        if not clause:
            continue
        clauses += 1
        first = (WORD.findall(clause.lower()) or [""])[0]
        if first in OUTSIDE and first not in done:
            verbs.append("e-mail" if first == "email" else first)
        else:
            kept.append((parts[k - 1] if k and kept else "") + parts[k])
    verbs = list(dict.fromkeys(verbs))
    rest = "".join(kept).strip() if verbs else request
    return Outside(verbs, clauses > 0 and not kept, rest)


def _either(verbs: list[str]) -> str:
    return verbs[0] if len(verbs) == 1 else f"{', '.join(verbs[:-1])} or {verbs[-1]}"


def refusal(verbs: list[str]) -> str:
    """The one sentence for a request that orders only ``verbs``."""
    return (f"I can't {_either(verbs)} anything: my tools make and change pictures, video and sound in this session, "
            "and the files they make are yours to use.")


def part_left_out(verbs: list[str]) -> tuple[str, str]:
    """For a request that orders ``verbs`` among things a tool can do ("make a cat picture and
    post it on instagram"): the note for the planner, to plan the rest, and the sentence the
    reply ends with."""
    said = _either(verbs)
    return (f"No tool can {said}: plan the rest and leave that part out.",
            f"I can't {said} it for you: the files are yours to {said}.")
