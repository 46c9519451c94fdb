"""Sound from text: music (MusicGen through transformers), sound effects (AudioGen through audiocraft),
speech (hibari, a bundled English voice). Each writes a WAV with its sample rate and duration recorded.

Sampling in MusicGen and AudioGen draws from torch's global generator (neither accepts a
``torch.Generator``), so the seed is applied inside ``torch.random.fork_rng``: the run is reproducible
and the process's random state is left as it was.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from pydantic import Field

from tools.artifacts import Kind
from tools.base import Produced, Tool, ToolContext, ToolParams
from tools.errors import ConfigError, ToolFailure
from tools.media import models
from tools.media.av_io import write_wav
from tools.words import SOUNDING

MAX_SECONDS = 30.0


@contextmanager
def seeded(seed: int | None, device: Any) -> Iterator[None]:
    """Seed torch for one call without touching the process's random state."""
    import torch

    devices = [device] if getattr(device, "type", "cpu") == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed if seed is not None else 0)
        yield


class SoundParams(ToolParams):
    prompt: str = Field(min_length=1, description="what it should sound like")
    duration: float = Field(5.0, gt=0.0, le=MAX_SECONDS, description="seconds")
    guidance: float = Field(3.0, ge=0.0, le=20.0, description="classifier-free guidance: higher follows the prompt more")
    seed: int | None = Field(None, ge=0, description="same seed, same sound; recorded on the artifact")


def save_wav(ctx: ToolContext, samples: np.ndarray, rate: int, name: str, **meta: Any) -> Produced:
    dest = ctx.scratch / f"{name}.wav"
    recorded = write_wav(samples, rate, dest)
    if models.pool_of(ctx).profile.untrained if ctx.models is not None else False:
        recorded["untrained_weights"] = True
    return Produced(dest, {**recorded, **meta})


def make_music(ctx: ToolContext, params: SoundParams) -> tuple[np.ndarray, int]:
    model, tokenizer = models.musicgen(ctx)
    config = model.config.audio_encoder
    rate, frame_rate = int(config.sampling_rate), float(config.frame_rate)
    # the delay pattern spends one frame per extra codebook before every codebook has started
    tokens = math.ceil(params.duration * frame_rate) + model.decoder.num_codebooks
    inputs = tokenizer([params.prompt], return_tensors="pt", padding=True).to(model.device)
    with models.run_lock(models.pool_of(ctx), "music"), seeded(params.seed, model.device):
        audio = model.generate(**inputs, max_new_tokens=tokens, do_sample=True, guidance_scale=params.guidance or None)
    samples = audio[0].float().cpu().numpy()
    return samples[:, : round(params.duration * rate)], rate


def make_sound(ctx: ToolContext, params: SoundParams) -> tuple[np.ndarray, int]:
    model = models.audiogen(ctx)
    with models.run_lock(models.pool_of(ctx), "sound_effect"), seeded(params.seed, model.device):
        # audiocraft rounds the length down to whole codec frames: ask for one more, then trim
        model.set_generation_params(duration=params.duration + 1.0 / model.frame_rate, cfg_coef=params.guidance, use_sampling=True, top_k=250)
        wav = model.generate([params.prompt], progress=False)
    samples = wav[0].float().cpu().numpy()
    return samples[:, : round(params.duration * model.sample_rate)], int(model.sample_rate)


class Music(Tool):
    """Compose music from a description (MusicGen), e.g. 'calm lo-fi piano with soft drums'.

    Up to 30 seconds, mono; WAV with sample rate and duration recorded.
    """

    name = "music"
    offered_for = SOUNDING
    outputs = {"audio": Kind.AUDIO}
    models = ("music",)
    cost = 6.0
    Params = SoundParams

    def run(self, ctx: ToolContext, params: SoundParams) -> dict:
        samples, rate = make_music(ctx, params)
        return {"audio": save_wav(ctx, samples, rate, "music", generator="musicgen")}


class SoundEffect(Tool):
    """Make a sound effect or ambience from a description (AudioGen), e.g. 'a car engine revving on a road'.

    Needs audiocraft (./setup.sh installs it). Up to 30 seconds; WAV with sample rate and duration recorded.
    """

    name = "sound_effect"
    offered_for = SOUNDING
    outputs = {"audio": Kind.AUDIO}
    models = ("sound_effect",)
    cost = 6.0
    Params = SoundParams

    def run(self, ctx: ToolContext, params: SoundParams) -> dict:
        samples, rate = make_sound(ctx, params)
        return {"audio": save_wav(ctx, samples, rate, "sound", generator="audiogen")}


def hibari_voice(ctx: ToolContext, voice: str) -> Any:
    """A hibari synthesiser for a voice shipped inside the package (no download), loaded once per pool."""
    try:
        from hibari import Hibari
        from hibari.voices import VOICES
    except ImportError:
        raise ConfigError("speech needs hibari-tts (a bundled English voice): pip install hibari-tts (./setup.sh installs it)") from None
    bundled = sorted(name for name, spec in VOICES.items() if spec.get("bundled"))
    if voice not in bundled:
        raise ToolFailure(f"voice '{voice}' is not bundled with hibari-tts (it would need a download); bundled: {', '.join(bundled)}")
    load = lambda: Hibari(voice=voice, threads=1)  # noqa: E731
    return models.pool_of(ctx).get(f"speech:hibari:{voice}", load, size_bytes=8 << 20) if ctx.models is not None else load()


class Speech(Tool):
    """Read text aloud in English (hibari text-to-speech, a real voice that ships inside the package).

    ``speed`` 1.0 is natural pace (0.5 slow to 2.0 fast). 24 kHz mono WAV.
    """

    name = "speech"
    offered_for = SOUNDING
    outputs = {"audio": Kind.AUDIO}
    cost = 1.0

    class Params(ToolParams):
        text: str = Field(min_length=1, max_length=5000, description="what to say")
        voice: str = Field("heart", description="hibari voice (bundled: heart, American English)")
        speed: float = Field(1.0, ge=0.5, le=2.0)
        seed: int | None = Field(None, ge=0)

    def run(self, ctx: ToolContext, params: Params) -> dict:
        tts = hibari_voice(ctx, params.voice)
        samples = np.asarray(tts(params.text, speed=params.speed, seed=params.seed), dtype=np.float32)
        if samples.size == 0:
            raise ToolFailure("the text gave no speech (nothing pronounceable in it)")
        dest = ctx.scratch / "speech.wav"
        meta = write_wav(samples[None, :], int(tts.sample_rate), dest)
        return {"audio": Produced(dest, {**meta, "voice": params.voice, "generator": "hibari"})}


TOOLS = [Music, SoundEffect, Speech]
