"""Layout planning (LayoutGPT / LLM-grounded Diffusion): a request with counts and spatial
relations becomes boxes with phrases, checked before anyone draws them.

The model answers in three parts, in this order: the objects it will draw with their counts, the
spatial relations the request states, then one box per object instance on a 64x64 grid (LayoutGPT's
canvas). Writing the counts and relations first makes the model commit to them; the check then
holds the boxes to what the model itself declared:

- every box lies inside the canvas and names a declared object;
- each object has exactly its declared number of boxes;
- each declared relation holds between box centres (the mean centre when an object has several).

A failed check goes back to the model with the problems (``tools.llm.structured.ask``), a bounded
number of times. The result is a ``tools.artifacts.Layout`` (corners normalised to [0, 1]) that
``layout_to_image`` and ``draw_layout`` take.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Literal

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field

from prompts import render
from tools.artifacts import Box, Layout
from tools.llm.protocol import LLMBackend
from tools.llm.structured import Answer, RoleError, Trace, ask, parse_json_model

log = logging.getLogger(__name__)
GRID = 64
RelationName = Literal["left of", "right of", "above", "below", "next to"]


class PlannedObject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=40, description="one object category, singular, e.g. 'elephant'")
    count: int = Field(ge=1, le=12, description="how many of it the request asks for")


class Relation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=40)
    relation: RelationName
    object: str = Field(min_length=1, max_length=40)


class PlannedBox(BaseModel):
    """Corners on the 64x64 grid: bounded by the schema, so a box cannot leave the canvas."""

    model_config = ConfigDict(extra="forbid")
    phrase: str = Field(min_length=1, max_length=40, description="the object's name, as declared")
    instance: int = Field(ge=1, le=12, description="which one of this object: 1, 2, ... up to its count (a counting aid)")
    x0: int = Field(ge=0, le=GRID, description="left edge")
    y0: int = Field(ge=0, le=GRID, description="top edge")
    x1: int = Field(ge=0, le=GRID, description="right edge, larger than x0")
    y1: int = Field(ge=0, le=GRID, description="bottom edge, larger than y0")

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2


class LayoutPlan(BaseModel):
    """The model's answer: objects with counts, stated relations, then one box per instance."""

    model_config = ConfigDict(extra="forbid")
    objects: list[PlannedObject] = Field(min_length=1, max_length=12)
    relations: list[Relation] = Field(max_length=8, description="every relation the request states; [] when none")
    boxes: list[PlannedBox] = Field(min_length=1, max_length=24)

    def to_layout(self, width: int, height: int, caption: str = "") -> Layout:
        return Layout(
            width=width,
            height=height,
            caption=caption,
            boxes=[Box(phrase=b.phrase, box=(b.x0 / GRID, b.y0 / GRID, b.x1 / GRID, b.y1 / GRID)) for b in self.boxes],
        )


# -- names and relations ------------------------------------------------------------------------
_IRREGULAR = {"people": "person", "men": "man", "women": "woman", "children": "child", "mice": "mouse", "geese": "goose",
              "knives": "knife", "leaves": "leaf", "feet": "foot", "teeth": "tooth", "sheep": "sheep", "skis": "ski", "buses": "bus"}
_LEADING = re.compile(r"^(a|an|the|one|two|three|four|five|six|seven|eight|nine|ten|some|\d+)\s+")


def singular(word: str) -> str:
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "xes", "sses", "oes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def normalize_name(name: str) -> str:
    """``'The two Hot-Dogs '`` -> ``'hot dog'``: lower case, no article or number, last word singular."""
    text = re.sub(r"[^a-z0-9 ]+", " ", name.lower()).strip()
    while (stripped := _LEADING.sub("", text)) != text:
        text = stripped
    words = text.split()
    if not words:
        return ""
    return " ".join([*words[:-1], singular(words[-1])])


def same_object(a: str, b: str) -> bool:
    return normalize_name(a) == normalize_name(b)


def centre_of(boxes: Sequence[PlannedBox]) -> tuple[float, float]:
    xs, ys = zip(*(b.centre for b in boxes), strict=True)
    return sum(xs) / len(xs), sum(ys) / len(ys)


def relation_holds(relation: str, subject: tuple[float, float], obj: tuple[float, float], *, rule: str = "45") -> bool:
    """Whether ``subject relation obj`` holds between two centres (y grows downwards).

    ``rule="45"`` is LayoutGPT's (``eval_spatial_layout.py``): "left of" means the offset lies
    within 45 degrees of the leftward axis (further apart across than up and down), likewise the
    others; a diagonal placement satisfies none. ``rule="sign"`` only compares one coordinate.
    'next to' means side by side: further apart across than up and down.
    """
    dx, dy = subject[0] - obj[0], subject[1] - obj[1]
    across, upright = abs(dx) > abs(dy), abs(dy) > abs(dx)
    if rule == "sign":
        across = upright = True
    return {
        "left of": dx < 0 and across,
        "right of": dx > 0 and across,
        "above": dy < 0 and upright,
        "below": dy > 0 and upright,
        "next to": abs(dx) > abs(dy),
    }[relation]


def check_plan(plan: LayoutPlan) -> list[str]:
    """Problems with a plan, measured against what the plan itself declares."""
    problems: list[str] = []
    declared = {normalize_name(o.name): o for o in plan.objects}
    if len(declared) != len(plan.objects):
        problems.append("each object must be listed once, with its total count")
    by_name: dict[str, list[PlannedBox]] = {}
    for index, box in enumerate(plan.boxes):
        if box.x1 <= box.x0 or box.y1 <= box.y0:
            problems.append(f"box {index + 1} ({box.phrase}) is empty: x1 must be larger than x0 and y1 larger than y0")
        key = normalize_name(box.phrase)
        if key not in declared:
            problems.append(f"box {index + 1} is a '{box.phrase}', which is not among the objects {sorted(o.name for o in plan.objects)}")
        by_name.setdefault(key, []).append(box)
    for key, obj in declared.items():
        have = len(by_name.get(key, []))
        if have != obj.count:
            problems.append(f"'{obj.name}' has count {obj.count} but {have} box(es); give exactly {obj.count}, numbered 1 to {obj.count}")

    for rel in plan.relations:
        subject, obj = by_name.get(normalize_name(rel.subject)), by_name.get(normalize_name(rel.object))
        if not subject or not obj:
            missing = rel.subject if not subject else rel.object
            problems.append(f"relation '{rel.subject} {rel.relation} {rel.object}' names '{missing}', which has no box")
        elif not relation_holds(rel.relation, (s := centre_of(subject)), (o := centre_of(obj))):
            problems.append(
                f"the boxes do not show '{rel.subject} {rel.relation} {rel.object}': the centre of {rel.subject} is at "
                f"x={s[0]:g}, y={s[1]:g} and the centre of {rel.object} at x={o[0]:g}, y={o[1]:g}; move them so {rel.subject} "
                f"is {_hint(rel.relation)} {rel.object} (x grows to the right, y grows downwards)"
            )
    return problems


def _hint(relation: str) -> str:
    return {"left of": "left of (smaller x, and further apart across than up and down)",
            "right of": "right of (larger x, and further apart across than up and down)",
            "above": "above (smaller y, and further apart up and down than across)",
            "below": "below (larger y, and further apart up and down than across)",
            "next to": "beside (same height, different x from)"}[relation]


# -- counts the request states -------------------------------------------------------------------
# "two beds", "three teddy bears": the count the model declares must be the one asked for; and
# "the number of beds is more than that of chairs", "more cats than dogs", "the same number of
# chairs" must hold between the declared counts (it declared chair 3 for "two beds ... more than
# that of chairs", then bed 3 to make it hold). A comparison is (first, sign, second):
# count(first) - count(second) has that sign (0: equal).
_NUMBERS = {w: n for n, w in enumerate(("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                                         "twelve"), 1)}
_STATED = re.compile(r"\b(" + "|".join(_NUMBERS) + r"|\d{1,2}) ([a-z]+)(?: ([a-z]+))?")
_NOUN = r"([a-z][a-z ]*?)"
_END = r"(?=[,.;!]|$| (?:and|on|in|at|with|near|beside|by|under|around|are|is|sitting|standing)\b)"
_MORE, _LESS = r"(?:more|greater|larger|higher)", r"(?:less|fewer|smaller|lower)"
_COMPARISONS = [
    (re.compile(rf"number of {_NOUN} is {_MORE} than (?:that of |the number of )?{_NOUN}{_END}"), 1),
    (re.compile(rf"number of {_NOUN} is {_LESS} than (?:that of |the number of )?{_NOUN}{_END}"), -1),
    (re.compile(rf"\b{_MORE} {_NOUN} than {_NOUN}{_END}"), 1),
    (re.compile(rf"\b{_LESS} {_NOUN} than {_NOUN}{_END}"), -1),
]
_SAME = re.compile(rf"(?:same|equal) number of {_NOUN}{_END}")


def _declared(phrase: str, names: Sequence[str]) -> str | None:
    """The declared object a phrase of the request names ("cats" -> "cat", "traffic lights")."""
    wanted = normalize_name(phrase)
    return next((n for n in names if n == wanted), None) or next((n for n in names if n in wanted or wanted in n), None)


def stated_counts(request: str, names: Sequence[str]) -> dict[str, int]:
    """Declared object -> the number the request puts before it ("two hot dogs" -> hot dog 2)."""
    stated: dict[str, int] = {}
    for match in _STATED.finditer(" ".join(request.lower().split())):
        number, first, second = match.groups()
        for phrase in ([f"{first} {second}"] if second else []) + [first]:
            word = normalize_name(phrase)
            name = next((n for n in names if n == word or n.split()[-1] == word), None)
            if name is not None:
                stated.setdefault(name, int(number) if number.isdigit() else _NUMBERS[number])
                break
    return stated


def count_problems(request: str, head: LayoutHead | LayoutPlan) -> list[str]:
    """Declared counts that differ from a number the request states, or break a comparison it
    states, worded for the model."""
    text = " ".join(request.lower().split())
    count = {normalize_name(o.name): o.count for o in head.objects}
    names = list(count)
    asked = stated_counts(text, names)
    problems = [f"the request asks for {n} {name}, but '{name}' has count {count[name]}: give it count {n}"
                for name, n in asked.items() if count[name] != n]
    stated: list[tuple[str, int, str]] = []
    for pattern, sign in _COMPARISONS:
        for match in pattern.finditer(text):
            first, second = _declared(match.group(1), names), _declared(match.group(2), names)
            if first and second and first != second:
                stated.append((first, sign, second))
    for match in _SAME.finditer(text):
        second = _declared(match.group(1), names)
        others = [n for n in names if n != second]
        if second and len(others) == 1:
            stated.append((others[0], 0, second))
    for first, sign, second in stated:
        difference = count[first] - count[second]
        if (difference > 0) - (difference < 0) != sign:
            # the word, then how second must sit against first, and first against second
            word, below, above = {1: ("more", "below", "above"), -1: ("fewer", "above", "below"), 0: ("as many", "equal to", "equal to")}[sign]
            than = "as" if sign == 0 else "than"
            keep_first = first in asked or (second not in asked and not (sign == 1 and count[first] == 1))
            fix = (f"give {second} a count {below} {asked.get(first, count[first])}" if keep_first
                   else f"give {first} a count {above} {asked.get(second, count[second])}")
            problems.append(f"the request asks for {word} {first} {than} {second}, but {first} has count {count[first]} and "
                            f"{second} {count[second]}: {fix}")
    return problems


# -- in-context examples -------------------------------------------------------------------------
@dataclass(frozen=True)
class LayoutExample:
    request: str
    plan: LayoutPlan


@cache
def default_examples() -> tuple[LayoutExample, ...]:
    """Hand-written examples shipped with the prompts (none from any benchmark's data)."""
    raw = yaml.safe_load(files("prompts").joinpath("layout_examples.yaml").read_text(encoding="utf-8"))
    return tuple(LayoutExample(e["request"], LayoutPlan.model_validate(e["plan"])) for e in raw)


def messages_for(request: str, examples: Sequence[LayoutExample]) -> list[BaseMessage]:
    """System prompt, each example as the two answers it takes (head, then sized boxes), the request."""
    messages: list[BaseMessage] = [SystemMessage(render("layout_system", grid=GRID))]
    for example in examples:
        plan = example.plan
        head = LayoutHead(objects=plan.objects, relations=plan.relations)
        messages.append(HumanMessage(render("layout_request", request=example.request)))
        messages.append(AIMessage(head.model_dump_json()))
        messages.append(HumanMessage(boxes_request(head)))
        messages.append(AIMessage(json.dumps({"boxes": [b.model_dump() for b in plan.boxes]}, separators=(",", ":"))))
    messages.append(HumanMessage(render("layout_request", request=request)))
    return messages


def boxes_request(head: LayoutHead) -> str:
    wanted = ", ".join(f"{o.name} 1..{o.count}" if o.count > 1 else o.name for o in head.objects)
    return f"Now the boxes, one per instance ({wanted}), with x0 < x1 and y0 < y1; spread them over the canvas."


class LayoutHead(BaseModel):
    """The first part of a layout answer: what to draw and how it relates, before any box."""

    model_config = ConfigDict(extra="forbid")
    objects: list[PlannedObject] = Field(min_length=1, max_length=12)
    relations: list[Relation] = Field(max_length=8)


MAX_BOXES = 24


def head_schema() -> dict:
    """LayoutPlan's own schema without ``boxes``: the model commits to objects and counts first."""
    schema = LayoutPlan.model_json_schema()
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k != "boxes"}
    schema["required"] = [k for k in schema.get("required", []) if k != "boxes"]
    return schema


def boxes_schema(head: LayoutHead) -> dict:
    """Exactly ``count`` boxes per declared object, in order, each phrase and instance fixed by the
    grammar: the model writes only the corners, and cannot draw two elephants for three.

    (Corner + size was tried: the grammar then rules out empty boxes, but the 1.5B model wrote
    right edges as widths and left the canvas; see note-15.)"""
    box = PlannedBox.model_json_schema()
    corners = {k: v for k, v in box["properties"].items() if k not in ("phrase", "instance")}
    items = [
        {
            "type": "object",
            "properties": {"phrase": {"const": obj.name}, "instance": {"const": i}, **corners},
            "required": ["phrase", "instance", "x0", "y0", "x1", "y1"],
            "additionalProperties": False,
        }
        for obj in head.objects
        for i in range(1, obj.count + 1)
    ][:MAX_BOXES]
    return {
        "type": "object",
        "properties": {"boxes": {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}},
        "required": ["boxes"],
        "additionalProperties": False,
    }


class _Boxes(BaseModel):
    model_config = ConfigDict(extra="forbid")
    boxes: list[PlannedBox] = Field(min_length=1, max_length=MAX_BOXES)


def _read_head(text: str) -> LayoutHead | LayoutPlan:
    """The first answer: a head, or (from a backend without the grammar) a whole checked plan."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if isinstance(data, dict) and "boxes" in data:
        plan = parse_json_model(LayoutPlan, text)
        if problems := check_plan(plan):
            raise ValueError("; ".join(problems))
        return plan
    head = parse_json_model(LayoutHead, text)
    if len({normalize_name(o.name) for o in head.objects}) != len(head.objects):
        raise ValueError("each object must be listed once, with its total count")
    if sum(o.count for o in head.objects) > MAX_BOXES:
        raise ValueError(f"at most {MAX_BOXES} boxes in all")
    return head


# -- placement from the relations ----------------------------------------------------------------
# A 1.5B model declares objects, counts and relations well and places boxes poorly (empty boxes,
# a "beside" drawn diagonally). When its boxes fail the check, the boxes are placed from what it
# declared instead: each object gets a cell of a grid whose columns and rows are ordered by the
# relations, and its instances sit side by side in that cell. Every declared count and relation
# then holds by construction, by the same 45-degree rule the check uses.

_AXIS = {"left of": (0, -1), "right of": (0, 1), "above": (1, -1), "below": (1, 1), "next to": (0, -1)}


def place(head: LayoutHead) -> list[PlannedBox]:
    """Boxes for ``head`` that satisfy its counts and its relations (between object centres).

    Relations become order constraints on grid columns (left/right/next to: same row) and rows
    (above/below: same column), relaxed in a bounded number of passes; a set of relations that
    contradicts itself keeps the order reached by then.
    """
    names = [normalize_name(o.name) for o in head.objects]
    cell = {n: [0, 0] for n in names}  # [column, row]
    for _ in range(2 * len(names) + 2):
        changed = False
        for rel in head.relations:
            a, b = normalize_name(rel.subject), normalize_name(rel.object)
            if a not in cell or b not in cell or a == b:
                continue
            axis, sign = _AXIS[rel.relation]
            first, second = (a, b) if sign < 0 else (b, a)  # first must come before second on the axis
            other = 1 - axis
            if cell[first][axis] >= cell[second][axis]:
                cell[second][axis] = cell[first][axis] + 1
                changed = True
            if cell[second][other] != cell[first][other]:
                cell[second][other] = cell[first][other]
                changed = True
        if not changed:
            break
    # objects no relation places share the first free cell of the top row, in the order declared
    placed = {n for rel in head.relations for n in (normalize_name(rel.subject), normalize_name(rel.object))}
    column = max((cell[n][0] for n in placed if n in cell), default=-1)
    for n in names:
        if n not in placed:
            column += 1
            cell[n] = [column, 0]
    columns = max(c for c, _ in cell.values()) + 1
    rows = max(r for _, r in cell.values()) + 1
    width, height = GRID // columns, GRID // rows
    boxes = []
    for obj, key in zip(head.objects, names, strict=True):
        col, row = cell[key]
        x, y, slot = col * width, row * height, width / obj.count
        top, bottom = y + max(1, height // 6), y + height - max(1, height // 12)
        for i in range(obj.count):
            x0 = int(x + i * slot + max(1, slot // 10))
            x1 = max(x0 + 1, int(x + (i + 1) * slot - max(1, slot // 10)))
            boxes.append(PlannedBox(phrase=obj.name, instance=i + 1, x0=x0, y0=int(top), x1=min(x1, GRID), y1=max(int(bottom), int(top) + 1)))
    return boxes


def placed_plan(objects: Sequence[PlannedObject], relations: Sequence[Relation]) -> tuple[LayoutPlan, list[Relation]]:
    """A plan placed from ``relations``, and the relations left out because they contradict the
    ones before them ("table above donut" and "donut above table"): a layout with every count and
    most relations beats none. Each relation is kept, in the order declared, while a placement
    still satisfies every relation kept."""
    kept: list[Relation] = []
    dropped: list[Relation] = []
    for relation in relations:
        trial = LayoutHead(objects=list(objects), relations=[*kept, relation])
        if check_plan(LayoutPlan(objects=trial.objects, relations=trial.relations, boxes=place(trial))):
            dropped.append(relation)
        else:
            kept.append(relation)
    head = LayoutHead(objects=list(objects), relations=kept)
    return LayoutPlan(objects=head.objects, relations=kept, boxes=place(head)), dropped


def plan_layout(
    backend: LLMBackend,
    request: str,
    *,
    examples: Sequence[LayoutExample] | None = None,
    width: int = 512,
    height: int = 512,
    attempts: int = 3,
    box_attempts: int = 2,
    solve: bool = True,
    seed: int | None = None,
) -> tuple[Layout, Answer[LayoutPlan]]:
    """Plan boxes for ``request``; raises ``RoleError`` when no checked plan comes.

    Two answers: objects with counts and relations first (``attempts`` tries), then the boxes under
    a grammar made from them (one box per declared instance, phrases fixed; ``box_attempts``
    tries). The boxes are checked against the declared relations by LayoutGPT's 45-degree rule;
    when every try fails and ``solve`` is on, the boxes are placed from the declared relations
    (``place``) and the trace says so.
    """
    chosen = default_examples() if examples is None else examples
    messages = messages_for(request, chosen)
    first = ask(backend, messages, LayoutPlan, role="plan_layout", parse=_read_head, schema=head_schema(),
                check=lambda head: count_problems(request, head), attempts=attempts, max_tokens=300, seed=seed)
    if isinstance(first.value, LayoutPlan):
        return first.value.to_layout(width, height, caption=request), first
    head: LayoutHead = first.value
    follow = [*messages, AIMessage(head.model_dump_json()), HumanMessage(boxes_request(head))]

    def read(text: str) -> LayoutPlan:
        boxes = parse_json_model(_Boxes, text)
        return LayoutPlan(objects=head.objects, relations=head.relations, boxes=boxes.boxes)

    try:
        second = ask(backend, follow, LayoutPlan, role="plan_layout", parse=read, check=check_plan, schema=boxes_schema(head),
                     attempts=box_attempts, max_tokens=40 + 40 * sum(o.count for o in head.objects), seed=seed)
    except RoleError as exc:
        if not solve:
            raise
        # the model's boxes failed the check: place them from its own objects and relations (a
        # relation naming an object it did not declare, "cow 1" or "room", cannot be drawn: dropped)
        declared = {normalize_name(o.name) for o in head.objects}
        drawable = [r for r in head.relations if normalize_name(r.subject) in declared and normalize_name(r.object) in declared]
        plan, dropped = placed_plan(head.objects, drawable)
        log.warning("plan_layout: the model's boxes failed the check (%s); placed them from its relations", exc.problems[-1:])
        notes = [PLACED, *(f"dropped '{r.subject} {r.relation} {r.object}': it contradicts the relations kept" for r in dropped)]
        tried = exc.trace or Trace()
        second = Answer(plan, Trace(attempts=tried.attempts, problems=[*tried.problems, *notes], generations=tried.generations,
                                    seconds=tried.seconds))
    trace = Trace(attempts=first.trace.attempts + second.trace.attempts, problems=first.trace.problems + second.trace.problems,
                  generations=first.trace.generations + second.trace.generations,
                  seconds=first.trace.seconds + second.trace.seconds)
    return second.value.to_layout(width, height, caption=request), Answer(second.value, trace)


PLACED = "boxes placed from the declared relations (the model's boxes failed the check)"


def plan_json(plan: LayoutPlan) -> str:
    return json.dumps(plan.model_dump(), separators=(",", ":"))
