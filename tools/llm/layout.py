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
from tools.llm.structured import Answer, ask

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


def relation_holds(relation: str, subject: tuple[float, float], obj: tuple[float, float]) -> bool:
    """Whether ``subject relation obj`` holds between two centres (y grows downwards).

    'next to' means side by side: the centres are further apart across than up and down.
    """
    dx, dy = subject[0] - obj[0], subject[1] - obj[1]
    return {
        "left of": dx < 0,
        "right of": dx > 0,
        "above": dy < 0,
        "below": dy > 0,
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
    return {"left of": "left of", "right of": "right of", "above": "above (smaller y than)", "below": "below (larger y than)",
            "next to": "beside (same height, different x from)"}[relation]


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
    messages: list[BaseMessage] = [SystemMessage(render("layout_system", grid=GRID))]
    for example in examples:
        messages.append(HumanMessage(render("layout_request", request=example.request)))
        messages.append(AIMessage(example.plan.model_dump_json()))
    messages.append(HumanMessage(render("layout_request", request=request)))
    return messages


def plan_layout(
    backend: LLMBackend,
    request: str,
    *,
    examples: Sequence[LayoutExample] | None = None,
    width: int = 512,
    height: int = 512,
    attempts: int = 3,
    seed: int | None = None,
) -> tuple[Layout, Answer[LayoutPlan]]:
    """Plan boxes for ``request``; raises ``RoleError`` when no checked plan comes in ``attempts``."""
    chosen = default_examples() if examples is None else examples
    answer = ask(backend, messages_for(request, chosen), LayoutPlan, role="plan_layout", check=check_plan,
                 attempts=attempts, max_tokens=600, seed=seed)
    return answer.value.to_layout(width, height, caption=request), answer


def plan_json(plan: LayoutPlan) -> str:
    return json.dumps(plan.model_dump(), separators=(",", ":"))
