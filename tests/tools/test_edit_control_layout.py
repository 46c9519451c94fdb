"""edit (InstructPix2Pix, LEDITS++ inversion), controlnet (canny/depth/pose) and layout_to_image
(GLIGEN): on the tiny profile through plans run by the real executor, and on SD 1.5 weights when
asked (``-m real_weights``, on a GPU)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from graphs.executor import Executor
from graphs.plan import Plan, bind
from tests.tools.conftest import SIZE, STEPS
from tools.artifacts import Box, Kind, Layout, png_recipe
from tools.errors import InputError, PlanError
from tools.models import ModelPool

GEN = {"prompt": "a red car on a road", "steps": STEPS, "width": SIZE, "height": SIZE, "seed": 5}


def pixels(session, artifact_id: str) -> np.ndarray:
    return np.asarray(Image.open(session.path(session.get(artifact_id))))


def ok(result) -> None:
    assert result.ok, {s: r.error for s, r in result.steps.items()}


def out(result, step: str, name: str = "image") -> str:
    return result.steps[step].outputs[name]


def photo(width: int = SIZE, height: int = SIZE) -> Image.Image:
    """A picture with structure: a bright rectangle and a dark disc on a gradient."""
    grid = np.tile(np.linspace(40, 160, width, dtype=np.float32), (height, 1))
    img = np.stack([grid, grid * 0.8, np.full_like(grid, 90)], -1).astype(np.uint8)
    cv2.rectangle(img, (width // 8, height // 6), (width // 2, height // 2), (240, 230, 60), -1)
    cv2.circle(img, (3 * width // 4, 2 * height // 3), min(width, height) // 6, (20, 20, 120), -1)
    return Image.fromarray(img)


def rerun(session, pool, registry, steps: list[dict]) -> dict[str, str]:
    """Run steps again with no cache, so equal pixels mean a deterministic tool, not a cache hit."""
    plan = Plan.model_validate({"steps": steps})
    result = Executor(session, cache=None, models=pool).run(bind(plan, registry, session))
    ok(result)
    return {s: r.outputs["image"] for s, r in result.steps.items() if "image" in r.outputs}


# -- edit ------------------------------------------------------------------------------------------
def test_edit_instruct_pix2pix_keeps_size_records_lineage_and_is_seeded(run_plan, session, tiny_pool, diffusion_registry) -> None:
    source = session.add(Kind.IMAGE, photo(60, 44), tool="import")  # not a multiple of 8
    args = {"image": f"${{{source.id}}}", "instruction": "make the car a big blue truck", "steps": STEPS}
    steps = [
        {"id": "a", "tool": "edit", "args": {**args, "seed": 3}},
        {"id": "b", "tool": "edit", "args": {**args, "seed": 4}},
        {"id": "c", "tool": "edit", "args": {**args, "seed": 3, "image_guidance": 0.5}},
    ]
    result = run_plan(steps)
    ok(result)
    a = session.get(out(result, "a"))
    assert a.kind is Kind.IMAGE and (a.meta["width"], a.meta["height"]) == (60, 44), "the output keeps the input's size"
    assert a.parents == {"image": source.id} and a.seed == 3
    assert a.meta["method"] == "instruct_pix2pix" and a.meta["used_models"] == ["tiny:sd", "tiny:sd-pix2pix"]
    assert a.meta["untrained_weights"] is True
    recipe = png_recipe(session.path(a))
    assert recipe["tool"] == "edit" and recipe["args"]["instruction"] == args["instruction"] and recipe["seed"] == 3
    assert recipe["parents"] == {"image": source.id}
    assert not np.array_equal(pixels(session, a.id), pixels(session, out(result, "b"))), "another seed, another edit"
    assert not np.array_equal(pixels(session, a.id), pixels(session, out(result, "c"))), "image_guidance reaches the model"
    again = rerun(session, tiny_pool, diffusion_registry, steps[:1])
    assert again["a"] != a.id and np.array_equal(pixels(session, again["a"]), pixels(session, a.id))


def test_edit_by_inversion_goes_from_the_recorded_source_to_the_target(run_plan, session, tiny_pool, diffusion_registry) -> None:
    steps = [
        {"id": "gen", "tool": "text_to_image", "args": GEN},
        {"id": "inv", "tool": "edit", "args": {"image": "${gen.image}", "method": "inversion", "target": "a big blue truck", "steps": 3, "seed": 2}},
    ]
    result = run_plan(steps)
    ok(result)
    gen, inv = out(result, "gen"), session.get(out(result, "inv"))
    assert (inv.meta["width"], inv.meta["height"]) == (SIZE, SIZE) and inv.parents == {"image": gen}
    assert inv.meta["method"] == "inversion" and inv.meta["source"] == GEN["prompt"] and inv.meta["target"] == "a big blue truck"
    assert inv.meta["source_origin"] == f"the prompt recorded on {gen}"
    assert inv.meta["used_models"] == ["tiny:sd"] and inv.meta["edit_mask"] == "guidance only"
    assert png_recipe(session.path(inv))["args"]["method"] == "inversion"
    assert not np.array_equal(pixels(session, gen), pixels(session, inv.id))

    # deterministic, and LEDITS++ leaves the UNet it shares with text_to_image as it found it
    again = rerun(session, tiny_pool, diffusion_registry, steps)
    assert np.array_equal(pixels(session, again["inv"]), pixels(session, inv.id))
    assert np.array_equal(pixels(session, again["gen"]), pixels(session, gen)), "text_to_image after an edit is unchanged"
    other = rerun(session, tiny_pool, diffusion_registry, [{**steps[1], "args": {**steps[1]["args"], "image": f"${{{gen}}}", "target": "a boat"}}])
    assert not np.array_equal(pixels(session, other["inv"]), pixels(session, inv.id)), "the target steers the edit"


def test_edit_by_inversion_without_a_description_warns_and_resizes(run_plan, session) -> None:
    source = session.add(Kind.IMAGE, photo(48, 40), tool="import")
    args = {"image": f"${{{source.id}}}", "method": "inversion", "target": "a truck", "steps": STEPS, "seed": 1}
    result = run_plan([{"id": "e", "tool": "edit", "args": args}, {"id": "s", "tool": "edit", "args": {**args, "source": "a yellow box"}}])
    ok(result)
    warnings = result.steps["e"].warnings
    assert any("has no recorded prompt" in w for w in warnings) and any("multiples of 32" in w for w in warnings)
    edited = session.get(out(result, "e"))
    assert (edited.meta["width"], edited.meta["height"]) == (48, 40) and edited.meta["source"] == ""
    assert session.get(out(result, "s")).meta["source_origin"] == "the `source` parameter"


def test_edit_arguments_are_checked_before_running(run_plan, session) -> None:
    source = session.add(Kind.IMAGE, photo(), tool="import")
    with pytest.raises(PlanError, match="needs `target`"):
        run_plan([{"id": "e", "tool": "edit", "args": {"image": f"${{{source.id}}}", "method": "inversion", "instruction": "x"}}])
    with pytest.raises(PlanError, match="needs `instruction`"):
        run_plan([{"id": "e", "tool": "edit", "args": {"image": f"${{{source.id}}}"}}])


# -- controlnet ------------------------------------------------------------------------------------
def test_controlnet_canny_uses_the_canny_tool_and_follows_the_condition(run_plan, session, tiny_pool, diffusion_registry) -> None:
    source = session.add(Kind.IMAGE, photo(), tool="import")
    other = session.add(Kind.IMAGE, photo().transpose(Image.Transpose.ROTATE_90), tool="import")
    args = {"prompt": "a truck", "steps": STEPS, "seed": 6, "low": 50, "high": 150}
    steps = [
        {"id": "edges", "tool": "canny", "args": {"image": f"${{{source.id}}}", "low": 50, "high": 150}},
        {"id": "cn", "tool": "controlnet", "args": {"image": f"${{{source.id}}}", **args}},
        {"id": "ready", "tool": "controlnet", "args": {"image": "${edges.image}", "extract": False, **args}},
        {"id": "rot", "tool": "controlnet", "args": {"image": f"${{{other.id}}}", **args}},
    ]
    result = run_plan(steps)
    ok(result)
    image, condition = session.get(out(result, "cn")), session.get(out(result, "cn", "condition"))
    assert image.kind is Kind.IMAGE and condition.kind is Kind.IMAGE
    assert (image.meta["width"], image.meta["height"]) == (SIZE, SIZE)
    assert image.parents == condition.parents == {"image": source.id} and image.seed == 6
    assert image.meta["used_models"] == ["tiny:sd", "tiny:controlnet"] and condition.meta["condition"] == "canny"
    assert condition.meta["edge_fraction"] > 0.01
    assert np.array_equal(pixels(session, condition.id), pixels(session, out(result, "edges"))), "one edge extraction"
    assert np.array_equal(pixels(session, image.id), pixels(session, out(result, "ready"))), "a ready map = an extracted one"
    assert not np.array_equal(pixels(session, image.id), pixels(session, out(result, "rot"))), "the condition is used"
    recipe = png_recipe(session.path(image))
    assert recipe["tool"] == "controlnet" and recipe["args"]["condition"] == "canny" and recipe["seed"] == 6
    again = rerun(session, tiny_pool, diffusion_registry, steps[1:2])
    assert np.array_equal(pixels(session, again["cn"]), pixels(session, image.id))


def test_controlnet_depth_and_pose_extract_with_their_estimators(run_plan, session) -> None:
    source = session.add(Kind.IMAGE, photo(56, 48), tool="import")
    base = {"image": f"${{{source.id}}}", "prompt": "a person", "steps": STEPS, "seed": 2}
    result = run_plan(
        [
            {"id": "depth", "tool": "controlnet", "args": {**base, "condition": "depth"}},
            {"id": "pose", "tool": "controlnet", "args": {**base, "condition": "pose", "keypoint_threshold": 0.0}},
            {"id": "nobody", "tool": "controlnet", "args": {**base, "condition": "pose", "keypoint_threshold": 1.0}},
        ]
    )
    ok(result)
    depth = session.get(out(result, "depth", "condition"))
    assert depth.meta["condition"] == "depth" and depth.meta["estimator"] == ["tiny:dpt"]
    depth_px = pixels(session, depth.id)
    assert depth_px.shape == (48, 56, 3) and depth_px.min() == 0 and depth_px.max() == 255, "normalised to the full range"
    pose = session.get(out(result, "pose", "condition"))
    assert pose.meta["estimator"].startswith("movenet"), "tiny's ViTPose is untrained: the trained MoveNet draws the pose"
    assert 0 < pose.meta["joints"] <= 18
    assert pixels(session, pose.id).shape == (48, 56, 3) and pixels(session, pose.id).any()
    nobody = session.get(out(result, "nobody", "condition"))
    assert nobody.meta["joints"] == 0 and not pixels(session, nobody.id).any(), "nothing scored 1.0: an empty drawing"
    assert any("no body keypoint" in w for w in result.steps["nobody"].warnings)
    assert (session.get(out(result, "pose")).meta["width"], session.get(out(result, "pose")).meta["height"]) == (56, 48)


def test_missing_depth_model_gives_one_message_and_canny_still_works(run_plan, session, tiny_cache, tmp_path) -> None:
    profile = yaml.safe_load(open("tools/models/profiles/tiny.yaml"))
    del profile["roles"]["depth_estimator"], profile["roles"]["controlnet_pose"]
    profile["name"] = "tiny-nodepth"
    path = tmp_path / "tiny-nodepth.yaml"
    path.write_text(yaml.safe_dump(profile))
    pool = ModelPool(str(path), cache_dir=tiny_cache)
    source = session.add(Kind.IMAGE, photo(), tool="import")
    base = {"image": f"${{{source.id}}}", "prompt": "x", "steps": STEPS, "seed": 1}
    result = run_plan(
        [
            {"id": "depth", "tool": "controlnet", "args": {**base, "condition": "depth"}},
            {"id": "pose", "tool": "controlnet", "args": {**base, "condition": "pose"}},
            {"id": "canny", "tool": "controlnet", "args": base},
            {"id": "ready", "tool": "controlnet", "args": {**base, "condition": "depth", "extract": False}},
        ],
        pool=pool,
    )
    depth = result.steps["depth"]
    assert depth.status == "failed" and "Traceback" not in depth.error
    assert "no depth estimation model" in depth.error and "depth_estimator" in depth.error and "Intel/dpt-hybrid-midas" in depth.error
    assert result.steps["pose"].status == "failed" and "controlnet_pose" in result.steps["pose"].error
    assert result.steps["canny"].status == "ran" and result.steps["ready"].status == "ran", "a ready depth map needs no estimator"


# -- layout_to_image -------------------------------------------------------------------------------
CAT = {"phrase": "a cat", "box": [0.1, 0.1, 0.5, 0.6]}
LAMP = {"phrase": "a lamp", "box": [0.6, 0.2, 0.9, 0.9]}


def test_layout_to_image_from_a_planned_layout(run_plan, session, tiny_pool, diffusion_registry) -> None:
    steps = [
        {"id": "plan", "tool": "make_layout", "args": {"width": 60, "height": 44, "boxes": [CAT, LAMP], "caption": "a cat and a lamp"}},
        {"id": "img", "tool": "layout_to_image", "args": {"layout": "${plan.layout}", "steps": STEPS, "grounding": 1.0, "seed": 4}},
        {"id": "moved", "tool": "make_layout", "args": {"width": 60, "height": 44, "boxes": [{**CAT, "box": [0.5, 0.4, 0.9, 0.9]}, LAMP], "caption": "a cat and a lamp"}},
        {"id": "img2", "tool": "layout_to_image", "args": {"layout": "${moved.layout}", "steps": STEPS, "grounding": 1.0, "seed": 4}},
        {"id": "seed", "tool": "layout_to_image", "args": {"layout": "${plan.layout}", "steps": STEPS, "grounding": 0.3, "seed": 5}},
    ]
    result = run_plan(steps)
    ok(result)
    img = session.get(out(result, "img"))
    layout_id = result.steps["plan"].outputs["layout"]
    assert img.kind is Kind.IMAGE and (img.meta["width"], img.meta["height"]) == (64, 48), "canvas rounded to multiples of 8"
    assert any("multiples of 8" in w for w in result.steps["img"].warnings)
    assert img.parents == {"layout": layout_id} and img.models == ["tiny:sd", "tiny:sd-gligen"]
    assert img.meta["full_prompt"] == "a cat and a lamp" and img.meta["boxes"] == 2
    recipe = png_recipe(session.path(img))
    assert recipe["tool"] == "layout_to_image" and recipe["parents"] == {"layout": layout_id} and recipe["seed"] == 4
    assert not np.array_equal(pixels(session, img.id), pixels(session, out(result, "img2"))), "the boxes are used"
    assert not np.array_equal(pixels(session, img.id), pixels(session, out(result, "seed")))
    assert any("boxes will not be used" in w for w in result.steps["seed"].warnings), "0.3 x 2 steps grounds no step"
    again = rerun(session, tiny_pool, diffusion_registry, steps[:2])
    assert np.array_equal(pixels(session, again["img"]), pixels(session, img.id))


def test_layout_to_image_rejects_bad_layouts(run_plan, session, tmp_path) -> None:
    empty = session.add(Kind.LAYOUT, Layout(width=SIZE, height=SIZE, boxes=[]), tool="import")
    crowded = session.add(Kind.LAYOUT, Layout(width=SIZE, height=SIZE, boxes=[Box(**CAT)] * 31), tool="import")
    tampered = session.add(Kind.LAYOUT, Layout(width=SIZE, height=SIZE, boxes=[Box(**CAT)]), tool="import")
    data = json.loads(session.path(tampered).read_text())
    data["boxes"][0]["box"] = [0.5, 0.5, 1.4, 0.9]  # reaches past the canvas
    session.path(tampered).write_text(json.dumps(data))
    result = run_plan(
        [
            {"id": "empty", "tool": "layout_to_image", "args": {"layout": f"${{{empty.id}}}", "steps": STEPS}},
            {"id": "crowded", "tool": "layout_to_image", "args": {"layout": f"${{{crowded.id}}}", "steps": STEPS}},
            {"id": "tampered", "tool": "layout_to_image", "args": {"layout": f"${{{tampered.id}}}", "steps": STEPS}},
        ]
    )
    assert result.steps["empty"].status == "failed" and "has no boxes" in result.steps["empty"].error
    assert result.steps["crowded"].status == "failed" and "at most 30" in result.steps["crowded"].error
    assert result.steps["tampered"].status == "failed" and "not a valid layout" in result.steps["tampered"].error
    assert "[0, 1]" in result.steps["tampered"].error
    with pytest.raises(PlanError, match=r"\[0, 1\]"):
        run_plan([{"id": "p", "tool": "make_layout", "args": {"boxes": [{"phrase": "a cat", "box": [-0.2, 0.1, 0.5, 0.5]}]}}])
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"width": 64, "height": 64, "boxes": [{"phrase": "x", "box": [0.2, 0.2, 1.5, 0.5]}]}))
    with pytest.raises(InputError, match="not a valid layout"):
        session.import_file(outside, Kind.LAYOUT)


# -- real weights (GPU) ---------------------------------------------------------------------------
REAL_SIZE = 512


@pytest.fixture(scope="module")
def sd15_pool() -> ModelPool:
    import torch

    from tools.models.hub import check_profile

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    pool = ModelPool("sd15")
    missing = [s.model for s in check_profile(pool.profile, None) if not s.ok]
    if missing:
        pytest.skip(f"sd15 weights not in the Hugging Face cache: {', '.join(missing)} (run `llmga models pull sd15`)")
    return pool


def grey(session, artifact_id: str) -> np.ndarray:
    return cv2.cvtColor(pixels(session, artifact_id), cv2.COLOR_RGB2GRAY).astype(np.float32)


def assert_picture(session, artifact_id: str) -> None:
    """A picture, not noise or a flat field: some contrast, and little pixel-to-pixel energy.

    Independent noise has a mean |Laplacian| of several times its standard deviation; photos and
    renderings are smooth almost everywhere and stay far below one.
    """
    g = grey(session, artifact_id)
    assert g.std() > 15, f"{artifact_id} is nearly flat (std {g.std():.1f})"
    roughness = np.abs(cv2.Laplacian(g, cv2.CV_32F)).mean() / g.std()
    assert roughness < 0.8, f"{artifact_id} looks like noise (|laplacian|/std = {roughness:.2f})"


def edge_recall(condition: np.ndarray, image: np.ndarray, reach: int = 4) -> float:
    """Fraction of condition edge pixels with an edge of ``image`` within ``reach`` pixels."""
    edges = cv2.Canny(image.astype(np.uint8), 100, 200) > 0
    near = cv2.dilate(edges.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    wanted = condition > 0
    return float(near[wanted].mean())


@pytest.mark.real_weights
@pytest.mark.gpu
@pytest.mark.slow
def test_real_weights_generate_edit_control_layout(run_plan, session, sd15_pool, car_png) -> None:
    car = session.import_file(car_png, Kind.IMAGE)
    photo_id = car.id
    size = {"width": REAL_SIZE, "height": REAL_SIZE}
    mask = Image.new("L", (REAL_SIZE, REAL_SIZE), 0)
    mask.paste(255, (REAL_SIZE // 4, REAL_SIZE // 4, 3 * REAL_SIZE // 4, 3 * REAL_SIZE // 4))
    mask_id = session.add(Kind.MASK, mask, tool="import").id
    prompt = "a photo of a red sports car on a country road, sunny day, detailed"
    steps = [
        {"id": "resized", "tool": "resize", "args": {"image": f"${{{photo_id}}}", **size}},
        {"id": "t2i", "tool": "text_to_image", "args": {"prompt": prompt, "steps": 25, "seed": 1, **size}},
        {"id": "fill", "tool": "inpaint", "args": {"image": "${resized.image}", "mask": f"${{{mask_id}}}", "prompt": "a big blue truck", "steps": 25, "seed": 1}},
        {"id": "p2p", "tool": "edit", "args": {"image": "${t2i.image}", "instruction": "make it snow", "steps": 25, "seed": 1}},
        {"id": "inv", "tool": "edit", "args": {"image": "${t2i.image}", "method": "inversion", "target": "a blue truck", "source": "a red car", "steps": 30, "seed": 1}},
        {"id": "cn", "tool": "controlnet", "args": {"image": "${t2i.image}", "prompt": "a watercolor painting of a car", "steps": 25, "seed": 2}},
        {"id": "free", "tool": "text_to_image", "args": {"prompt": "a watercolor painting of a car", "steps": 25, "seed": 2, **size}},
        {"id": "plan", "tool": "make_layout", "args": {"boxes": [{"phrase": "a red car", "box": [0.05, 0.5, 0.55, 0.9]}, {"phrase": "a tree", "box": [0.6, 0.05, 0.95, 0.9]}], "caption": "a red car beside a tree"}},
        {"id": "lay", "tool": "layout_to_image", "args": {"layout": "${plan.layout}", "steps": 25, "seed": 1}},
    ]
    result = run_plan(steps, pool=sd15_pool)
    ok(result)
    for step in ("t2i", "fill", "p2p", "inv", "cn", "lay"):
        assert_picture(session, out(result, step))
    kept = np.asarray(mask) == 0
    assert np.array_equal(pixels(session, out(result, "fill"))[kept], pixels(session, out(result, "resized"))[kept])
    source = grey(session, out(result, "t2i"))
    for step in ("p2p", "inv"):  # an edit changes the picture but keeps its composition
        edited = grey(session, out(result, step))
        assert np.abs(edited - source).mean() > 3, f"{step} changed nothing"
        assert np.corrcoef(source.ravel(), edited.ravel())[0, 1] > 0.3, f"{step} lost the composition"
    condition = grey(session, out(result, "cn", "condition"))
    controlled = edge_recall(condition, grey(session, out(result, "cn")))
    free = edge_recall(condition, grey(session, out(result, "free")))
    assert controlled > free + 0.15, f"controlnet edges follow the condition: recall {controlled:.2f} vs {free:.2f} without it"
