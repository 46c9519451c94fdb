"""The diffusion tools on the tiny profile, through plans run by the real executor."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from graphs.executor import Executor
from graphs.plan import Plan, bind
from tests.tools.conftest import SIZE, STEPS
from tools.artifacts import Kind, png_recipe
from tools.diffusion.long_prompt import encode_long_prompt
from tools.errors import PlanError

GEN = {"prompt": "a red car on a road", "steps": STEPS, "width": SIZE, "height": SIZE}


def pixels(session, artifact_id: str) -> np.ndarray:
    return np.asarray(Image.open(session.path(session.get(artifact_id))))


def ok(result) -> None:
    assert result.ok, {s: r.error for s, r in result.steps.items()}


def test_text_to_image_kind_size_lineage_recipe_and_seed(run_plan, session) -> None:
    result = run_plan(
        [
            {"id": "a", "tool": "text_to_image", "args": {**GEN, "seed": 7}},
            {"id": "b", "tool": "text_to_image", "args": {**GEN, "seed": 7, "negative_prompt": "blurry"}},
            {"id": "c", "tool": "text_to_image", "args": {**GEN, "seed": 8}},
        ]
    )
    ok(result)
    a, b, c = (session.get(result.steps[s].outputs["image"]) for s in "abc")
    assert a.kind is Kind.IMAGE and (a.meta["width"], a.meta["height"]) == (SIZE, SIZE)
    assert a.seed == 7 and a.models == ["tiny:sd"] and a.meta["untrained_weights"] is True
    recipe = png_recipe(session.path(a))
    assert recipe["tool"] == "text_to_image" and recipe["args"]["prompt"] == GEN["prompt"] and recipe["seed"] == 7
    assert not np.array_equal(pixels(session, a.id), pixels(session, c.id)), "another seed, another image"
    assert not np.array_equal(pixels(session, a.id), pixels(session, b.id)), "the negative prompt is used"
    warnings = [w for r in result.steps.values() for w in r.warnings]
    assert sum("UNTRAINED" in w for w in warnings) <= 1


def test_same_seed_same_pixels_in_fresh_runs(session, tiny_pool, diffusion_registry) -> None:
    plan = Plan.model_validate({"steps": [{"id": "x", "tool": "text_to_image", "args": {**GEN, "seed": 3}}]})
    runs = [Executor(session, cache=None, models=tiny_pool).run(bind(plan, diffusion_registry, session)) for _ in range(2)]
    ids = [run.steps["x"].outputs["image"] for run in runs]
    assert ids[0] != ids[1], "no cache: two real runs"
    assert np.array_equal(pixels(session, ids[0]), pixels(session, ids[1]))


def test_without_a_pool_the_step_fails_with_a_message(session, diffusion_registry) -> None:
    plan = Plan.model_validate({"steps": [{"id": "x", "tool": "text_to_image", "args": GEN}]})
    failed = Executor(session, cache=None, models=None).run(bind(plan, diffusion_registry, session))
    assert failed.steps["x"].status == "failed" and "needs the model pool" in failed.steps["x"].error


def test_seed_is_derived_and_recorded_when_not_given(run_plan, session) -> None:
    result = run_plan([{"id": "a", "tool": "text_to_image", "args": dict(GEN)}])
    ok(result)
    artifact = session.get(result.steps["a"].outputs["image"])
    assert isinstance(artifact.seed, int) and png_recipe(session.path(artifact))["args"]["seed"] == artifact.seed


def test_long_prompt_uses_every_token_and_changes_the_image(tiny_pool, run_plan, session) -> None:
    pipe = tiny_pool.pipeline("text2img")
    words = "a big blue truck with chrome wheels driving on a wet mountain road at dusk under neon light"
    long_prompt = " ".join([words] * 4)
    tokens = len(pipe.tokenizer(long_prompt, add_special_tokens=False, verbose=False).input_ids)
    assert tokens >= 200
    embeds = encode_long_prompt(pipe, long_prompt, "")
    assert embeds.tokens == tokens and embeds.windows == -(-tokens // 75)
    assert embeds.sequence_length == embeds.windows * 77 >= tokens + 2
    assert embeds.kwargs["negative_prompt_embeds"].shape == embeds.kwargs["prompt_embeds"].shape
    # the tail of the prompt reaches the embeddings: change only the last word, the last window changes
    other = encode_long_prompt(pipe, long_prompt[: -len("light")] + "rain", "")
    assert not np.allclose(embeds.kwargs["prompt_embeds"][0, -77:].numpy(), other.kwargs["prompt_embeds"][0, -77:].numpy())

    truncated_ids = pipe.tokenizer(long_prompt, truncation=True, max_length=77).input_ids
    truncated = pipe.tokenizer.decode(truncated_ids, skip_special_tokens=True)
    result = run_plan(
        [
            {"id": "full", "tool": "text_to_image", "args": {**GEN, "prompt": long_prompt, "seed": 1}},
            {"id": "cut", "tool": "text_to_image", "args": {**GEN, "prompt": truncated, "seed": 1}},
        ]
    )
    ok(result)
    full = session.get(result.steps["full"].outputs["image"])
    assert full.meta["prompt_tokens"] == tokens and full.meta["prompt_windows"] == embeds.windows
    assert not np.array_equal(pixels(session, full.id), pixels(session, result.steps["cut"].outputs["image"]))


def test_image_to_image_and_similar_image_follow_lineage(run_plan, session) -> None:
    result = run_plan(
        [
            {"id": "gen", "tool": "text_to_image", "args": {**GEN, "seed": 5}},
            {"id": "small", "tool": "resize", "args": {"image": "${gen.image}", "width": 48, "height": 48}},
            {"id": "redo", "tool": "image_to_image", "args": {"image": "${gen.image}", "prompt": "a truck", "steps": 4, "strength": 0.5, "seed": 2}},
            {"id": "like", "tool": "similar_image", "args": {"image": "${small.image}", "variation": "at night", "steps": STEPS, "seed": 2}},
            {"id": "given", "tool": "similar_image", "args": {"image": "${small.image}", "prompt": "a boat", "steps": STEPS, "seed": 2}},
        ]
    )
    ok(result)
    gen = result.steps["gen"].outputs["image"]
    redo = session.get(result.steps["redo"].outputs["image"])
    assert redo.parents == {"image": gen} and (redo.meta["width"], redo.meta["height"]) == (SIZE, SIZE)
    like = session.get(result.steps["like"].outputs["image"])
    assert (like.meta["width"], like.meta["height"]) == (48, 48)
    assert like.meta["full_prompt"] == f"{GEN['prompt']}, at night"
    assert like.meta["description_source"] == f"the prompt recorded on {gen}"
    assert any(f"recorded on {gen}" in w for w in result.steps["like"].warnings)
    assert session.get(result.steps["given"].outputs["image"]).meta["full_prompt"] == "a boat"
    assert any("`prompt` parameter" in w for w in result.steps["given"].warnings)


def test_similar_image_without_a_description_fails_clearly(run_plan, session) -> None:
    imported = session.add(Kind.IMAGE, Image.new("RGB", (SIZE, SIZE), "grey"), tool="import")
    result = run_plan([{"id": "like", "tool": "similar_image", "args": {"image": f"${{{imported.id}}}", "steps": STEPS}}])
    assert result.steps["like"].status == "failed" and "no prompt in its lineage" in result.steps["like"].error


def photo(size: int = SIZE) -> Image.Image:
    grid = np.indices((size, size)).sum(axis=0) % 16 * 16
    return Image.fromarray(np.stack([grid, np.flipud(grid), np.full_like(grid, 90)], -1).astype(np.uint8))


def test_inpaint_changes_only_the_mask_and_resizes_a_mismatched_mask(run_plan, session) -> None:
    image = session.add(Kind.IMAGE, photo(), tool="import")
    mask = Image.new("L", (SIZE // 2, SIZE // 2), 0)
    mask.paste(255, (4, 4, 20, 20))  # a 32px mask: resized to 64px with a warning
    mask_art = session.add(Kind.MASK, mask, tool="import")
    args = {"image": f"${{{image.id}}}", "mask": f"${{{mask_art.id}}}", "prompt": "a cat", "steps": STEPS, "seed": 4}
    result = run_plan([{"id": "fill", "tool": "inpaint", "args": args}, {"id": "fill2", "tool": "inpaint", "args": {**args, "seed": 9}}])
    ok(result)
    assert any("mask resized to the image" in w for w in result.steps["fill"].warnings)
    out = session.get(result.steps["fill"].outputs["image"])
    assert out.parents == {"image": image.id, "mask": mask_art.id} and out.models == ["tiny:sd", "tiny:sd-inpaint"]
    before, after = np.asarray(photo()), pixels(session, out.id)
    inside = np.zeros((SIZE, SIZE), bool)
    inside[8:40, 8:40] = True
    assert np.array_equal(before[~inside], after[~inside]), "pixels outside the mask are kept exactly"
    assert not np.array_equal(before[inside], after[inside])
    assert png_recipe(session.path(out))["parents"] == {"image": image.id, "mask": mask_art.id}
    assert not np.array_equal(after, pixels(session, result.steps["fill2"].outputs["image"]))


def test_inpaint_with_an_empty_mask_is_a_clear_error(run_plan, session) -> None:
    image = session.add(Kind.IMAGE, photo(), tool="import")
    empty = session.add(Kind.MASK, Image.new("L", (SIZE, SIZE), 0), tool="import")
    result = run_plan([{"id": "fill", "tool": "inpaint", "args": {"image": f"${{{image.id}}}", "mask": f"${{{empty.id}}}", "prompt": "x", "steps": STEPS}}])
    step = result.steps["fill"]
    assert step.status == "failed" and "empty (all black)" in step.error and "Traceback" not in step.error


def test_outpaint_extends_the_canvas_and_keeps_the_original(run_plan, session) -> None:
    image = session.add(Kind.IMAGE, photo(48), tool="import")
    result = run_plan([{"id": "wide", "tool": "outpaint", "args": {"image": f"${{{image.id}}}", "prompt": "more road", "left": 13, "top": 5, "steps": STEPS, "seed": 1}}])
    ok(result)
    out = session.get(result.steps["wide"].outputs["image"])
    mask = session.get(result.steps["wide"].outputs["mask"])
    assert (out.meta["width"], out.meta["height"]) == (61, 53) and mask.kind is Kind.MASK
    after = pixels(session, out.id)
    assert np.array_equal(after[5:, 13:], np.asarray(photo(48))), "the original sits unchanged at its offset"
    assert (pixels(session, mask.id)[:5] == 255).all() and (pixels(session, mask.id)[5:, 13:] == 0).all()


def test_outpaint_needs_some_padding(run_plan, session) -> None:
    image = session.add(Kind.IMAGE, photo(), tool="import")
    with pytest.raises(PlanError, match="extend at least one side"):
        run_plan([{"id": "wide", "tool": "outpaint", "args": {"image": f"${{{image.id}}}", "prompt": "x"}}])
