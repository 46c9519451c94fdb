"""The LLM role tools through the real executor, with scripted backends in the pool and tiny models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from agent.llm.fake import FakeBackend
from tests.llm_roles.conftest import SeeingFake
from tests.llm_roles.test_roles import ELEPHANTS, STORY
from tools.artifacts import Kind
from tools.errors import ConfigError
from tools.llm.access import LLMAccess
from tools.llm.access import of as access_of

GEN = {"prompt": "a red car on a road", "steps": 2, "width": 32, "height": 32, "seed": 3}


def ok(result) -> None:
    assert result.ok, {s: r.error for s, r in result.steps.items()}


def test_llm_access_is_lent_by_the_runner_and_checks_vision() -> None:
    fake = FakeBackend([])
    access = LLMAccess.fixed(fake)
    assert access.text() is fake and access.vision() is None
    with pytest.raises(ConfigError, match="cannot read images"):
        LLMAccess.fixed(fake, vision=FakeBackend([]))
    with pytest.raises(ConfigError, match="no text LLM"):
        LLMAccess.fixed(None).text()
    with pytest.raises(ConfigError, match="need LLMs"):
        access_of(None)


def test_built_once_on_first_use() -> None:
    built: list[FakeBackend] = []
    access = LLMAccess(lambda: built.append(FakeBackend([])) or built[-1])
    assert access.text() is access.text() and len(built) == 1


def test_vision_is_none_unless_configured(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("LLMGA_VISION", raising=False)
    monkeypatch.setenv("LLMGA_PLANNER", "fake")
    from agent.config import Settings
    from agent.runtime import Runtime

    assert Runtime(Settings(workspace=tmp_path / "ws")).llm.vision() is None


def test_plan_layout_tool_stores_a_checked_layout(llm, run_plan, pool, session) -> None:
    llm.install(FakeBackend([ELEPHANTS]))
    result = run_plan([{"id": "l", "tool": "plan_layout", "args": {"request": "three elephants beside a pool", "width": 256, "height": 256}},
                       {"id": "d", "tool": "draw_layout", "args": {"layout": "${l.layout}"}}])
    ok(result)
    artifact = session.get(result.steps["l"].outputs["layout"])
    assert artifact.kind is Kind.LAYOUT and artifact.meta["objects"] == {"elephant": 3, "pool": 1}
    assert artifact.meta["relations"] == ["elephant next to pool"] and artifact.meta["attempts"] == 1
    assert session.handle(artifact.id).layout().boxes[0].phrase == "pool"


def test_refine_prompt_tool_feeds_text_to_image(llm, run_plan, pool, session) -> None:
    llm.install(FakeBackend([{"prompt": "a red vintage car on a coastal road, golden hour", "negative_prompt": "", "notes": "warm"}]))
    result = run_plan([{"id": "r", "tool": "refine_prompt", "args": {"request": "a red car"}},
                       {"id": "g", "tool": "text_to_image", "args": {**GEN, "prompt": "${r.text}"}}])
    ok(result)
    image = session.get(result.steps["g"].outputs["image"])
    assert image.args["prompt"] == "a red vintage car on a coastal road, golden hour" and image.parents == {"prompt": result.steps["r"].outputs["text"]}


def test_caption_tool_falls_back_to_lineage_with_a_warning(run_plan, pool, session, monkeypatch) -> None:
    monkeypatch.setenv("LLMGA_PLANNER", "fake")
    result = run_plan([{"id": "g", "tool": "text_to_image", "args": GEN},
                       {"id": "c", "tool": "caption", "args": {"image": "${g.image}"}}])
    ok(result)
    text = session.get(result.steps["c"].outputs["text"])
    assert session.handle(text.id).text() == GEN["prompt"] and text.meta["caption_source"] == "lineage"
    assert any("not a description of the pixels" in w for w in result.steps["c"].warnings)


def test_generate_checked_retries_with_vision_and_records_the_score(llm, run_plan, pool, session) -> None:
    text = FakeBackend([{"questions": ["Is there a car?", "Is it red?"]}])
    vision = SeeingFake([{"answer": "no"}, {"answer": "no"}, {"answer": "yes"}, {"answer": "yes"}])
    llm.install(text, vision=vision)
    result = run_plan([{"id": "g", "tool": "generate_checked", "args": {**GEN, "threshold": 0.9, "max_attempts": 3}}])
    ok(result)
    image = session.get(result.steps["g"].outputs["image"])
    assert image.meta["score"] == 1.0 and len(image.meta["attempts"]) == 2 and image.meta["chosen_seed"] == 4
    assert [qa["question"] for qa in image.meta["evaluation"]["answers"]] == ["Is there a car?", "Is it red?"]
    assert text.remaining == 0 and vision.remaining == 0, "questions written once, each answered per image"


def test_generate_checked_without_vision_uses_the_detector_and_fails_noise(llm, run_plan, pool, session, monkeypatch) -> None:
    """No image-reading model: the object detector answers "Is there a car?" (no, on tiny noise), the
    colour question is skipped, and the retry spends its attempts (no LLM call: the questions come
    from the request's words)."""
    monkeypatch.delenv("LLMGA_VISION", raising=False)
    llm.install(FakeBackend([]))
    monkeypatch.setenv("LLMGA_PLANNER", "fake")
    result = run_plan([{"id": "g", "tool": "generate_checked", "args": {**GEN, "max_attempts": 2}}])
    ok(result)
    image = session.get(result.steps["g"].outputs["image"])
    report = image.meta["evaluation"]
    assert image.meta["score"] == 0.0 and report["checked"] and len(image.meta["attempts"]) == 2
    assert report["evaluator"].startswith("detector") and [s["question"] for s in report["skipped"]] == ["Is the car red?"]


def test_generate_checked_with_nothing_to_check_says_so(llm, run_plan, pool, session, monkeypatch) -> None:
    monkeypatch.delenv("LLMGA_VISION", raising=False)
    llm.install(FakeBackend([]))
    monkeypatch.setenv("LLMGA_PLANNER", "fake")
    result = run_plan([{"id": "g", "tool": "generate_checked", "args": {**GEN, "prompt": "a sunset over the sea"}}])
    ok(result)
    image = session.get(result.steps["g"].outputs["image"])
    assert image.meta["score"] is None and image.meta["evaluation"]["checked"] is False and len(image.meta["attempts"]) == 1
    assert any("not checked" in w for w in result.steps["g"].warnings)


def test_evaluate_image_tool_uses_the_lineage_prompt(llm, run_plan, pool, session) -> None:
    llm.install(FakeBackend([{"questions": ["Is there a car?"]}]), vision=SeeingFake([{"answer": "yes"}]))
    result = run_plan([{"id": "g", "tool": "text_to_image", "args": GEN},
                       {"id": "e", "tool": "evaluate_image", "args": {"image": "${g.image}"}}])
    ok(result)
    report = json.loads(session.handle(result.steps["e"].outputs["text"]).text())
    assert report["request"] == GEN["prompt"] and report["score"] == 1.0 and report["checked"] is True


def test_hires_refine_upscales_patch_by_patch_with_local_prompts(llm, run_plan, pool, session, monkeypatch) -> None:
    monkeypatch.delenv("LLMGA_VISION", raising=False)
    monkeypatch.setenv("LLMGA_PLANNER", "fake")
    grid_prompts = {"patches": [{"index": i, "prompt": f"local detail {i}"} for i in range(9)]}
    fake = FakeBackend([grid_prompts])
    llm.install(fake)
    result = run_plan([{"id": "g", "tool": "text_to_image", "args": GEN},
                       {"id": "h", "tool": "hires_refine", "args": {"image": "${g.image}", "scale": 2.0, "patch": 32, "overlap": 8,
                                                                   "strength": 0.5, "steps": 2}}])
    ok(result)
    out = session.get(result.steps["h"].outputs["image"])
    assert (out.meta["width"], out.meta["height"]) == (64, 64) and len(out.meta["patches"]) == 9
    assert out.meta["global_prompt"] == GEN["prompt"] and out.meta["patches"][4]["prompt"] == "local detail 4"
    assert "global prompt: a red car on a road" in fake.calls[0].last_text.lower()
    pixels = np.asarray(Image.open(session.path(out)))
    assert pixels.std() > 0


def test_story_tools(llm, run_plan, pool, session, registry) -> None:
    llm.install(FakeBackend([STORY]))
    result = run_plan([{"id": "s", "tool": "plan_story", "args": {"story": "Mia finds a lost dog", "max_scenes": 3}}])
    ok(result)
    plan = json.loads(session.handle(result.steps["s"].outputs["text"]).text())
    assert len(plan["scene_prompts"]) == 3 and all("yellow raincoat" in p for p in plan["scene_prompts"][:2])


def test_story_to_video_makes_each_scene_and_joins_them(llm, run_plan, pool, session) -> None:
    two = json.loads(json.dumps(STORY))
    two["scenes"] = STORY["scenes"][:2]
    llm.install(FakeBackend([two]))
    args = {"story": "Mia finds a lost dog", "max_scenes": 2, "frames": 2, "steps": 2, "width": 32, "height": 32, "fps": 4, "seed": 1}
    result = run_plan([{"id": "v", "tool": "story_to_video", "args": args}])
    ok(result)
    video = session.get(result.steps["v"].outputs["video"])
    clips = [session.get(c) for c in video.meta["scene_clips"]]
    assert [c.tool for c in clips] == ["text_to_video", "text_to_video"]
    assert [c.args["prompt"] for c in clips] == video.meta["scene_prompts"]
    assert all("yellow raincoat and red boots" in c.args["prompt"] for c in clips), "Mia looks the same in both scenes"
    assert session.get(video.meta["joined_from"]).tool == "concat_clips"
