"""mask_from_words on real photos: the mask lands on the hand-checked box, position words choose,
plurals take every one, and a phrase outside the detector's classes is refused with the reason."""

from __future__ import annotations

import numpy as np
import pytest

from graphs.executor import Executor
from graphs.plan import Plan, bind
from tests.perception.photos import HAND_BOXES, photo, two_cats, two_motorcycles
from tools.artifacts import Kind, Session
from tools.errors import ToolFailure
from tools.perception import TOOLS
from tools.perception.masks import mask_for
from tools.perception.models import detector
from tools.perception.phrases import parse_phrase, select
from tools.registry import Registry

PICTURES = {"two_motorcycles": two_motorcycles}


def picture(name: str):
    return PICTURES[name]() if name in PICTURES else photo(name)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def box_array(box, shape) -> np.ndarray:
    out = np.zeros(shape, bool)
    out[box[1] : box[3], box[0] : box[2]] = True
    return out


def bounding_box(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return box_array((xs.min(), ys.min(), xs.max() + 1, ys.max() + 1), mask.shape)


CASES = [(name, phrase, box) for name, boxes in HAND_BOXES.items() for phrase, box in boxes.items()]


@pytest.mark.parametrize(("name", "phrase", "box"), CASES, ids=[c[1].replace(" ", "_") for c in CASES])
def test_mask_lands_on_the_hand_checked_box(pool, name, phrase, box) -> None:
    image = picture(name)
    chosen, _ = select(parse_phrase(phrase), detector(pool).detect(image, 0.4))
    outline, _ = mask_for(pool, image, chosen, shape="outline", grow=6)
    filled, _ = mask_for(pool, image, chosen, shape="box", grow=0)
    hand = box_array(box, (image.height, image.width))
    outline_px, filled_px = np.asarray(outline) > 127, np.asarray(filled) > 127
    assert iou(filled_px, hand) >= 0.5, f"{phrase}: box mask IoU {iou(filled_px, hand):.2f}"
    assert iou(bounding_box(outline_px), hand) >= 0.5, f"{phrase}: outline's box IoU {iou(bounding_box(outline_px), hand):.2f}"
    assert outline_px[hand].mean() > 0.4, "the outline covers the object, not the background"


def test_left_and_right_pick_different_motorcycles(pool) -> None:
    image = two_motorcycles()
    found = detector(pool).detect(image, 0.4)
    (left,), _ = select(parse_phrase("the motorcycle on the left"), found)
    (right,), _ = select(parse_phrase("the rightmost motorbike"), found)
    assert left.centre[0] < 0.5 < right.centre[0]


def test_plural_takes_every_one_and_an_open_choice_warns(pool) -> None:
    found = detector(pool).detect(two_cats(), 0.4)
    both, warnings = select(parse_phrase("the cats"), found)
    assert len(both) == 2 and not warnings
    one, warnings = select(parse_phrase("the cat"), found)
    assert len(one) == 1 and "took the most confident" in warnings[0]


def test_the_person_segmenter_follows_the_person_not_the_box(pool) -> None:
    image = photo("astronaut.png")
    chosen, _ = select(parse_phrase("the woman"), detector(pool).detect(image, 0.4))
    mask = np.asarray(mask_for(pool, image, chosen, shape="outline", grow=0)[0]) > 127
    assert mask[100, 220] and not mask[40, 60], "her face is in; the flag at the top left is out"


def test_outside_the_classes_or_absent_is_a_clear_failure(pool) -> None:
    with pytest.raises(ToolFailure, match="names nothing the detector knows.*80 COCO classes"):
        parse_phrase("the unicorn on the left")
    with pytest.raises(ToolFailure, match=r"no bicycle found in image-1 \(the detector saw: motorcycle"):
        select(parse_phrase("the bicycle on the left"), detector(pool).detect(two_motorcycles(), 0.4), image_id="image-1")


def test_mask_from_words_as_a_step_records_what_it_chose(pool, tmp_path) -> None:
    session = Session(tmp_path / "s")
    session.root.mkdir()
    source = session.add(Kind.IMAGE, two_motorcycles(), tool="import")
    registry = Registry()
    for tool in TOOLS:
        registry.register(tool)
    plan = Plan.model_validate({"steps": [{"id": "m", "tool": "mask_from_words", "args": {"image": f"${{{source.id}}}", "phrase": "the motorcycle on the left"}}]})
    result = Executor(session, models=pool, registry=registry).run(bind(plan, registry, session))
    step = result.steps["m"]
    assert step.status == "ran", step.error
    mask = session.get(step.outputs["mask"])
    assert mask.kind is Kind.MASK and mask.meta["label"] == "motorcycle" and mask.meta["detections"][0]["box"][2] < 0.5
