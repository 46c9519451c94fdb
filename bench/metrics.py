"""Plan scoring as TaskBench's ``evaluate.py`` defines it (microsoft/JARVIS, taskbench/).

A request's plan is a list of nodes ``{"task": tool name, "arguments": [...]}``; an argument is a
literal or ``<node-k>``, the output of node ``k`` (0-based). From it ``evaluate.py`` derives, and
so does ``task_graph`` here:

- node names, with ``_`` read as a space;
- links ``(source tool, target tool)`` from the ``<node-k>`` arguments (a node naming itself is
  skipped);
- typed arguments ``"<task>-<type>"`` and ``"<task>-<type>-<value>"``: a reference's type is
  the source tool's first output type and its value the source tool's name; a literal's type
  is guessed from its file extension (image / audio / video, else text) and its value is the
  literal itself.

Each metric is a *micro-averaged* F1 over per-request sets (``flatten`` in ``evaluate.py``):
every item in the union of a request's gold and predicted sets counts once, as a true positive
(in both), a false negative (gold only) or a false positive (predicted only). Node F1 counts only
names in the tool list: a gold or predicted name outside it counts for nothing either way (that
is what ``flatten(..., types=...)`` does). Links and arguments count whatever they name.

Gold ``<node-k>`` references are 0-based in most TaskBench records and 1-based in some; gold
nodes go through ``normalise_gold`` first, which picks the base whose links agree with the
record's own ``task_links`` (``evaluate.py`` reads every reference as 0-based). Records whose
gold arguments carry no ``<node-k>`` reference at all (e.g. ``"<output of Text Expander>"``)
keep their ``task_links`` as the gold links, which ``evaluate.py`` would have lost, and a node
whose ``arguments`` is a bare string (two records) has that one argument, not one per character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NODE_REF = re.compile(r"<node-(\d+)")
IMAGE_EXT = ("jpg", "png", "jpeg", "gif", "bmp", "tiff", "svg", "ico")
AUDIO_EXT = ("mp3", "wav", "wma", "ogg", "aac", "flac", "aiff", "au")
VIDEO_EXT = ("mp4", "avi", "mov", "flv", "wmv", "mkv", "webm", "m4v", "mpg", "mpeg")


def content_type(value: str) -> str:
    """``get_content_type`` of evaluate.py: a literal's type from the extensions it contains."""
    value = value.strip("'")
    for kind, extensions in (("image", IMAGE_EXT), ("audio", AUDIO_EXT), ("video", VIDEO_EXT)):
        if any("." + ext in value for ext in extensions):
            return kind
    return "text"


def _flat(argument: Any) -> str:
    """evaluate.py's reading of one argument: a dict's first value, a list joined by spaces."""
    if isinstance(argument, dict):
        argument = next(iter(argument.values()), "")
    if isinstance(argument, list):
        argument = " ".join(str(a) for a in argument)
    return str(argument)


def node_ref(argument: Any) -> int | None:
    """The node index an argument refers to (``<node-3>`` -> 3), or None for a literal."""
    match = NODE_REF.search(_flat(argument))
    return int(match.group(1)) if match else None


def arguments_of(node: Mapping[str, Any]) -> list[Any]:
    """A node's arguments as a list; a bare string (a few records have one) is one argument."""
    arguments = node.get("arguments", [])
    return [arguments] if isinstance(arguments, str | dict) else list(arguments)


def _links_for_base(nodes: Sequence[Mapping[str, Any]], base: int) -> set[tuple[str, str]] | None:
    links = set()
    for index, node in enumerate(nodes):
        for argument in arguments_of(node):
            ref = node_ref(argument)
            if ref is None:
                continue
            source = ref - base
            if not 0 <= source < len(nodes):
                return None
            if source != index:
                links.add((nodes[source]["task"], node["task"]))
    return links


def detect_base(nodes: Sequence[Mapping[str, Any]], task_links: Iterable[Mapping[str, str]]) -> int:
    """0 or 1: the reading of ``<node-k>`` whose links best match ``task_links`` (ties: 0).

    A reading that points outside the node list is impossible; between two possible readings the
    one with the larger overlap (Jaccard) with the record's ``task_links`` wins.
    """
    gold = {(link["source"], link["target"]) for link in task_links}

    def agreement(links: set[tuple[str, str]] | None) -> float:
        if links is None:
            return -1.0
        union = links | gold
        return len(links & gold) / len(union) if union else 1.0

    return 1 if agreement(_links_for_base(nodes, 1)) > agreement(_links_for_base(nodes, 0)) else 0


def normalise_gold(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The record's ``task_nodes`` with every ``<node-k>`` rewritten 0-based."""
    nodes = record["task_nodes"]
    base = detect_base(nodes, record.get("task_links", []))
    out = []
    for node in nodes:
        arguments = []
        for argument in arguments_of(node):
            ref = node_ref(argument)
            arguments.append(f"<node-{ref - base}>" if ref is not None else argument)
        out.append({"task": node["task"], "arguments": arguments})
    return out


@dataclass
class TaskGraph:
    """What the metrics compare for one request."""

    nodes: list[str]
    links: list[tuple[str, str]]
    arg_names: list[str]
    arg_values: list[str]


def task_graph(nodes: Sequence[Mapping[str, Any]], output_type: Mapping[str, str], fallback_links: Iterable[Mapping[str, str]] = ()) -> TaskGraph:
    """Names, links and typed arguments of a plan, as evaluate.py derives them.

    ``output_type`` maps a tool name to its first output type (``"other"`` when unknown).
    A reference outside the node list is dropped (evaluate.py would drop the whole request).
    ``fallback_links`` are used when no argument is a ``<node-k>`` reference.
    """
    names = [str(node["task"]).replace("_", " ") for node in nodes]
    links: list[tuple[str, str]] = []
    arg_names: list[str] = []
    arg_values: list[str] = []
    any_ref = False
    for index, node in enumerate(nodes):
        for argument in arguments_of(node):
            ref = node_ref(argument)
            if ref is not None:
                any_ref = True
                if ref == index or not 0 <= ref < len(nodes):
                    continue
                source = names[ref]
                links.append((source, names[index]))
                kind, value = output_type.get(source, "other"), source
            else:
                value = _flat(argument)
                kind = content_type(value)
            arg_names.append(f"{names[index]}-{kind}")
            arg_values.append(f"{names[index]}-{kind}-{value}")
    if not any_ref:
        links = [(str(link["source"]).replace("_", " "), str(link["target"]).replace("_", " ")) for link in fallback_links]
    return TaskGraph(names, links, arg_names, arg_values)


@dataclass
class Counts:
    """True positives, false positives, false negatives; F1 etc. in percent."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        return 100.0 * self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return 100.0 * self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def set_counts(gold: Iterable[Any], pred: Iterable[Any], allowed: set[Any] | None = None) -> Counts:
    """evaluate.py's ``flatten`` for one request: sets, and items outside ``allowed`` ignored."""
    gold_set, pred_set = set(gold), set(pred)
    if allowed is not None:
        gold_set &= allowed
        pred_set &= allowed
    return Counts(len(gold_set & pred_set), len(pred_set - gold_set), len(gold_set - pred_set))


METRICS = ("node", "edge", "arg_name", "arg_value")


@dataclass
class RequestScore:
    """One request's counts per metric."""

    counts: dict[str, Counts] = field(default_factory=dict)


def score_request(gold: TaskGraph, pred: TaskGraph, tool_names: set[str]) -> RequestScore:
    return RequestScore(
        {
            "node": set_counts(gold.nodes, pred.nodes, tool_names),
            "edge": set_counts(gold.links, pred.links),
            "arg_name": set_counts(gold.arg_names, pred.arg_names),
            "arg_value": set_counts(gold.arg_values, pred.arg_values),
        }
    )


def micro(scores: Iterable[RequestScore]) -> dict[str, Counts]:
    """Sum the counts of many requests: micro-averaging."""
    total = {name: Counts() for name in METRICS}
    for score in scores:
        for name in METRICS:
            total[name] = total[name] + score.counts[name]
    return total


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100]); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
