"""Video and audio models by role, loaded through the model pool.

The image profiles (``tools/models/profiles``) validate their roles against a closed list of diffusers
tasks, so the video/audio roles of a profile live beside them in ``tools/media/profiles/<name>.yaml``
(same profile name, same ``tiny:`` / hub id / local folder references). ``LLMGA_MEDIA_PROFILE`` may
point at another such file. Every loader goes through ``ModelPool.get``: loaded once per process,
shared, evicted with everything else; AnimateDiff is a ``from_pipe`` sibling of the profile's
text-to-image pipeline, so the text encoder and VAE are not loaded twice.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tools.base import ToolContext
from tools.errors import ConfigError, ToolFailure
from tools.models.profile import TINY_PREFIX

MEDIA_PROFILE_ENV = "LLMGA_MEDIA_PROFILE"
Family = Literal["animatediff", "svd", "musicgen", "audiogen"]
UNTRAINED_MEDIA = (
    "model profile '{name}' uses tiny UNTRAINED video/audio models: videos are noise and sounds are "
    "noise. Set LLMGA_PROFILE=sd15 (see tools/media/profiles) for real results."
)


class MediaRole(BaseModel):
    """One video/audio role: which model family and which weights."""

    model_config = ConfigDict(extra="forbid")
    family: Family
    model: str = Field(description="hub id, local folder, or tiny:<name>")
    base: str | None = Field(None, description="image role whose pipeline AnimateDiff shares modules with")
    base_model: str | None = Field(None, description="a whole SD 1.5 pipeline to put the motion adapter on")
    revision: str | None = None

    @model_validator(mode="after")
    def _base(self) -> MediaRole:
        if self.family == "animatediff" and (self.base is None) == (self.base_model is None):
            raise ValueError("an animatediff role needs exactly one of `base` (an image role) or `base_model`")
        return self


class MediaProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    profile: str
    roles: dict[str, MediaRole]

    def role(self, role: str) -> MediaRole:
        try:
            return self.roles[role]
        except KeyError:
            raise ConfigError(f"profile '{self.profile}' has no video/audio model for role '{role}'; it has: {', '.join(sorted(self.roles))}") from None


@cache
def _load_media_profile(source: str) -> MediaProfile:
    if source.endswith((".yaml", ".yml")):
        path = Path(source).expanduser()
        if not path.is_file():
            raise ConfigError(f"{MEDIA_PROFILE_ENV}={source}: no such file")
        text = path.read_text()
    else:
        file = resources.files("tools.media").joinpath("profiles", f"{source}.yaml")
        if not file.is_file():
            known = sorted(p.name.removesuffix(".yaml") for p in resources.files("tools.media").joinpath("profiles").iterdir() if p.name.endswith(".yaml"))
            raise ConfigError(
                f"model profile '{source}' has no video/audio roles; known: {', '.join(known)}. "
                f"Add tools/media/profiles/{source}.yaml or point {MEDIA_PROFILE_ENV} at such a file."
            )
        text = file.read_text()
    try:
        return MediaProfile.model_validate(yaml.safe_load(text))
    except (ValidationError, yaml.YAMLError) as exc:
        raise ConfigError(f"video/audio profile {source} is invalid: {exc}") from None


def media_profile(pool: Any) -> MediaProfile:
    return _load_media_profile(os.environ.get(MEDIA_PROFILE_ENV) or pool.profile.name)


def pool_of(ctx: ToolContext) -> Any:
    if ctx.models is None:
        raise ConfigError("this tool needs the model pool: run it through Runtime (or Executor(models=ModelPool(...)))")
    return ctx.models


def _resolve(pool: Any, model: str) -> str:
    if model.startswith(TINY_PREFIX):
        from tools.media.tiny import tiny_media_dir
        from tools.models.diffusion import default_cache_dir

        return str(tiny_media_dir(model.removeprefix(TINY_PREFIX), pool.cache_dir or default_cache_dir()))
    local = Path(model).expanduser()
    if local.is_dir():
        return str(local)
    if model.startswith(("/", "./", "../", "~")):
        raise ConfigError(f"model folder {model} does not exist")
    return model


def _guard(pool: Any, role: str, model: str, make: Any) -> Any:
    """Turn 'not downloaded / offline' into the one message the image models give too."""
    from tools.models.diffusion import missing_weights

    try:
        return make()
    except ConfigError:
        raise
    except (OSError, ValueError) as exc:
        raise missing_weights(pool.profile, role, model, exc) from None


def _notice(ctx: ToolContext, pool: Any) -> None:
    """Every step that generates with untrained models says so on itself (kept out of the pool's own
    notices, which the image tools show once per pool)."""
    if pool.profile.untrained:
        ctx.warn(UNTRAINED_MEDIA.format(name=pool.profile.name))


def media_key(pool: Any, role: str) -> str:
    spec = media_profile(pool).role(role)
    parts = [spec.base_model or "", spec.model, spec.revision or ""]
    return f"media:{spec.family}:" + "+".join(p for p in parts if p)


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_import_lock = threading.Lock()


def diffusers_class(name: str) -> Any:
    """A diffusers class by name; imports are serialised because diffusers' lazy module is not thread-safe
    (two steps importing at once can see a half-initialised module and fail with ImportError)."""
    with _import_lock:
        import diffusers

        return getattr(diffusers, name)


def run_lock(pool: Any, role: str) -> threading.Lock:
    """Hold while calling a role's model: pipelines keep per-call state (schedulers, caches) on themselves.

    AnimateDiff shares its scheduler with the text-to-image pipeline it was made from, so it takes
    that family's lock from the pool instead of its own.
    """
    spec = media_profile(pool).role(role)
    if spec.base is not None:
        return pool.run_lock(spec.base)
    key = f"{id(pool)}:{media_key(pool, role)}"
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _device_dtype(pool: Any) -> tuple[Any, Any]:
    from tools.models.diffusion import device_and_dtype

    return device_and_dtype(pool.device)


def text2video_pipeline(ctx: ToolContext, role: str = "text2video") -> Any:
    """AnimateDiff: the profile's SD 1.5 pipeline plus a motion adapter (``from_pipe``: shared modules)."""
    pool = pool_of(ctx)
    spec = media_profile(pool).role(role)
    _notice(ctx, pool)
    device, dtype = _device_dtype(pool)

    def adapter() -> Any:
        MotionAdapter = diffusers_class("MotionAdapter")
        ref = _resolve(pool, spec.model)
        return _guard(pool, role, spec.model, lambda: MotionAdapter.from_pretrained(ref, dtype=dtype, revision=spec.revision))

    if spec.base is not None:
        from tools.models.diffusion import pipeline_key

        base = pool.pipeline(spec.base)

        def sibling() -> Any:
            pipe = diffusers_class("AnimateDiffPipeline").from_pipe(base, motion_adapter=adapter().to(device))
            pipe.to(device)
            pipe.set_progress_bar_config(disable=True)
            return pipe

        return pool.get(media_key(pool, role), sibling, parent=pipeline_key(pool.profile, spec.base))

    def whole() -> Any:
        ref = _resolve(pool, spec.base_model or "")
        pipeline_class = diffusers_class("AnimateDiffPipeline")
        pipe = _guard(pool, role, spec.base_model or "", lambda: pipeline_class.from_pretrained(ref, motion_adapter=adapter(), dtype=dtype))
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    return pool.get(media_key(pool, role), whole)


def image2video_pipeline(ctx: ToolContext, role: str = "image2video") -> Any:
    """Stable Video Diffusion (image + motion conditioning, no text)."""
    pool = pool_of(ctx)
    spec = media_profile(pool).role(role)
    _notice(ctx, pool)

    def load() -> Any:
        StableVideoDiffusionPipeline = diffusers_class("StableVideoDiffusionPipeline")
        device, dtype = _device_dtype(pool)
        ref = _resolve(pool, spec.model)
        variant = {"variant": "fp16"} if dtype.is_floating_point and dtype.itemsize == 2 and not spec.model.startswith(TINY_PREFIX) else {}
        pipe = _guard(pool, role, spec.model, lambda: StableVideoDiffusionPipeline.from_pretrained(ref, dtype=dtype, revision=spec.revision, **variant))
        if device.type == "cuda" and pool.offload != "none":
            pipe.enable_model_cpu_offload(device=device)  # SVD-XT at 25 frames needs ~20 GB without it
        else:
            pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    return pool.get(media_key(pool, role), load)


def musicgen(ctx: ToolContext, role: str = "music") -> tuple[Any, Any]:
    """MusicGen through transformers: (model, tokenizer)."""
    pool = pool_of(ctx)
    spec = media_profile(pool).role(role)
    _notice(ctx, pool)

    def load() -> tuple[Any, Any]:
        from transformers import AutoTokenizer, MusicgenForConditionalGeneration

        device, dtype = _device_dtype(pool)
        ref = _resolve(pool, spec.model)
        model = _guard(pool, role, spec.model, lambda: MusicgenForConditionalGeneration.from_pretrained(ref, dtype=dtype, revision=spec.revision))
        tokenizer = _guard(pool, role, spec.model, lambda: AutoTokenizer.from_pretrained(ref, revision=spec.revision))
        return model.to(device).eval(), tokenizer

    return pool.get(media_key(pool, role), load)


def audiogen(ctx: ToolContext, role: str = "sound_effect") -> Any:
    """AudioGen through audiocraft (imported only here; its absence is one clear ConfigError)."""
    from tools.media.audiocraft_support import require_audiocraft

    pool = pool_of(ctx)
    spec = media_profile(pool).role(role)
    _notice(ctx, pool)
    require_audiocraft()

    def load() -> Any:
        import torch
        from audiocraft.models import AudioGen

        device, _ = _device_dtype(pool)
        if spec.model.startswith(TINY_PREFIX):
            from tools.media.tiny import audiogen_architecture

            folder = Path(_resolve(pool, spec.model))
            compression, lm = audiogen_architecture()
            compression.load_state_dict(torch.load(folder / "compression_state_dict.pt", map_location="cpu"))
            lm.load_state_dict(torch.load(folder / "lm_state_dict.pt", map_location="cpu"))
            return AudioGen(spec.model, compression.to(device), lm.to(device), max_duration=10)
        ref = _resolve(pool, spec.model)
        return _guard(pool, role, spec.model, lambda: AudioGen.get_pretrained(ref, device=str(device)))

    try:
        return pool.get(media_key(pool, role), load)
    except (AssertionError, RuntimeError) as exc:  # audiocraft asserts on bad checkpoints
        raise ToolFailure(f"AudioGen model '{spec.model}' could not be loaded: {type(exc).__name__}: {exc}") from None
