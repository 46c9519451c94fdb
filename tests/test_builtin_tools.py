"""The light built-in tools compute the right pixels (run through the real executor)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from graphs.executor import Executor
from graphs.plan import Plan, Step, bind
from tests.support import make_registry
from tools.artifacts import Workspace


@pytest.fixture
def session(workspace_dir):
    return Workspace(workspace_dir).session("tools", create=True)


def run(session, *steps: Step):
    plan = bind(Plan(steps=list(steps)), make_registry(), session)
    result = Executor(session).run(plan)
    failed = {s: r.error for s, r in result.steps.items() if r.status == "failed"}
    return result, failed


def image_of(session, result, step, output="image"):
    return Image.open(session.path(session.get(result.steps[step].outputs[output])))


def add_gradient(session):
    x = np.tile(np.arange(64, dtype=np.uint8) * 4, (32, 1))
    rgb = np.stack([x, x[::-1], np.full_like(x, 90)], axis=-1)
    return session.add("image", Image.fromarray(rgb), tool="test").id


def test_resize_keeps_aspect_when_one_side_is_given(session):
    src = add_gradient(session)
    result, failed = run(session, Step(id="r", tool="resize", args={"image": f"${{{src}}}", "width": 32}))
    assert not failed and image_of(session, result, "r").size == (32, 16)


def test_crop_and_its_bounds(session):
    src = add_gradient(session)
    result, failed = run(
        session,
        Step(id="ok", tool="crop", args={"image": f"${{{src}}}", "left": 8, "top": 4, "right": 24, "bottom": 20}),
        Step(id="bad", tool="crop", args={"image": f"${{{src}}}", "left": 0, "top": 0, "right": 65, "bottom": 4}),
    )
    assert image_of(session, result, "ok").size == (16, 16)
    assert "crop box reaches (65, 4) but the image is 64x32" in failed["bad"]


def test_pad_canvas_makes_room_and_a_matching_mask(session):
    src = add_gradient(session)
    result, failed = run(session, Step(id="p", tool="pad_canvas", args={"image": f"${{{src}}}", "left": 10, "top": 6, "fill": "black"}))
    img, mask = np.asarray(image_of(session, result, "p")), np.asarray(image_of(session, result, "p", "mask"))
    assert img.shape == (38, 74, 3) and mask.shape == (38, 74)
    assert (img[:6] == 0).all() and (mask[:6] == 255).all() and (mask[6:, 10:] == 0).all()


def test_composite_follows_the_mask(session):
    base = session.add("image", Image.new("RGB", (16, 16), "black"), tool="t").id
    top = session.add("image", Image.new("RGB", (8, 8), "white"), tool="t").id
    mask_img = Image.new("L", (16, 16), 0)
    mask_img.paste(255, (0, 0, 8, 16))
    mask = session.add("mask", mask_img, tool="t").id
    result, failed = run(session, Step(id="c", tool="composite", args={"image": f"${{{base}}}", "overlay": f"${{{top}}}", "mask": f"${{{mask}}}"}))
    out = np.asarray(image_of(session, result, "c"))
    assert (out[:, :8] == 255).all() and (out[:, 8:] == 0).all()
    assert result.steps["c"].warnings == ["overlay 8x8 resized to 16x16"]


def test_canny_finds_the_edge_of_a_square(session):
    img = Image.new("RGB", (32, 32), "black")
    img.paste((255, 255, 255), (8, 8, 24, 24))
    src = session.add("image", img, tool="t").id
    result, failed = run(session, Step(id="e", tool="canny", args={"image": f"${{{src}}}"}))
    edges = np.asarray(image_of(session, result, "e").convert("L"))
    assert edges[8:24, 7:9].any() and not edges[14:18, 14:18].any() and not edges[0:4, 0:4].any()
    assert session.get(result.steps["e"].outputs["image"]).meta["edge_fraction"] > 0


def test_layout_preview_and_mask_from_boxes(session):
    result, failed = run(
        session,
        Step(id="l", tool="make_layout", args={"width": 40, "height": 20, "boxes": [{"phrase": "dog", "box": [0.0, 0.0, 0.5, 0.5]}]}),
        Step(id="d", tool="draw_layout", args={"layout": "${l}"}),
        Step(id="m", tool="mask_from_boxes", args={"layout": "${l}", "boxes": [[0.5, 0.5, 1.0, 1.0]]}),
        Step(id="none", tool="mask_from_boxes", args={"width": 16, "height": 16}),
    )
    assert image_of(session, result, "d").size == (40, 20)
    mask = np.asarray(image_of(session, result, "m", "mask"))
    assert mask[:10, :20].all() and mask[10:, 20:].all() and not mask[:10, 20:].any()
    assert "got no boxes" in failed["none"]
