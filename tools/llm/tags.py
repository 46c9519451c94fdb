"""Detailed generation prompts that LLMGA writes between ``<gen_image>`` and ``</gen_image>``.

LLMGA's MLLM answers in prose and puts the detailed prompt for the diffusion model inside these
tags. Model output is untidy, so the parser never relies on positions or lengths:

- every tag pair is returned, in order;
- tags match case-insensitively and tolerate spaces (``< gen_image >``, ``</ GEN_IMAGE>``);
- an unclosed tag runs to the next opening tag or the end of the text (generation stopped at
  ``max_tokens``), and is marked ``closed=False``;
- chat stop tokens (``</s>``, ``<|im_end|>``, ``<|eot_id|>``, ``<|endoftext|>``) end a prompt;
- a stray closing tag is ignored; whitespace inside a prompt is collapsed; empty prompts are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPEN_TAG = "<gen_image>"
CLOSE_TAG = "</gen_image>"

_OPEN = re.compile(r"<\s*gen_image\s*>", re.IGNORECASE)
_CLOSE = re.compile(r"<\s*/\s*gen_image\s*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<\s*/?\s*gen_image\s*>", re.IGNORECASE)
_STOP = re.compile(r"</s>|<\|im_end\|>|<\|eot_id\|>|<\|endoftext\|>|<\|end\|>", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class GenImagePrompt:
    """One detailed prompt; ``start``/``end`` delimit the whole tagged span in the source text."""

    prompt: str
    start: int
    end: int
    closed: bool


def find_gen_image_prompts(text: str) -> list[GenImagePrompt]:
    """Every ``<gen_image>`` prompt in ``text``, in order (see the module docstring for the rules)."""
    found: list[GenImagePrompt] = []
    pos = 0
    while (opening := _OPEN.search(text, pos)) is not None:
        body_start = opening.end()
        closing = _CLOSE.search(text, body_start)
        next_open = _OPEN.search(text, body_start)
        stop = _STOP.search(text, body_start)
        candidates = [(m.start(), kind, m) for kind, m in (("close", closing), ("open", next_open), ("stop", stop)) if m]
        if candidates:
            body_end, kind, match = min(candidates, key=lambda c: c[0])
        else:
            body_end, kind, match = len(text), "eof", None
        closed = kind == "close"
        span_end = match.end() if closed and match else body_end
        prompt = normalize_prompt(text[body_start:body_end])
        if prompt:
            found.append(GenImagePrompt(prompt=prompt, start=opening.start(), end=span_end, closed=closed))
        pos = span_end if span_end > opening.start() else body_start
    return found


def extract_gen_image_prompts(text: str) -> list[str]:
    """Just the prompt strings, in order."""
    return [p.prompt for p in find_gen_image_prompts(text)]


def strip_gen_image(text: str) -> str:
    """``text`` without the tagged prompts and stray tags: the part meant for the user."""
    pieces: list[str] = []
    pos = 0
    for item in find_gen_image_prompts(text):
        pieces.append(text[pos : item.start])
        pos = item.end
    pieces.append(text[pos:])
    rest = _ANY_TAG.sub(" ", "".join(pieces))
    rest = _STOP.sub(" ", rest)
    return _SPACE.sub(" ", rest).strip()


def normalize_prompt(raw: str) -> str:
    """Collapse whitespace and drop any leftover tag or stop marker inside a prompt."""
    cleaned = _STOP.sub(" ", _ANY_TAG.sub(" ", raw))
    return _SPACE.sub(" ", cleaned).strip()
