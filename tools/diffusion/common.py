"""What every diffusion tool shares: reaching the pool, seeds as generators, sizes, progress."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from PIL import Image
from pydantic import Field

from tools.base import ToolContext, ToolParams
from tools.diffusion.long_prompt import encode_long_prompt
from tools.errors import ConfigError, ToolFailure

SIZE_STEP = 8
"""Stable Diffusion needs sides divisible by 8 (the VAE's downscale)."""


class PromptParams(ToolParams):
    """Parameters common to every prompt-driven generator."""

    prompt: str = Field(min_length=1, description="what to draw; longer than 77 CLIP tokens is fine")
    negative_prompt: str = Field("", description="what to avoid")
    steps: int = Field(30, ge=1, le=200, description="denoising steps")
    guidance: float = Field(7.5, ge=0.0, le=30.0, description="classifier-free guidance scale")
    seed: int | None = Field(None, ge=0, description="same seed, same image; recorded on the artifact")


def pool_of(ctx: ToolContext) -> Any:
    if ctx.models is None:
        raise ConfigError("this tool needs the model pool: run it through Runtime (or Executor(models=ModelPool(...)))")
    return ctx.models


def pipeline(ctx: ToolContext, role: str) -> Any:
    """The role's pipeline; the first use of an untrained profile warns on this step, once per pool."""
    pool = pool_of(ctx)
    pipe = pool.pipeline(role)
    for notice in pool.notices:
        if pool.notice_once(f"shown:{notice}", notice):
            ctx.warn(notice)
    return pipe


def generator(seed: int | None) -> torch.Generator:
    """A CPU generator: the same seed gives the same starting noise on any device."""
    gen = torch.Generator(device="cpu")
    return gen.manual_seed(seed if seed is not None else 0)


def snap(size: tuple[int, int]) -> tuple[int, int]:
    """Nearest size the model accepts (multiples of 8, at least 8)."""
    return tuple(max(SIZE_STEP, round(side / SIZE_STEP) * SIZE_STEP) for side in size)  # type: ignore[return-value]


def generate(ctx: ToolContext, role: str, params: PromptParams, **call: Any) -> tuple[Image.Image, dict[str, Any]]:
    """Run a role's pipeline with long-prompt embeddings, a seeded generator and progress reports.

    Returns the image and metadata worth recording (how many prompt tokens, in how many windows).
    """
    pool = pool_of(ctx)
    check_size(pool, call)
    pipe = pipeline(ctx, role)
    with pool.run_lock(role):
        embeds = encode_long_prompt(pipe, params.prompt, params.negative_prompt)
        result = pipe(
            **embeds.kwargs,
            **call,
            **progress_kwargs(ctx, pipe, params.steps),
            num_inference_steps=params.steps,
            guidance_scale=params.guidance,
            generator=generator(params.seed),
            output_type="pil",
        )
    if ctx.cancelled.is_set():
        raise ToolFailure("cancelled")
    meta = {"prompt_tokens": embeds.tokens, "prompt_windows": embeds.windows, "sampler": type(pipe.scheduler).__name__}
    if pool.profile.untrained:
        meta["untrained_weights"] = True
    return result.images[0], meta


def check_size(pool: Any, call: dict[str, Any]) -> None:
    """Refuse, before loading anything, an image bigger than the memory budget allows."""
    image = call.get("image")
    width, height = (image.size if isinstance(image, Image.Image) else (call.get("width"), call.get("height")))
    if width and height and width * height > pool.max_generate_pixels:
        limit = pool.max_generate_pixels
        raise ToolFailure(
            f"a {width}x{height} image is over the generation budget of {limit / 1e6:.1f} MP "
            f"(LLMGA_MAX_GENERATE_PIXELS): generate at most {int(limit**0.5)}x{int(limit**0.5)} and enlarge it with `upscale`"
        )


PREVIEWS = 10
"""Previews per generation: latents are cheap to show, but every preview is an image to send."""

LATENT_RGB = torch.tensor([[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350], [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]])
"""Stable Diffusion's 4 latent channels projected to RGB (the linear "latent preview" other diffusion UIs
use): a rough picture of the work in progress without running the VAE decoder."""


def latent_preview(latents: Any, side: int = 64) -> Image.Image | None:
    """A small RGB picture of the first latent in a batch, or None when the latents are not SD-shaped."""
    if not isinstance(latents, torch.Tensor) or latents.ndim != 4 or latents.shape[1] != LATENT_RGB.shape[0]:
        return None
    rgb = torch.einsum("chw,cr->hwr", latents[0].detach().float().cpu(), LATENT_RGB)
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    image = Image.fromarray(pixels, "RGB")
    scale = side / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.NEAREST)


def progress_kwargs(ctx: ToolContext, pipe: Any, total: int) -> dict[str, Any]:
    """Keyword arguments that report each denoising step (and stop at a cancel where the pipeline can).

    Current pipelines take ``callback_on_step_end``; older ones (GLIGEN) only ``callback``.
    """
    if "callback_on_step_end" in inspect.signature(pipe.__call__).parameters:

        every = max(1, total // PREVIEWS)

        def on_step(_pipe: Any, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            done = index + 1
            shown = done % every == 0 or done == total
            ctx.progress(done, total, preview=latent_preview(tensors.get("latents")) if shown else None)
            if ctx.cancelled.is_set():
                _pipe._interrupt = True
            return tensors

        return {"callback_on_step_end": on_step}

    def legacy(index: int, _timestep: Any, _latents: Any) -> None:
        ctx.progress(index + 1, total)

    return {"callback": legacy, "callback_steps": 1}


def untrained_meta(ctx: ToolContext) -> dict[str, Any]:
    """``{"untrained_weights": True}`` when the active profile makes noise, so the artifact says so."""
    return {"untrained_weights": True} if pool_of(ctx).profile.untrained else {}
