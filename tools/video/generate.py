"""Text-to-video (AnimateDiff on the profile's SD 1.5) and image-to-video (Stable Video Diffusion).

Both name roles (``text2video``, ``image2video``) that the active profile fills (see
``tools/media/profiles``); the pool loads them once. AnimateDiff shares the text encoder, VAE and
tokenizer of the text-to-image pipeline, so after an image the first video loads only the motion module.
"""

from __future__ import annotations

from pydantic import Field

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Tool, ToolContext, ToolParams
from tools.diffusion.common import PromptParams, snap
from tools.diffusion.long_prompt import encode_long_prompt
from tools.errors import ToolFailure
from tools.media import models
from tools.video.common import generator, save_clip, step_callback
from tools.words import MOVING

MAX_SIDE = 1024


class TextToVideo(Tool):
    """Generate a short video clip from a text prompt (AnimateDiff: SD 1.5 plus a motion module).

    Prompts longer than 77 CLIP tokens are encoded window by window. Frames default to 16 at 8 fps
    (two seconds); width and height default to the model's native size, rounded to multiples of 8.
    """

    name = "text_to_video"
    offered_for = MOVING
    outputs = {"video": Kind.VIDEO}
    models = ("text2video",)
    cost = 12.0

    class Params(PromptParams):
        frames: int = Field(16, ge=2, le=32, description="number of frames (AnimateDiff's window is 32 at most)")
        fps: float = Field(8.0, gt=0.0, le=60.0, description="playback frames per second")
        steps: int = Field(25, ge=1, le=200, description="denoising steps")
        width: int | None = Field(None, ge=8, le=MAX_SIDE, description="pixels; default: the model's native size")
        height: int | None = Field(None, ge=8, le=MAX_SIDE, description="pixels; default: the model's native size")

    def run(self, ctx: ToolContext, params: Params) -> dict:
        pipe = models.text2video_pipeline(ctx)
        native = pipe.unet.config.sample_size * pipe.vae_scale_factor
        width, height = snap((params.width or params.height or native, params.height or params.width or native))
        if (params.width and params.width != width) or (params.height and params.height != height):
            ctx.warn(f"size rounded to {width}x{height} (multiples of 8)")
        with models.run_lock(models.pool_of(ctx), "text2video"):
            embeds = encode_long_prompt(pipe, params.prompt, params.negative_prompt)
            result = pipe(
                **embeds.kwargs,
                num_frames=params.frames,
                width=width,
                height=height,
                num_inference_steps=params.steps,
                guidance_scale=params.guidance,
                generator=generator(params.seed),
                callback_on_step_end=step_callback(ctx, params.steps),
                output_type="pil",
            )
        if ctx.cancelled.is_set():
            raise ToolFailure("cancelled")
        frames = list(result.frames[0])
        untrained = models.pool_of(ctx).profile.untrained
        return {"video": save_clip(ctx, frames, params.fps, prompt_tokens=embeds.tokens, **({"untrained_weights": True} if untrained else {}))}


class ImageToVideo(Tool):
    """Animate a still image into a short clip (Stable Video Diffusion; no text prompt).

    ``motion`` is SVD's motion bucket (higher moves more). The output keeps the image's size rounded to
    multiples of 8 unless width/height are given (SVD was trained at 1024x576).
    """

    name = "image_to_video"
    offered_for = MOVING
    inputs = {"image": Input(Kind.IMAGE, description="the first frame")}
    outputs = {"video": Kind.VIDEO}
    models = ("image2video",)
    cost = 12.0

    class Params(ToolParams):
        frames: int = Field(14, ge=2, le=25, description="number of frames (SVD: 14, SVD-XT: 25)")
        fps: float = Field(7.0, gt=0.0, le=60.0, description="playback frames per second (also conditions the motion)")
        steps: int = Field(25, ge=1, le=200, description="denoising steps")
        motion: int = Field(127, ge=1, le=255, description="motion bucket: higher moves more")
        noise: float = Field(0.02, ge=0.0, le=1.0, description="noise added to the image: more lets it drift further")
        min_guidance: float = Field(1.0, ge=0.0, le=30.0)
        max_guidance: float = Field(3.0, ge=0.0, le=30.0)
        width: int | None = Field(None, ge=8, le=MAX_SIDE)
        height: int | None = Field(None, ge=8, le=MAX_SIDE)
        seed: int | None = Field(None, ge=0, description="same seed, same clip; recorded on the artifact")

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        source = image.image()
        frames = animate(ctx, params, source)
        return {"video": save_clip(ctx, frames, params.fps, source_image=image.id, **untrained_meta(ctx))}


def untrained_meta(ctx: ToolContext) -> dict:
    return {"untrained_weights": True} if models.pool_of(ctx).profile.untrained else {}


def animate(ctx: ToolContext, params: ImageToVideo.Params, source) -> list:
    """Run SVD from one image; shared by image_to_video and video_edit's key-frame method."""
    pipe = models.image2video_pipeline(ctx)
    width, height = snap((params.width or source.width, params.height or source.height))
    if source.size != (width, height):
        ctx.warn(f"image {source.width}x{source.height} resized to {width}x{height} (multiples of 8)")
        source = source.resize((width, height))
    with models.run_lock(models.pool_of(ctx), "image2video"):
        result = pipe(
            source,
            height=height,
            width=width,
            num_frames=params.frames,
            num_inference_steps=params.steps,
            min_guidance_scale=params.min_guidance,
            max_guidance_scale=params.max_guidance,
            fps=max(1, round(params.fps)),
            motion_bucket_id=params.motion,
            noise_aug_strength=params.noise,
            decode_chunk_size=min(params.frames, 8),
            generator=generator(params.seed),
            callback_on_step_end=step_callback(ctx, params.steps),
            output_type="pil",
        )
    if ctx.cancelled.is_set():
        raise ToolFailure("cancelled")
    return list(result.frames[0])


TOOLS = [TextToVideo, ImageToVideo]
