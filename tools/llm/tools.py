"""Tools for the LLM roles (``tools.llm``): each is a thin, typed wrapper over one role function.

The backend comes from the model pool (``tools.llm.access``): ``ROLE_KEY`` for text, built
by ``get_backend()`` on first use, and ``VISION_KEY`` for image reading, ``None`` unless configured.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Produced, Tool, ToolContext, ToolParams
from tools.diffusion.common import PromptParams, generate, snap
from tools.errors import ToolFailure
from tools.llm import access
from tools.llm.caption import caption
from tools.llm.common import video_frame
from tools.llm.evaluate import evaluate_image, generate_with_retry
from tools.llm.highres import hierarchical_upscale, patch_prompts
from tools.llm.layout import plan_layout
from tools.llm.refine import refine_prompt
from tools.llm.story import JOIN_TOOL, VIDEO_TOOL, plan_story, video_plan
from tools.words import PLACING, TELLING

MAX_SIDE = 2048


def _lineage(handle: ArtifactHandle, given: str | None, what: str) -> str:
    if given:
        return given
    found = handle.recorded_prompt()
    if not found:
        raise ToolFailure(f"{handle.id} has no prompt in its lineage; give `{what}`")
    return found[0]


class RefinePrompt(Tool):
    """Turn a short request into a detailed image prompt (subject, attire, setting, lighting, style).

    The result is a text artifact the user can read and edit before generating; with an LLMGA
    backend it is the model's <gen_image> prompt.
    """

    name = "refine_prompt"
    runs_in_driver = True
    outputs = {"text": Kind.TEXT}
    cost = 1.0

    class Params(ToolParams):
        request: str = Field(min_length=1, description="what the user asked for, in their words")
        style: str = Field("", description="a style to aim for, e.g. 'oil painting'")

    def run(self, ctx: ToolContext, params: Params) -> dict:
        backend = access.of(ctx.llm).text()
        answer = refine_prompt(backend, params.request, style=params.style)
        meta = {"negative_prompt": answer.value.negative_prompt, "notes": answer.value.notes, "llm": backend.name, **answer.trace.meta()}
        return {"text": Produced(answer.value.prompt, meta)}


class PlanLayout(Tool):
    """Plan a layout (labelled boxes) for a request with object counts and spatial relations.

    Checked before it is returned: boxes inside the canvas, exactly the declared number of each
    object, and every stated relation (left of, above, ...) true between box centres. Feed the
    layout to layout_to_image, or draw_layout to look at it.
    """

    name = "plan_layout"
    offered_for = PLACING
    runs_in_driver = True
    outputs = {"layout": Kind.LAYOUT}
    cost = 1.0

    class Params(ToolParams):
        request: str = Field(min_length=1, description="e.g. 'three elephants beside a pool'")
        width: int = Field(512, ge=8, le=8192)
        height: int = Field(512, ge=8, le=8192)

    def run(self, ctx: ToolContext, params: Params) -> dict:
        backend = access.of(ctx.llm).text()
        layout, answer = plan_layout(backend, params.request, width=params.width, height=params.height)
        plan = answer.value
        meta = {
            "objects": {o.name: o.count for o in plan.objects},
            "relations": [f"{r.subject} {r.relation} {r.object}" for r in plan.relations],
            "llm": backend.name,
            **answer.trace.meta(),
        }
        return {"layout": Produced(layout, meta)}


class HiresRefine(Tool):
    """Redraw an image larger with new detail painted in, patch by patch (slow; to just enlarge or upscale, use upscale).

    Upsamples by ``scale``, splits into overlapping patches, has the LLM write a local prompt for
    each patch from the global prompt (and the patch's caption when an image-reading model is
    configured), redraws each patch with img2img at ``strength``, and blends the overlaps.
    """

    name = "hires_refine"
    runs_in_driver = True
    inputs = {"image": Input(Kind.IMAGE, description="the image to enlarge")}
    outputs = {"image": Kind.IMAGE}
    models = ("img2img",)
    cost = 8.0

    class Params(PromptParams):
        prompt: str | None = Field(None, description="the global prompt; default: the prompt in the image's lineage")
        scale: float = Field(2.0, ge=1.0, le=4.0)
        patch: int = Field(512, ge=32, le=1024, description="patch side in pixels")
        overlap: int = Field(64, ge=0, le=512, description="pixels shared by neighbouring patches")
        strength: float = Field(0.35, gt=0.0, le=0.8, description="how much each patch may change")
        steps: int = Field(20, ge=1, le=200)

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        if params.overlap >= params.patch:
            raise ToolFailure("overlap must be smaller than patch")
        if round(params.steps * params.strength) < 1:
            raise ToolFailure(f"steps x strength = {params.steps * params.strength:.2f}: no denoising step would run")
        source = image.image()
        if max(source.size) * params.scale > MAX_SIDE:
            raise ToolFailure(f"{image.id} x{params.scale} would exceed {MAX_SIDE} px on a side")
        global_prompt = _lineage(image, params.prompt, "prompt")
        backend = access.of(ctx.llm).text()
        vision = access.of(ctx.llm).vision()
        seed = params.seed or 0
        notes: dict = {}
        total = [1]

        def prompts_for(grid):
            captions = None
            if vision is not None:
                big = source.resize((grid[-1].box[2], grid[-1].box[3]))
                captions = [caption(big.crop(t.box), vision=vision).text for t in grid]
            else:
                ctx.warn("hires_refine: no image-reading model configured; patch prompts come from the global prompt and patch positions only")
            answer = patch_prompts(backend, global_prompt, grid, captions=captions, seed=seed)
            notes.update(answer.trace.meta())
            total[0] = len(grid)
            return [p.prompt for p in sorted(answer.value.patches, key=lambda p: p.index)]

        def redraw(patch_image, local, index):
            ctx.progress(index, total[0], f"patch {index + 1} of {total[0]}")
            size = snap(patch_image.size)
            local_params = PromptParams(prompt=local, negative_prompt=params.negative_prompt, steps=params.steps,
                                        guidance=params.guidance, seed=seed + index)
            out, _ = generate(ctx, "img2img", local_params, image=patch_image.resize(size), strength=params.strength)
            return out.resize(patch_image.size)

        result, grid, local = hierarchical_upscale(source, global_prompt, prompts_for, redraw, scale=params.scale,
                                                   patch=params.patch, overlap=params.overlap)
        meta = {"global_prompt": global_prompt, "patches": [{"box": list(t.box), "prompt": p} for t, p in zip(grid, local, strict=True)],
                "llm": backend.name, **notes}
        if ctx.models.profile.untrained:
            meta["untrained_weights"] = True
        return {"image": Produced(result, meta)}


class PlanStory(Tool):
    """Break a story into video scenes with one fixed description per character (JSON text).

    Every scene prompt repeats each character's description word for word, so a character looks
    the same in every scene. story_to_video makes and joins the clips.
    """

    name = "plan_story"
    offered_for = TELLING
    runs_in_driver = True
    outputs = {"text": Kind.TEXT}
    cost = 1.0

    class Params(ToolParams):
        story: str = Field(min_length=1)
        max_scenes: int = Field(4, ge=1, le=8)

    def run(self, ctx: ToolContext, params: Params) -> dict:
        backend = access.of(ctx.llm).text()
        answer = plan_story(backend, params.story, max_scenes=params.max_scenes)
        text = json.dumps({**answer.value.model_dump(), "scene_prompts": answer.value.prompts()}, indent=2)
        return {"text": Produced(text, {"scenes": len(answer.value.scenes), "llm": backend.name, **answer.trace.meta()})}


class StoryToVideo(Tool):
    """Make a multi-scene video from a story: plan scenes with consistent characters, generate
    each scene with text_to_video, and join the clips with concat_clips (needs the video tools)."""

    name = "story_to_video"
    offered_for = TELLING
    runs_in_driver = True
    outputs = {"video": Kind.VIDEO}
    models = ("text2video",)
    cost = 30.0

    class Params(ToolParams):
        story: str = Field(min_length=1)
        max_scenes: int = Field(4, ge=1, le=8)
        frames: int = Field(16, ge=2, le=32)
        fps: float = Field(8.0, gt=0.0, le=60.0)
        steps: int = Field(25, ge=1, le=200)
        width: int | None = Field(None, ge=8, le=MAX_SIDE)
        height: int | None = Field(None, ge=8, le=MAX_SIDE)
        crossfade: float = Field(0.0, ge=0.0, le=5.0)
        seed: int | None = Field(None, ge=0)

    def run(self, ctx: ToolContext, params: Params) -> dict:
        if ctx.run_plan is None:
            raise ToolFailure("story_to_video runs scene steps and needs a plan runner; run it through the executor")
        backend = access.of(ctx.llm).text()
        story = plan_story(backend, params.story, max_scenes=params.max_scenes).value
        plan = video_plan(story, {VIDEO_TOOL, JOIN_TOOL}, frames=params.frames, fps=params.fps, steps=params.steps, width=params.width,
                          height=params.height, seed=params.seed or 0, crossfade=params.crossfade)
        made = ctx.run_plan(plan)
        joined = made.outputs["video"]
        clips = [made.steps[f"scene_{i + 1}"]["video"].id for i in range(len(story.scenes))]
        meta = {"story_plan": story.model_dump(), "scene_prompts": story.prompts(), "scene_clips": clips, "joined_from": joined.id,
                "llm": backend.name, **{k: v for k, v in joined.artifact.meta.items() if k in ("fps", "frames", "duration", "untrained_weights")}}
        return {"video": Produced(joined.path, meta)}


class Caption(Tool):
    """Describe an image or a video (its middle frame) in words, with an image-reading model.

    Without one, the description is the prompt recorded in the artifact's lineage, and a warning
    says so. Useful for similar_image, inpainting prompts and sound for a video.
    """

    name = "caption"
    runs_in_driver = True
    inputs = {"image": Input(Kind.IMAGE, optional=True), "video": Input(Kind.VIDEO, optional=True)}
    outputs = {"text": Kind.TEXT}
    cost = 1.0

    class Params(ToolParams):
        detail: Literal["short", "detailed"] = "short"

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle | None, video: ArtifactHandle | None) -> dict:
        handle = image or video
        if handle is None or (image and video):
            raise ToolFailure("caption takes exactly one of image or video")
        vision = access.of(ctx.llm).vision()
        found = handle.recorded_prompt()
        frame = None
        if vision is not None:
            frame = image.image() if image else video_frame(handle)
        result = caption(frame, vision=vision, lineage_prompt=found[0] if found else None,
                         lineage_source=f"the recipe of {found[1]}" if found else "", detail=params.detail)
        if result.warning:
            ctx.warn(result.warning)
        return {"text": Produced(result.text, {"caption_source": result.source, "captioner": result.model})}


def _detector(ctx: ToolContext):
    """The GenEval-style detector checker on the context's model pool (None without a pool)."""
    if ctx.models is None:
        return None
    from tools.perception.checker import DetectorChecker

    return DetectorChecker(ctx.models)


class EvaluateImage(Tool):
    """Check an image against its request: yes/no questions written from the request, answered on
    the image by an image-reading model, and a score (fraction answered yes). Without such a model
    an object detector answers the presence, count and position questions; the others are listed
    as skipped, never guessed."""

    name = "evaluate_image"
    runs_in_driver = True
    inputs = {"image": Input(Kind.IMAGE)}
    outputs = {"text": Kind.TEXT}
    cost = 1.5

    class Params(ToolParams):
        request: str | None = Field(None, description="what the image should show; default: the prompt in its lineage")
        threshold: float = Field(0.75, ge=0.0, le=1.0)
        max_questions: int = Field(5, ge=1, le=8)

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        request = _lineage(image, params.request, "request")
        report = evaluate_image(access.of(ctx.llm).text(), access.of(ctx.llm).vision(), request, image.image(),
                                threshold=params.threshold, max_questions=params.max_questions, detector=_detector(ctx))
        if not report.checked:
            ctx.warn(report.note)
        return {"text": Produced(report.model_dump_json(indent=2), {"evaluation": report.model_dump(), "score": report.score})}


class GenerateChecked(Tool):
    """Generate an image and check it (questions from the prompt, answered on the image); below the
    threshold, retry with a new seed and then a refined prompt, at most ``max_attempts`` images.
    The best image is kept; its metadata holds the score and what was checked."""

    name = "generate_checked"
    runs_in_driver = True
    outputs = {"image": Kind.IMAGE}
    models = ("text2img",)
    cost = 10.0

    class Params(PromptParams):
        width: int | None = Field(None, ge=8, le=MAX_SIDE)
        height: int | None = Field(None, ge=8, le=MAX_SIDE)
        threshold: float = Field(0.75, ge=0.0, le=1.0)
        max_attempts: int = Field(3, ge=1, le=5)
        max_questions: int = Field(5, ge=1, le=8)

    def run(self, ctx: ToolContext, params: Params) -> dict:
        backend = access.of(ctx.llm).text()
        vision = access.of(ctx.llm).vision()
        checker = _detector(ctx) if vision is None else None
        size = {}
        if params.width or params.height:
            w, h = snap((params.width or params.height, params.height or params.width))
            size = {"width": w, "height": h}
        questions: list[str] = []
        metas: list[dict] = []

        def make(prompt: str, seed: int):
            img, meta = generate(ctx, "text2img", params.model_copy(update={"prompt": prompt, "seed": seed}), **size)
            metas.append(meta)
            return img

        def judge(img):
            if vision is not None and not questions:
                from tools.llm.evaluate import write_questions

                questions.extend(write_questions(backend, params.prompt, max_questions=params.max_questions))
            return evaluate_image(backend, vision, params.prompt, img, threshold=params.threshold, questions=questions or None, detector=checker)

        def refine(prompt: str) -> str:
            return refine_prompt(backend, prompt).value.prompt

        best, attempts = generate_with_retry(make, judge, prompt=params.prompt, seed=params.seed or 0,
                                             max_attempts=params.max_attempts, refine=refine)
        final = max(attempts, key=lambda a: a.report.score if a.report.score is not None else -1.0)
        if not final.report.checked:
            ctx.warn(final.report.note)
        elif not final.report.passed:
            ctx.warn(f"generate_checked: best score {final.report.score:.2f} after {len(attempts)} attempt(s) is below {params.threshold}")
        meta = {**metas[attempts.index(final)], "evaluation": final.report.model_dump(), "score": final.report.score,
                "attempts": [a.model_dump() for a in attempts], "chosen_seed": final.seed, "chosen_prompt": final.prompt}
        return {"image": Produced(best, meta)}


TOOLS = [RefinePrompt, PlanLayout, HiresRefine, PlanStory, StoryToVideo, Caption, EvaluateImage, GenerateChecked]
