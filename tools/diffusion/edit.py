"""Editing an image by instruction, two ways.

``instruct_pix2pix`` follows a written instruction ("make the car a big blue truck") with the
InstructPix2Pix model, which sees the source image at every step.

``inversion`` is LLMGA's route: describe the image as it is (``source``) and as it should be
(``target``), and move it from one to the other. It runs LEDITS++ (diffusers'
``LEditsPPPipelineStableDiffusion``) on the text-to-image weights: an edit-friendly DDPM inversion
recovers the noise that exactly reproduces the image, then the re-generation is steered towards
the target description and away from the source one, each only where its own cross-attention
lands (LEDITS++'s implicit masks), so the rest of the picture stays as it was. The source
description defaults to the prompt recorded in the image's lineage.

Both keep the input's size: the model works at the nearest size it accepts and the result is
brought back to the original.
"""

from __future__ import annotations

from typing import Any, Literal

from PIL import Image
from pydantic import Field, model_validator

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Produced, Tool, ToolContext, ToolParams
from tools.diffusion.common import PromptParams, generate, generator, pipeline, pool_of, progress_kwargs, snap, untrained_meta
from tools.errors import ToolFailure

INVERSION_MULTIPLE = 32
"""LEDITS++ inverts only images whose sides are multiples of 32."""


def snap_to(size: tuple[int, int], multiple: int) -> tuple[int, int]:
    return tuple(max(multiple, round(side / multiple) * multiple) for side in size)  # type: ignore[return-value]


def attention_masks_possible(unet: Any) -> bool:
    """Whether LEDITS++ can mask each concept by its cross-attention maps on this UNet.

    It keeps only maps at a quarter of the latent size or smaller, which a UNet with fewer than
    three resolution levels (the tiny test UNet) never makes; there the edit is confined by the
    guidance-quantile mask alone (LEDITS++'s ``use_intersect_mask=False``).
    """
    return len(unet.config.down_block_types) >= 3


class Edit(Tool):
    """Edit an image by instruction, keeping what the instruction does not touch.

    ``method='instruct_pix2pix'`` follows ``instruction`` ("turn the car into a big blue truck").
    ``method='inversion'`` (LEDITS++) moves the image from its ``source`` description (default: the
    prompt in its lineage) to the ``target`` description ("a big blue truck on a road").
    The output has the input's size.
    """

    name = "edit"
    restyles = True
    inputs = {"image": Input(Kind.IMAGE, description="the picture to edit")}
    outputs = {"image": Kind.IMAGE}
    models = ("instruct_pix2pix", "ledits")
    cost = 5.0

    class Params(ToolParams):
        method: Literal["instruct_pix2pix", "inversion"] = Field("instruct_pix2pix", description="how to edit")
        instruction: str | None = Field(None, min_length=1, description="instruct_pix2pix: what to change, as an instruction")
        target: str | None = Field(None, min_length=1, description="inversion: the image as it should be")
        source: str | None = Field(None, min_length=1, description="inversion: the image as it is; default: its recorded prompt")
        negative_prompt: str = Field("", description="what to avoid")
        steps: int = Field(30, ge=1, le=200, description="denoising steps")
        guidance: float = Field(7.5, ge=0.0, le=30.0, description="instruct_pix2pix: how strongly to follow the instruction")
        image_guidance: float = Field(1.5, ge=0.0, le=10.0, description="instruct_pix2pix: how closely to keep the source image")
        edit_guidance: float = Field(7.0, ge=0.0, le=30.0, description="inversion: how strongly to move towards the target")
        edit_threshold: float = Field(0.9, ge=0.0, le=1.0, description="inversion: higher confines the edit to a smaller area")
        skip: float = Field(0.15, ge=0.0, le=0.9, description="inversion: fraction of the noisiest steps skipped (more keeps more)")
        seed: int | None = Field(None, ge=0, description="same seed, same image; recorded on the artifact")

        @model_validator(mode="after")
        def _what_to_do(self) -> Edit.Params:
            if self.method == "instruct_pix2pix" and not self.instruction:
                raise ValueError("method 'instruct_pix2pix' needs `instruction`")
            if self.method == "inversion" and not self.target:
                raise ValueError("method 'inversion' needs `target`, a description of the edited image")
            return self

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        picture = image.image()
        if params.method == "instruct_pix2pix":
            out, meta = self._pix2pix(ctx, params, picture)
        else:
            out, meta = self._inversion(ctx, params, image, picture)
        if out.size != picture.size:
            out = out.resize(picture.size, Image.Resampling.LANCZOS)
        meta["method"] = params.method
        return {"image": Produced(out, meta)}

    def _pix2pix(self, ctx: ToolContext, params: Params, picture: Image.Image) -> tuple[Image.Image, dict[str, Any]]:
        work = snap(picture.size)
        prompt = PromptParams(
            prompt=params.instruction, negative_prompt=params.negative_prompt, steps=params.steps, guidance=params.guidance, seed=params.seed
        )
        source = picture.resize(work, Image.Resampling.LANCZOS) if work != picture.size else picture
        out, meta = generate(ctx, "instruct_pix2pix", prompt, image=source, image_guidance_scale=params.image_guidance)
        meta["used_models"] = pool_of(ctx).model_ids(("instruct_pix2pix",))
        return out, meta

    def _inversion(self, ctx: ToolContext, params: Params, image: ArtifactHandle, picture: Image.Image) -> tuple[Image.Image, dict[str, Any]]:
        if params.source:
            source, origin = params.source, "the `source` parameter"
        elif found := image.recorded_prompt():
            source, origin = found[0], f"the prompt recorded on {found[1]}"
        else:
            source, origin = "", "none (no prompt in the lineage): the edit only adds the target"
            ctx.warn(f"edit: {image.id} has no recorded prompt; give `source` to also steer away from what it shows")
        pool = pool_of(ctx)
        pipe = pipeline(ctx, "ledits")
        self._warn_truncation(ctx, pipe, {"target": params.target, "source": source})
        work = snap_to(picture.size, INVERSION_MULTIPLE)
        if work != picture.size:
            ctx.warn(f"{image.id} {picture.width}x{picture.height} inverted at {work[0]}x{work[1]} (LEDITS++ needs multiples of 32)")
        concepts = [params.target] + ([source] if source else [])
        attention_masks = attention_masks_possible(pipe.unet)
        with pool.run_lock("ledits"):
            # LEDITS++ installs its own attention processors on the UNet it shares with its
            # siblings; put the previous ones back so text-to-image and the rest are unchanged.
            saved = pipe.unet.attn_processors
            try:
                pipe.invert(
                    image=picture.resize(work, Image.Resampling.LANCZOS) if work != picture.size else picture,
                    source_prompt=source,
                    num_inversion_steps=params.steps,
                    skip=params.skip,
                    generator=generator(params.seed),
                )
                result = pipe(
                    editing_prompt=concepts,
                    reverse_editing_direction=[False, True][: len(concepts)],
                    edit_guidance_scale=params.edit_guidance,
                    edit_threshold=params.edit_threshold,
                    use_intersect_mask=attention_masks,
                    negative_prompt=params.negative_prompt or None,
                    generator=generator(params.seed),
                    output_type="pil",
                    **progress_kwargs(ctx, pipe, params.steps),
                )
            finally:
                pipe.unet.set_attn_processor(saved)
                for attr in ("init_latents", "zs"):  # the inverted image's tensors: free them now
                    if hasattr(pipe, attr):
                        setattr(pipe, attr, None)
        if ctx.cancelled.is_set():
            raise ToolFailure("cancelled")
        meta = {
            "source": source,
            "source_origin": origin,
            "target": params.target,
            "edit_mask": "cross-attention and guidance" if attention_masks else "guidance only",
            "used_models": pool.model_ids(("ledits",)),
        }
        return result.images[0], {**meta, **untrained_meta(ctx)}

    @staticmethod
    def _warn_truncation(ctx: ToolContext, pipe: Any, texts: dict[str, str]) -> None:
        window = pipe.tokenizer.model_max_length - 2
        for what, text in texts.items():
            count = len(pipe.tokenizer(text, add_special_tokens=False, verbose=False).input_ids) if text else 0
            if count > window:
                ctx.warn(f"edit: LEDITS++ reads the first {window} tokens of the {what} description; {count - window} were dropped")


TOOLS = [Edit]
