"""Sound on video: mux an audio track onto a clip, and make fitting sound for a clip.

``video_to_audio`` does not look at the pixels: it reads what the video *is* from its lineage (the
prompt recorded on the video or the image or video it was made from) and generates sound for that
text. It says so in a warning on the step, and takes ``description`` when there is no recorded prompt
(or to override it, e.g. with a captioner's output).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tools.artifacts import ArtifactHandle, Kind
from tools.audio.generate import MAX_SECONDS, SoundParams, make_music, make_sound, save_wav
from tools.base import Input, Produced, Tool, ToolContext, ToolParams
from tools.errors import ToolFailure
from tools.media.av_io import fit_audio, read_audio, read_video, video_meta, write_mp4


class AddAudioToVideo(Tool):
    """Put an audio track on a video; the audio is cut to the video's length, or looped/padded when shorter.

    An existing sound track on the video is replaced. The result is an MP4 (H.264 + AAC).
    """

    name = "add_audio_to_video"
    inputs = {"video": Input(Kind.VIDEO), "audio": Input(Kind.AUDIO)}
    outputs = {"video": Kind.VIDEO}
    cost = 0.5

    class Params(ToolParams):
        fit: Literal["loop", "pad"] = Field("loop", description="when the audio is shorter: repeat it, or end in silence")
        volume: float = Field(1.0, ge=0.0, le=4.0, description="gain applied to the audio")

    def run(self, ctx: ToolContext, params: Params, *, video: ArtifactHandle, audio: ArtifactHandle) -> dict:
        clip = read_video(video.path)
        samples, rate = read_audio(audio.path)
        fitted, note = fit_audio(samples * params.volume, rate, clip.duration, params.fit)
        if note:
            ctx.warn(f"{note} ({audio.id} on {video.id})")
        if video.artifact.meta.get("has_audio"):
            ctx.warn(f"{video.id} already had sound; it is replaced by {audio.id}")
        dest = ctx.scratch / "with-sound.mp4"
        info = write_mp4(clip.frames, clip.fps, dest, audio=(fitted, rate))
        if not info.audio:
            raise ToolFailure("the audio track did not make it into the MP4")
        return {"video": Produced(dest, {**video_meta(info), "audio_fit": note or "exact"})}


class VideoToAudio(Tool):
    """Make sound that fits a video: sound effects (or music) for what it shows, as long as the video.

    What the video shows is taken from the prompt in its lineage (not from its pixels), or from
    ``description``. Mux the result onto the video with add_audio_to_video.
    """

    name = "video_to_audio"
    inputs = {"video": Input(Kind.VIDEO, description="the clip to make sound for")}
    outputs = {"audio": Kind.AUDIO}
    models = ("sound_effect", "music")
    cost = 6.0

    class Params(ToolParams):
        description: str | None = Field(None, description="what the video shows; default: the prompt in its lineage")
        style: Literal["sound", "music"] = Field("sound", description="sound effects (AudioGen) or a score (MusicGen)")
        duration: float | None = Field(None, gt=0.0, le=MAX_SECONDS, description="seconds; default: the video's length")
        guidance: float = Field(3.0, ge=0.0, le=20.0)
        seed: int | None = Field(None, ge=0)

    def run(self, ctx: ToolContext, params: Params, *, video: ArtifactHandle) -> dict:
        clip = read_video(video.path)
        if params.description:
            subject, source = params.description, "the `description` parameter"
        elif found := video.recorded_prompt():
            subject, source = found[0], f"the prompt recorded on {found[1]}"
        else:
            raise ToolFailure(
                f"{video.id} has no prompt in its lineage (made by '{video.artifact.tool}'); give `description` "
                "saying what it shows"
            )
        prompt = f"the sound of {subject}" if params.style == "sound" else f"film score for a scene of {subject}"
        ctx.warn(f"video_to_audio: {video.id} described from {source} (its pixels were not looked at): '{prompt}'")
        duration = min(params.duration or clip.duration, MAX_SECONDS)
        sound = SoundParams(prompt=prompt, duration=duration, guidance=params.guidance, seed=params.seed)
        samples, rate = make_sound(ctx, sound) if params.style == "sound" else make_music(ctx, sound)
        return {"audio": save_wav(ctx, samples, rate, "video-sound", prompt=prompt, description_source=source, for_video=video.id)}


TOOLS = [AddAudioToVideo, VideoToAudio]
