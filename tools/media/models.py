"""Video and audio models by role, loaded through the model pool.

The roles (``text2video``, ``image2video``, ``music``, ``sound_effect``) sit in the same profile file as
the image roles (``tools/models/profiles/<name>.yaml``), resolved and guarded by the same code as the
image pipelines. Every loader goes through ``ModelPool.get``: loaded once per process, shared, evicted
with everything else; AnimateDiff is a ``from_pipe`` sibling of a text-to-image role's pipeline, so the
text encoder and VAE are not loaded twice.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from tools.base import ToolContext
from tools.errors import ConfigError, ToolFailure
from tools.models.diffusion import device_and_dtype, guarded_load, pipeline_key, resolve

UNTRAINED_MEDIA = (
    "model profile '{name}' uses tiny UNTRAINED video/audio models: videos are noise and sounds are "
    "noise. Set LLMGA_PROFILE=sd15 (see `llmga models list`) for real results."
)


def pool_of(ctx: ToolContext) -> Any:
    if ctx.models is None:
        raise ConfigError("this tool needs the model pool: run it through Runtime (or Executor(models=ModelPool(...)))")
    return ctx.models


def _notice(ctx: ToolContext, pool: Any) -> None:
    """Every step that generates with untrained models says so on itself (kept out of the pool's own
    notices, which the image tools show once per pool)."""
    if pool.profile.untrained:
        ctx.warn(UNTRAINED_MEDIA.format(name=pool.profile.name))


_import_lock = threading.Lock()


def diffusers_class(name: str) -> Any:
    """A diffusers class by name; imports are serialised because diffusers' lazy module is not thread-safe
    (two steps importing at once can see a half-initialised module and fail with ImportError)."""
    with _import_lock:
        import diffusers

        return getattr(diffusers, name)


def run_lock(pool: Any, role: str) -> threading.Lock:
    """Hold while calling a role's model: pipelines keep per-call state (schedulers, caches) on themselves.

    AnimateDiff shares its scheduler with the text-to-image pipeline it was made from, and the pool's
    lock follows a role's bases, so both take the same lock.
    """
    return pool.run_lock(role)


def text2video_pipeline(ctx: ToolContext, role: str = "text2video") -> Any:
    """AnimateDiff: the base role's SD 1.5 pipeline plus a motion adapter (``from_pipe``: shared modules)."""
    pool = pool_of(ctx)
    spec = pool.profile.role_of(role, "animatediff")
    _notice(ctx, pool)
    base = pool.pipeline(spec.base)

    def sibling() -> Any:
        device, dtype = device_and_dtype(pool.device)
        MotionAdapter = diffusers_class("MotionAdapter")
        ref = resolve(pool, spec.model)
        adapter = guarded_load(pool, role, spec, lambda: MotionAdapter.from_pretrained(ref, dtype=dtype, revision=spec.revision))
        pipe = diffusers_class("AnimateDiffPipeline").from_pipe(base, motion_adapter=adapter.to(device))
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    return pool.get(pipeline_key(pool.profile, role), sibling, parent=pipeline_key(pool.profile, spec.base))


def image2video_pipeline(ctx: ToolContext, role: str = "image2video") -> Any:
    """Stable Video Diffusion (image + motion conditioning, no text)."""
    pool = pool_of(ctx)
    spec = pool.profile.role_of(role, "svd")
    _notice(ctx, pool)

    def load() -> Any:
        StableVideoDiffusionPipeline = diffusers_class("StableVideoDiffusionPipeline")
        device, dtype = device_and_dtype(pool.device)
        ref = resolve(pool, spec.model)
        pipe = guarded_load(
            pool, role, spec, lambda: StableVideoDiffusionPipeline.from_pretrained(ref, dtype=dtype, revision=spec.revision, variant=spec.variant)
        )
        if device.type == "cuda" and pool.offload != "none":
            pipe.enable_model_cpu_offload(device=device)  # SVD-XT at 25 frames needs ~20 GB without it
        else:
            pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    return pool.get(pipeline_key(pool.profile, role), load)


def musicgen(ctx: ToolContext, role: str = "music") -> tuple[Any, Any]:
    """MusicGen through transformers: (model, tokenizer)."""
    pool = pool_of(ctx)
    spec = pool.profile.role_of(role, "musicgen")
    _notice(ctx, pool)

    def load() -> tuple[Any, Any]:
        from transformers import AutoTokenizer, MusicgenForConditionalGeneration

        device, dtype = device_and_dtype(pool.device)
        ref = resolve(pool, spec.model)
        model = guarded_load(pool, role, spec, lambda: MusicgenForConditionalGeneration.from_pretrained(ref, dtype=dtype, revision=spec.revision))
        tokenizer = guarded_load(pool, role, spec, lambda: AutoTokenizer.from_pretrained(ref, revision=spec.revision))
        return model.to(device).eval(), tokenizer

    return pool.get(pipeline_key(pool.profile, role), load)


def audiogen(ctx: ToolContext, role: str = "sound_effect") -> Any:
    """AudioGen through audiocraft (imported only here; its absence is one clear ConfigError)."""
    from tools.media.audiocraft_support import require_audiocraft

    pool = pool_of(ctx)
    spec = pool.profile.role_of(role, "audiogen")
    _notice(ctx, pool)
    require_audiocraft()

    def load() -> Any:
        import torch
        from audiocraft.models import AudioGen

        device, _ = device_and_dtype(pool.device)
        if spec.is_tiny:
            from tools.models.tiny.media import audiogen_architecture

            folder = Path(resolve(pool, spec.model))
            compression, lm = audiogen_architecture()
            compression.load_state_dict(torch.load(folder / "compression_state_dict.pt", map_location="cpu"))
            lm.load_state_dict(torch.load(folder / "lm_state_dict.pt", map_location="cpu"))
            return AudioGen(spec.model, compression.to(device), lm.to(device), max_duration=10)
        ref = resolve(pool, spec.model)
        return guarded_load(pool, role, spec, lambda: AudioGen.get_pretrained(ref, device=str(device)))

    try:
        return pool.get(pipeline_key(pool.profile, role), load)
    except (AssertionError, RuntimeError) as exc:  # audiocraft asserts on bad checkpoints
        raise ToolFailure(f"AudioGen model '{spec.model}' could not be loaded: {type(exc).__name__}: {exc}") from None
