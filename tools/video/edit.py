"""Editing videos and putting clips together.

``video_edit`` applies an image edit to a video in one of two ways, chosen by ``method``:

* ``frames`` (default): every frame goes through the image-to-image model with the *same* seed and
  strength. The original motion is kept exactly (each output frame comes from its input frame); the
  shared seed keeps the new content consistent from frame to frame.
* ``keyframe``: only the first frame is edited (image-to-image), then Stable Video Diffusion
  re-animates the clip from it with the original frame count and rate. Smoother, but the motion is
  the video model's, not the original's.

Both reuse the image tools' own generation code (``tools.diffusion.common.generate``).
"""

from __future__ import annotations

from typing import Literal

from PIL import Image
from pydantic import Field

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Tool, ToolContext, ToolParams
from tools.diffusion.common import PromptParams, generate, snap
from tools.errors import ToolFailure
from tools.media.av_io import Clip, read_video
from tools.video.common import save_clip
from tools.video.generate import ImageToVideo, animate

MAX_EDIT_FRAMES = 64


class VideoEdit(Tool):
    """Change what a video shows following a prompt (e.g. turn the car into a big blue truck).

    method=frames edits every frame with image-to-image and a shared seed (keeps the original motion);
    method=keyframe edits the first frame and re-animates it with image-to-video.
    """

    name = "video_edit"
    inputs = {"video": Input(Kind.VIDEO, description="the clip to change")}
    outputs = {"video": Kind.VIDEO}
    models = ("img2img", "image2video")
    cost = 16.0

    class Params(PromptParams):
        prompt: str = Field(min_length=1, description="what the video should show after the edit")
        method: Literal["frames", "keyframe"] = Field("frames", description="frames: every frame, shared seed; keyframe: first frame + re-animate")
        strength: float = Field(0.6, gt=0.0, le=1.0, description="how much each edited frame may change")

    def run(self, ctx: ToolContext, params: Params, *, video: ArtifactHandle) -> dict:
        clip = read_video(video.path, max_frames=MAX_EDIT_FRAMES)
        if round(params.steps * params.strength) < 1:
            raise ToolFailure(f"steps x strength = {params.steps * params.strength:.2f}: no denoising step would run; raise one of them")
        work = snap(clip.size)
        if work != clip.size:
            ctx.warn(f"{video.id} {clip.size[0]}x{clip.size[1]} edited at {work[0]}x{work[1]} (multiples of 8)")
        frames = [f.resize(work) if f.size != work else f for f in clip.frames]
        if params.method == "frames":
            edited = []
            for index, frame in enumerate(frames):
                out, _ = generate(ctx, "img2img", params, image=frame, strength=params.strength)
                edited.append(out)
                ctx.progress(index + 1, len(frames), f"frame {index + 1}/{len(frames)}")
        else:
            first, _ = generate(ctx, "img2img", params, image=frames[0], strength=params.strength)
            count = min(len(frames), 25)
            if count < len(frames):
                ctx.warn(f"keyframe method: SVD makes at most 25 frames; the edit has {count} of {len(frames)}")
            svd = ImageToVideo.Params(frames=max(2, count), fps=clip.fps, steps=params.steps, seed=params.seed, width=work[0], height=work[1])
            edited = animate(ctx, svd, first)
        ctx.warn(f"video_edit used method '{params.method}' on {len(frames)} frames of {video.id}")
        return {"video": save_clip(ctx, edited, clip.fps, method=params.method, source_video=video.id)}


def retime(clip: Clip, fps: float) -> list[Image.Image]:
    """The clip's frames at another rate, each output frame the one showing at that moment."""
    if abs(clip.fps - fps) < 1e-6:
        return list(clip.frames)
    count = max(1, round(clip.duration * fps))
    return [clip.frames[min(len(clip.frames) - 1, int(i * clip.fps / fps))] for i in range(count)]


def crossfade(a: list[Image.Image], b: list[Image.Image], overlap: int) -> list[Image.Image]:
    """``a`` then ``b`` with the last ``overlap`` frames of ``a`` blended linearly into the first of ``b``."""
    if overlap <= 0:
        return a + b
    blended = [Image.blend(a[len(a) - overlap + i], b[i], (i + 1) / (overlap + 1)) for i in range(overlap)]
    return a[: len(a) - overlap] + blended + b[overlap:]


class ConcatClips(Tool):
    """Join two to four clips into one video (multi-scene stories), optionally cross-fading between them.

    Clips are brought to the first clip's size and frame rate. Sound is not carried over: add it to the
    joined video with add_audio_to_video.
    """

    name = "concat_clips"
    inputs = {
        "first": Input(Kind.VIDEO),
        "second": Input(Kind.VIDEO),
        "third": Input(Kind.VIDEO, optional=True),
        "fourth": Input(Kind.VIDEO, optional=True),
    }
    outputs = {"video": Kind.VIDEO}
    cost = 1.0

    class Params(ToolParams):
        crossfade: float = Field(0.0, ge=0.0, le=5.0, description="seconds of cross-fade between clips; 0 cuts")
        fps: float | None = Field(None, gt=0.0, le=60.0, description="frame rate of the result; default: the first clip's")

    def run(
        self,
        ctx: ToolContext,
        params: Params,
        *,
        first: ArtifactHandle,
        second: ArtifactHandle,
        third: ArtifactHandle | None,
        fourth: ArtifactHandle | None,
    ) -> dict:
        handles = [h for h in (first, second, third, fourth) if h is not None]
        clips = [read_video(h.path) for h in handles]
        fps = params.fps or clips[0].fps
        size = clips[0].size
        frames: list[Image.Image] = []
        overlap = round(params.crossfade * fps)
        for handle, clip in zip(handles, clips, strict=True):
            part = [f if f.size == size else f.resize(size, Image.Resampling.LANCZOS) for f in retime(clip, fps)]
            if clip.size != size:
                ctx.warn(f"{handle.id} {clip.size[0]}x{clip.size[1]} resized to {size[0]}x{size[1]}")
            if frames and overlap >= min(len(frames), len(part)):
                raise ToolFailure(
                    f"a {params.crossfade} s cross-fade is {overlap} frames, but {handle.id} or the clip before it is only "
                    f"{min(len(frames), len(part))} frames long; use a shorter cross-fade"
                )
            frames = crossfade(frames, part, overlap if frames else 0)
        if any(h.artifact.meta.get("has_audio") for h in handles):
            ctx.warn("the clips' sound is not carried over; add it with add_audio_to_video")
        return {"video": save_clip(ctx, frames, fps, clips=[h.id for h in handles], crossfade=params.crossfade)}


TOOLS = [VideoEdit, ConcatClips]
