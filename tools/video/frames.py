"""Looking inside videos: single frames as images (for editing or as a next clip's start), and facts."""

from __future__ import annotations

import json

from pydantic import Field, model_validator

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Produced, Tool, ToolContext, ToolParams
from tools.errors import ToolFailure
from tools.media.av_io import probe, read_video


class ExtractFrames(Tool):
    """Take frames out of a video as images: the first, the last, and one chosen by index or time.

    Use the last frame as the start of the next clip (image_to_video) for a continuous multi-scene
    video, or edit a frame with the image tools.
    """

    name = "extract_frames"
    inputs = {"video": Input(Kind.VIDEO)}
    outputs = {"first": Kind.IMAGE, "last": Kind.IMAGE, "frame": Kind.IMAGE}
    cost = 0.5

    class Params(ToolParams):
        index: int | None = Field(None, description="frame number, from 0; negative counts from the end")
        time: float | None = Field(None, ge=0.0, description="seconds from the start (instead of index)")

        @model_validator(mode="after")
        def _one(self) -> "ExtractFrames.Params":
            if self.index is not None and self.time is not None:
                raise ValueError("give index or time, not both")
            return self

    def run(self, ctx: ToolContext, params: Params, *, video: ArtifactHandle) -> dict:
        clip = read_video(video.path)
        count = len(clip.frames)
        if params.time is not None:
            index = int(params.time * clip.fps)
            if index >= count:
                raise ToolFailure(f"{video.id} is {clip.duration:.2f} s long; there is no frame at {params.time} s")
        else:
            index = params.index if params.index is not None else count // 2
            if not -count <= index < count:
                raise ToolFailure(f"{video.id} has {count} frames (0..{count - 1}); there is no frame {index}")
            index %= count
        meta = {"source_video": video.id}
        return {
            "first": Produced(clip.frames[0], {**meta, "frame_index": 0}),
            "last": Produced(clip.frames[-1], {**meta, "frame_index": count - 1}),
            "frame": Produced(clip.frames[index], {**meta, "frame_index": index, "time": round(index / clip.fps, 4)}),
        }


class VideoInfo(Tool):
    """Describe a video file as JSON: container, duration, size, frame rate, frame count, audio streams."""

    name = "video_info"
    inputs = {"video": Input(Kind.VIDEO)}
    outputs = {"info": Kind.TEXT}
    cost = 0.1

    def run(self, ctx: ToolContext, params: ToolParams, *, video: ArtifactHandle) -> dict:
        info = probe(video.path)
        if not info.has_video:
            raise ToolFailure(f"{video.id} has no video frames (a zero-length or audio-only file)")
        return {"info": json.dumps(info.as_dict(), indent=2)}


TOOLS = [ExtractFrames, VideoInfo]
