"""Reading and writing video and audio files through PyAV, which bundles its own ffmpeg libraries.

Everything a video or audio tool touches on disk goes through here: MP4 (H.264 + AAC) out, any
container ffmpeg can demux in, WAV (16-bit PCM) for audio artifacts. The number of frames and
samples read is capped, so a long or hostile file fails with a message instead of filling memory.
"""

from __future__ import annotations

import wave
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tools.errors import ConfigError, ToolFailure

MAX_FRAMES = 2_000
"""Frames read from one video at most (80 s at 25 fps): tools work on clips, not films."""
MAX_AUDIO_SECONDS = 600.0
CONTAINERS = "MP4, MOV, MKV, WebM, AVI or GIF"
AV_MISSING = (
    "video/audio tools need PyAV (the `av` package, which bundles ffmpeg), and it is not installed: "
    "run `pip install av` (./setup.sh installs it)"
)


def require_av() -> Any:
    """The ``av`` module, or one ConfigError saying how to get it."""
    try:
        import av
    except ImportError:
        raise ConfigError(AV_MISSING) from None
    return av


@dataclass(frozen=True)
class AudioStreamInfo:
    codec: str
    sample_rate: int
    channels: int
    duration: float


@dataclass(frozen=True)
class MediaInfo:
    """What a video file holds, as ffprobe would say it."""

    container: str
    duration: float
    width: int = 0
    height: int = 0
    fps: float = 0.0
    frames: int = 0
    video_codec: str = ""
    audio: list[AudioStreamInfo] = field(default_factory=list)

    @property
    def has_video(self) -> bool:
        return self.frames > 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _open(path: Path, what: str) -> Any:
    av = require_av()
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise ToolFailure(f"{path.name} is not a {what} ffmpeg can read ({type(exc).__name__}: {exc}); use {CONTAINERS}") from None


def probe(path: Path) -> MediaInfo:
    """Streams, duration, size, frame rate and frame count (decoded, so the count is exact)."""
    av = require_av()
    with _open(path, "media file") as container:
        audio = [
            AudioStreamInfo(
                codec=s.codec_context.name,
                sample_rate=int(s.codec_context.sample_rate or 0),
                channels=int(s.codec_context.channels or 0),
                duration=float(s.duration * s.time_base) if s.duration is not None and s.time_base else 0.0,
            )
            for s in container.streams.audio
        ]
        container_duration = float(container.duration) / av.time_base if container.duration else 0.0
        if not container.streams.video:
            return MediaInfo(container.format.name, container_duration, audio=audio)
        stream = container.streams.video[0]
        frames = 0
        try:
            for _ in container.decode(stream):
                frames += 1
        except av.error.FFmpegError as exc:
            raise ToolFailure(f"{path.name}: the video stream is damaged after {frames} frames ({exc})") from None
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        return MediaInfo(
            container=container.format.name,
            duration=round(frames / fps, 4) if fps and frames else container_duration,
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=round(fps, 4),
            frames=frames,
            video_codec=stream.codec_context.name,
            audio=audio,
        )


@dataclass
class Clip:
    """Decoded frames of a video and the rate they play at."""

    frames: list[Image.Image]
    fps: float

    @property
    def duration(self) -> float:
        return len(self.frames) / self.fps

    @property
    def size(self) -> tuple[int, int]:
        return self.frames[0].size


def read_video(path: Path, max_frames: int = MAX_FRAMES) -> Clip:
    """Every frame as RGB; a file with no video stream or no frames is a ToolFailure that says so."""
    av = require_av()
    with _open(path, "video") as container:
        if not container.streams.video:
            raise ToolFailure(f"{path.name} has no video stream (streams: {[s.type for s in container.streams]}); use {CONTAINERS}")
        stream = container.streams.video[0]
        frames: list[Image.Image] = []
        try:
            for frame in container.decode(stream):
                if len(frames) >= max_frames:
                    raise ToolFailure(f"{path.name} has more than {max_frames} frames; cut it shorter first")
                frames.append(frame.to_image().convert("RGB"))
        except av.error.FFmpegError as exc:
            raise ToolFailure(f"{path.name}: the video stream is damaged after {len(frames)} frames ({exc})") from None
        fps = float(stream.average_rate or stream.guessed_rate or 0)
    if not frames:
        raise ToolFailure(f"{path.name} is a zero-length video (no frames): nothing to work on")
    if fps <= 0:
        raise ToolFailure(f"{path.name} does not say its frame rate; re-encode it with one")
    return Clip(frames, fps)


def even_size(size: tuple[int, int]) -> tuple[int, int]:
    """H.264 in yuv420p needs even sides."""
    return (size[0] + size[0] % 2, size[1] + size[1] % 2)


def write_mp4(
    frames: list[Image.Image],
    fps: float,
    dest: Path,
    audio: tuple[np.ndarray, int] | None = None,
) -> MediaInfo:
    """Encode frames (H.264, yuv420p) and optionally an audio track (AAC) into an MP4.

    Frames of another size than the first are resized to it; odd sides are rounded up to even.
    ``audio`` is ``(samples [channels, n] float in [-1, 1], sample_rate)``. Returns the file's probe.
    """
    av = require_av()
    if not frames:
        raise ToolFailure("no frames to write: a video needs at least one")
    size = even_size(frames[0].size)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(dest), mode="w", format="mp4") as container:
        video = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=rate)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"crf": "18", "preset": "veryfast"} if video.codec_context.name == "libx264" else {}
        audio_stream = None
        if audio is not None:
            samples, sample_rate = audio
            layout = "stereo" if samples.shape[0] == 2 else "mono"
            audio_stream = container.add_stream("aac", rate=int(sample_rate), layout=layout)
        for image in frames:
            image = image.convert("RGB")
            if image.size != size:
                image = image.resize(size, Image.Resampling.LANCZOS)
            for packet in video.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio_stream is not None:
            _encode_audio(av, container, audio_stream, *audio)
    return probe(dest)


def _encode_audio(av: Any, container: Any, stream: Any, samples: np.ndarray, sample_rate: int) -> None:
    planar = np.ascontiguousarray(np.clip(samples, -1.0, 1.0).astype(np.float32))
    layout = "stereo" if planar.shape[0] == 2 else "mono"
    chunk = 1024 * 8
    for start in range(0, planar.shape[1], chunk):
        frame = av.AudioFrame.from_ndarray(planar[:, start : start + chunk], format="fltp", layout=layout)
        frame.sample_rate = sample_rate
        frame.pts = start
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def read_audio(path: Path, max_seconds: float = MAX_AUDIO_SECONDS) -> tuple[np.ndarray, int]:
    """Samples ``[channels, n]`` float32 and the sample rate, from WAV or any audio ffmpeg reads."""
    av = require_av()
    with _open(path, "audio file") as container:
        if not container.streams.audio:
            raise ToolFailure(f"{path.name} has no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate)
        channels = min(int(stream.codec_context.channels or 1), 2)
        resampler = av.AudioResampler(format="fltp", layout="stereo" if channels == 2 else "mono", rate=rate)
        parts: list[np.ndarray] = []
        total = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray())
                    total += parts[-1].shape[1]
                if total > max_seconds * rate:
                    raise ToolFailure(f"{path.name} is longer than {max_seconds:.0f} s; cut it shorter first")
            for out in resampler.resample(None):
                parts.append(out.to_ndarray())
        except av.error.FFmpegError as exc:
            raise ToolFailure(f"{path.name}: the audio stream is damaged ({exc})") from None
    if not parts or sum(p.shape[1] for p in parts) == 0:
        raise ToolFailure(f"{path.name} holds no audio samples (zero length)")
    return np.concatenate(parts, axis=1).astype(np.float32), rate


def write_wav(samples: np.ndarray, sample_rate: int, dest: Path) -> dict[str, Any]:
    """16-bit PCM WAV; returns the metadata an audio artifact records (rate, channels, duration, peak)."""
    data = np.atleast_2d(np.asarray(samples, dtype=np.float32))
    if data.shape[1] == 0:
        raise ToolFailure("no audio samples to write")
    if not np.isfinite(data).all():
        raise ToolFailure("the generated audio holds NaN or infinite values")
    pcm = (np.clip(data, -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(data.shape[0])
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.T.tobytes())
    return audio_meta(data, sample_rate)


def audio_meta(samples: np.ndarray, sample_rate: int) -> dict[str, Any]:
    return {
        "sample_rate": int(sample_rate),
        "channels": int(samples.shape[0]),
        "duration": round(samples.shape[1] / sample_rate, 4),
        "peak": round(float(np.abs(samples).max()), 4),
    }


def video_meta(info: MediaInfo) -> dict[str, Any]:
    """The metadata a video artifact records."""
    meta: dict[str, Any] = {
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "frames": info.frames,
        "duration": info.duration,
        "has_audio": bool(info.audio),
    }
    if info.audio:
        meta["audio_sample_rate"] = info.audio[0].sample_rate
    return meta


def fit_audio(samples: np.ndarray, sample_rate: int, seconds: float, mode: str) -> tuple[np.ndarray, str]:
    """Make audio exactly ``seconds`` long: trim a longer one; loop or pad a shorter one with silence.

    Returns the samples and a sentence saying what was done (empty when nothing was needed).
    """
    want = max(1, round(seconds * sample_rate))
    have = samples.shape[1]
    if have == want:
        return samples, ""
    if have > want:
        return samples[:, :want], f"audio trimmed from {have / sample_rate:.2f} s to the video's {seconds:.2f} s"
    if mode == "loop":
        reps = -(-want // have)
        return np.tile(samples, (1, reps))[:, :want], f"audio of {have / sample_rate:.2f} s looped to the video's {seconds:.2f} s"
    padded = np.zeros((samples.shape[0], want), dtype=samples.dtype)
    padded[:, :have] = samples
    return padded, f"audio of {have / sample_rate:.2f} s padded with silence to the video's {seconds:.2f} s"
