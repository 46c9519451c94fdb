"""Each role with the scripted fake backend: typed outputs, checks, bounded retries, blending."""

from __future__ import annotations

import json

import numpy as np
import pytest
from langchain_core.messages import HumanMessage
from PIL import Image

from agent.llm.fake import FakeBackend, ScriptExhausted
from graphs.plan import Plan
from tests.llm_roles.conftest import SeeingFake
from tools.errors import ToolFailure
from tools.llm.caption import caption
from tools.llm.evaluate import Report, evaluate_image, generate_with_retry
from tools.llm.highres import blend, patch_prompts, tiles, weights
from tools.llm.layout import LayoutPlan, check_plan, normalize_name, plan_layout
from tools.llm.refine import refine_prompt
from tools.llm.story import StoryPlan, check_story, plan_story, video_plan
from tools.llm.structured import Ending, RoleError, ask

ELEPHANTS = {
    "objects": [{"name": "elephant", "count": 3}, {"name": "pool", "count": 1}],
    "relations": [{"subject": "elephant", "relation": "next to", "object": "pool"}],
    "boxes": [
        {"phrase": "pool", "instance": 1, "x0": 40, "y0": 30, "x1": 62, "y1": 50},
        {"phrase": "elephant", "instance": 1, "x0": 2, "y0": 20, "x1": 14, "y1": 34},
        {"phrase": "elephants", "instance": 2, "x0": 14, "y0": 22, "x1": 26, "y1": 36},
        {"phrase": "elephant", "instance": 3, "x0": 26, "y0": 24, "x1": 38, "y1": 38},
    ],
}


# -- layout --------------------------------------------------------------------------------------
def test_layout_valid_plan_becomes_a_layout_inside_the_canvas() -> None:
    fake = FakeBackend([ELEPHANTS])
    layout, answer = plan_layout(fake, "three elephants beside a pool", width=640, height=480)
    assert (layout.width, layout.height, len(layout.boxes)) == (640, 480, 4)
    assert all(0 <= v <= 1 for b in layout.boxes for v in b.box)
    assert answer.trace.attempts == 1 and fake.calls[0].json_schema["title"] == "LayoutPlan"
    assert layout.caption == "three elephants beside a pool"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda p: p["boxes"].pop(), "'elephant' has count 3 but 2 box(es)"),
        (lambda p: p["boxes"][0].update(x0=62), "is empty"),
        (lambda p: p["boxes"][1].update(phrase="giraffe"), "not among the objects"),
        (lambda p: p["relations"].__setitem__(0, {"subject": "elephant", "relation": "right of", "object": "pool"}), "do not show 'elephant right of pool'"),
        (lambda p: p["relations"].append({"subject": "pool", "relation": "above", "object": "tree"}), "'tree', which has no box"),
    ],
)
def test_layout_check_finds_each_problem(change, problem) -> None:
    plan = json.loads(json.dumps(ELEPHANTS))
    change(plan)
    problems = check_plan(LayoutPlan.model_validate(plan))
    assert any(problem in p for p in problems), problems


def test_layout_retry_feeds_the_problem_back_and_is_bounded() -> None:
    wrong = json.loads(json.dumps(ELEPHANTS))
    wrong["boxes"].pop()
    fake = FakeBackend([wrong, ELEPHANTS])
    _, answer = plan_layout(fake, "three elephants beside a pool")
    assert answer.trace.attempts == 2 and "count 3 but 2" in fake.calls[1].last_text
    stubborn = FakeBackend([wrong, wrong, "not json", ELEPHANTS])
    with pytest.raises(RoleError, match="3 attempt"):
        plan_layout(stubborn, "three elephants beside a pool", attempts=3)
    assert stubborn.remaining == 1, "no fourth request"


def test_names_compare_singular_and_without_articles() -> None:
    assert normalize_name("The two Hot-Dogs") == "hot dog" == normalize_name("hot dog")
    assert normalize_name("buses") == normalize_name("a bus") and normalize_name("people") == "person"
    assert normalize_name("glass") == normalize_name("glasses")


# -- refine --------------------------------------------------------------------------------------
def test_refine_prompt_json_and_llmga_tags() -> None:
    fake = FakeBackend([{"prompt": "a red vintage car, chrome trim, coastal road at golden hour, photo", "negative_prompt": "blurry", "notes": "sunset light"}])
    answer = refine_prompt(fake, "a red car")
    assert answer.value.prompt.startswith("a red vintage car") and answer.value.negative_prompt == "blurry"
    short = FakeBackend([{"prompt": "car", "negative_prompt": "", "notes": ""}] * 2)
    with pytest.raises(RoleError):
        refine_prompt(short, "a red car on a long coastal road")
    llmga = FakeBackend(["Sure! <gen_image>a red car, detailed chrome, sunset</gen_image> Enjoy."], name="llmga:tiny")
    tagged = refine_prompt(llmga, "a red car")
    assert tagged.value.prompt == "a red car, detailed chrome, sunset" and llmga.calls[0].json_schema is None
    assert tagged.value.notes == "Sure! Enjoy."


# -- story ---------------------------------------------------------------------------------------
STORY = {
    "entities": [
        {"name": "Mia", "description": "a ten-year-old girl with a yellow raincoat and red boots"},
        {"name": "Rex", "description": "a small brown terrier with a blue collar"},
    ],
    "scenes": [
        {"setting": "a rainy street", "action": "Mia walks home", "entities": ["Mia"]},
        {"setting": "a park", "action": "Mia finds Rex under a bench", "entities": ["Mia", "Rex"]},
        {"setting": "a kitchen", "action": "Rex eats from a bowl", "entities": ["Rex"]},
    ],
    "style": "watercolour animation",
}


def test_story_scene_prompts_repeat_each_entity_description_verbatim() -> None:
    answer = plan_story(FakeBackend([STORY]), "Mia finds a lost dog and takes him home")
    plan = answer.value
    prompts = plan.prompts()
    for prompt, scene in zip(prompts, plan.scenes, strict=True):
        for entity in plan.entities:
            assert (entity.description in prompt) == (entity.name in scene.entities)
        assert "watercolour animation" in prompt


def test_story_check_rejects_unknown_and_unused_entities_then_retries() -> None:
    bad = json.loads(json.dumps(STORY))
    bad["scenes"][2]["entities"] = ["Max"]
    problems = check_story(StoryPlan.model_validate(bad), max_scenes=4)
    assert any("'Max'" in p for p in problems) and any("appear in no scene" in p for p in problems) is False
    fake = FakeBackend([bad, STORY])
    assert plan_story(fake, "story").trace.attempts == 2
    assert check_story(StoryPlan.model_validate(STORY), max_scenes=2) == ["use at most 2 scenes"]


def test_story_video_plan_joins_scenes_four_at_a_time() -> None:
    many = json.loads(json.dumps(STORY))
    many["scenes"] = [dict(STORY["scenes"][0]) for _ in range(6)]
    many["scenes"][5]["entities"] = ["Rex"]
    plan = Plan.model_validate(video_plan(StoryPlan.model_validate(many), {"text_to_video", "concat_clips"}, frames=4, seed=5))
    ids = [s.id for s in plan.steps]
    assert ids == [f"scene_{i}" for i in range(1, 7)] + ["join_1", "join_2"]
    join_1, join_2 = plan.steps[6].args, plan.steps[7].args
    assert [join_1[k] for k in ("first", "second", "third", "fourth")] == [f"${{scene_{i}.video}}" for i in range(1, 5)]
    assert join_2["first"] == "${join_1.video}" and join_2["second"] == "${scene_5.video}" and join_2["third"] == "${scene_6.video}"
    assert plan.outputs == {"video": "${join_2.video}"} and all(s.args["seed"] == 5 for s in plan.steps[:6])
    with pytest.raises(ToolFailure, match="not installed"):
        video_plan(StoryPlan.model_validate(STORY), {"text_to_video"})


# -- hierarchical high resolution ------------------------------------------------------------------
def test_tiles_cover_the_image_and_weights_sum_to_one() -> None:
    grid = tiles(300, 200, 128, 32)
    total = np.zeros((200, 300))
    for tile, window in zip(grid, weights(grid), strict=True):
        x0, y0, x1, y1 = tile.box
        assert x1 - x0 == 128 and y1 - y0 == 128
        total[y0:y1, x0:x1] += window
    assert np.allclose(total, 1.0)


def test_blending_leaves_no_seam_on_a_synthetic_image() -> None:
    height, width = 160, 224
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 0.5, yy * 0.6, 60 + 0 * xx], axis=-1)  # smooth gradient: at most 0.6 per pixel
    image = Image.fromarray(base.astype(np.uint8))
    grid = tiles(width, height, 96, 32)
    assert np.array_equal(np.asarray(blend([image.crop(t.box) for t in grid], grid, image.size)), np.asarray(image))
    # every redrawn patch comes back 24 levels brighter or darker than its neighbours (what img2img does)
    shifted = [Image.fromarray(np.clip(np.asarray(image.crop(t.box), float) + (24 if (t.row + t.col) % 2 else -24), 0, 255).astype(np.uint8)) for t in grid]
    blended = np.asarray(blend(shifted, grid, image.size), float)
    naive = np.zeros_like(blended)
    for patch, tile in zip(shifted, grid, strict=True):
        x0, y0, x1, y1 = tile.box
        naive[y0:y1, x0:x1] = np.asarray(patch, float)
    step = lambda a: max(np.abs(np.diff(a, axis=1)).max(), np.abs(np.diff(a, axis=0)).max())  # noqa: E731
    assert step(naive) >= 48, "pasting patches leaves a 48-level seam"
    assert step(blended) <= 3, "blending spreads the 48-level difference over the 32-pixel overlap"


def test_patch_prompts_one_per_patch_with_retry() -> None:
    grid = tiles(128, 64, 64, 16)
    short = {"patches": [{"index": 0, "prompt": "sky"}]}
    full = {"patches": [{"index": i, "prompt": f"detail {i}"} for i in range(len(grid))]}
    fake = FakeBackend([short, full])
    answer = patch_prompts(fake, "a castle on a hill", grid, captions=["sky", "hill", "grass"][: len(grid)])
    assert answer.trace.attempts == 2 and len(answer.value.patches) == len(grid) == 3
    assert "top" not in fake.calls[0].last_text and "left" in fake.calls[0].last_text and "it currently shows: sky" in fake.calls[0].last_text


# -- captioner and evaluator -----------------------------------------------------------------------
def test_caption_uses_the_vision_model_or_says_it_fell_back() -> None:
    img = Image.new("RGB", (32, 32), "red")
    seeing = SeeingFake([{"caption": "a red square"}])
    result = caption(img, vision=seeing)
    assert result.source == "model" and result.text == "a red square" and result.warning is None
    content = seeing.calls[0].messages[-1].content
    assert content[0]["type"] == "image" and content[0]["base64"]
    fallback = caption(img, vision=None, lineage_prompt="a red car", lineage_source="image-1")
    assert fallback.source == "lineage" and fallback.text == "a red car" and "image-1" in fallback.warning
    with pytest.raises(ToolFailure, match="no image-reading model"):
        caption(img, vision=None)


def test_evaluator_scores_with_vision_and_skips_without() -> None:
    img = Image.new("RGB", (32, 32))
    text = FakeBackend([{"questions": ["Is there a car?", "Is the car red?", "Is it on a road?", "Is it sunset?"]}])
    vision = SeeingFake([{"answer": "yes"}, {"answer": "no"}, {"answer": "yes"}, {"answer": "yes"}])
    report = evaluate_image(text, vision, "a red car on a road at sunset", img, threshold=0.8)
    assert report.checked and report.score == 0.75 and report.passed is False
    assert "answered no: Is the car red?" in report.summary()
    skipped = evaluate_image(FakeBackend([]), None, "a red car", img)
    assert not skipped.checked and skipped.score is None and "not checked" in skipped.note


def test_retry_is_bounded_changes_seed_then_prompt_and_keeps_the_best() -> None:
    made: list[tuple[str, int]] = []
    scores = iter([0.2, 0.6, 0.4])

    def make(prompt: str, seed: int) -> Image.Image:
        made.append((prompt, seed))
        return Image.new("RGB", (8, 8), (len(made), 0, 0))

    def judge(_img: Image.Image) -> Report:
        return Report(request="r", checked=True, score=next(scores), threshold=0.9)

    best, attempts = generate_with_retry(make, judge, prompt="a cat", seed=10, max_attempts=3, refine=lambda p: p + ", detailed")
    assert made == [("a cat", 10), ("a cat", 11), ("a cat, detailed", 12)]
    assert best.getpixel((0, 0))[0] == 2 and len(attempts) == 3, "the best-scoring image (attempt 2) is kept"
    passing = iter([0.5, 1.0, 1.0])
    _, attempts = generate_with_retry(make, lambda i: Report(request="r", checked=True, score=next(passing), threshold=0.9), prompt="x", seed=0)
    assert len(attempts) == 2
    _, attempts = generate_with_retry(make, lambda i: Report(request="r", checked=False, note="n"), prompt="x", seed=0, max_attempts=3)
    assert len(attempts) == 1, "no score, no retry"


def test_fake_script_exhaustion_is_loud() -> None:
    with pytest.raises(ScriptExhausted):
        plan_layout(FakeBackend([]), "a cat")


def test_an_answer_stopped_where_its_fixed_ending_starts_gets_the_ending_back() -> None:
    """The backend is asked to stop at the ending (the fake stops as a backend does) and the
    answer is read whole; a refusal, whole JSON already, is read as it is."""
    ending = Ending('"],', '"],"rest":[]}')
    fake = FakeBackend(['{"tasks":["a","b"],"rest":[]}', '{"cannot":"no"}'])
    for expected in ({"tasks": ["a", "b"], "rest": []}, {"cannot": "no"}):
        answer = ask(fake, [HumanMessage("go")], Report, role="test", parse=json.loads, schema={}, ending=ending)
        assert answer.value == expected and answer.trace.generations[0].text == json.dumps(expected, separators=(",", ":"))
    assert [call.stop for call in fake.calls] == [('"],',), ('"],',)]
