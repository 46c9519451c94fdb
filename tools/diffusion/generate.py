"""Diffusion generators: text-to-image, image-to-image and similar-image.

Each tool names the roles it needs (``models``); the active profile decides which weights fill
them, and the pool loads them once. Seeds become ``torch.Generator``s, never global seeding.
"""

from __future__ import annotations

from pydantic import Field

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Produced, Tool, ToolContext
from tools.diffusion.common import PromptParams, generate, snap
from tools.errors import ToolFailure

MAX_SIDE = 2048


class TextToImage(Tool):
    """Generate an image from a text prompt (Stable Diffusion family).

    Prompts longer than CLIP's 77-token window are encoded window by window, so every word
    counts. Width and height default to the model's native size and are rounded to multiples of 8.
    """

    name = "text_to_image"
    outputs = {"image": Kind.IMAGE}
    models = ("text2img",)
    cost = 4.0

    class Params(PromptParams):
        width: int | None = Field(None, ge=8, le=MAX_SIDE, description="pixels; default: the model's native size")
        height: int | None = Field(None, ge=8, le=MAX_SIDE, description="pixels; default: the model's native size")

    def run(self, ctx: ToolContext, params: Params) -> dict:
        size = {}
        if params.width or params.height:
            width, height = snap((params.width or params.height, params.height or params.width))
            if (width, height) != (params.width or width, params.height or height):
                ctx.warn(f"size rounded to {width}x{height} (multiples of 8)")
            size = {"width": width, "height": height}
        image, meta = generate(ctx, "text2img", params, **size)
        return {"image": Produced(image, meta)}


class ImageToImage(Tool):
    """Redraw an image following a prompt, keeping its composition.

    ``strength`` is how far it may move from the original (near 0 keeps it, 1 ignores it).
    """

    name = "image_to_image"
    restyles = True
    inputs = {"image": Input(Kind.IMAGE, description="the starting picture")}
    outputs = {"image": Kind.IMAGE}
    models = ("img2img",)
    cost = 4.0

    class Params(PromptParams):
        strength: float = Field(0.6, gt=0.0, le=1.0, description="how much to change")

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        source = image.image()
        size = snap(source.size)
        if size != source.size:
            ctx.warn(f"{image.id} {source.width}x{source.height} resized to {size[0]}x{size[1]} (multiples of 8)")
            source = source.resize(size)
        if round(params.steps * params.strength) < 1:
            raise ToolFailure(f"steps x strength = {params.steps * params.strength:.2f}: no denoising step would run; raise one of them")
        out, meta = generate(ctx, "img2img", params, image=source, strength=params.strength)
        return {"image": Produced(out, meta)}


class SimilarImage(Tool):
    """Make a new image like a given one: its description plus a variation, generated afresh.

    The description is the prompt recorded in the image's lineage (the prompt that made it), or
    ``prompt`` when given (e.g. from a captioner); the output keeps the source's size, not its pixels.
    """

    name = "similar_image"
    inputs = {"image": Input(Kind.IMAGE, description="the image to take after")}
    outputs = {"image": Kind.IMAGE}
    models = ("text2img",)
    cost = 4.0

    class Params(PromptParams):
        prompt: str | None = Field(None, description="the image's description; default: the prompt in its lineage")
        variation: str = Field("", description="what to change or add, e.g. 'at night, in snow'")

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        if params.prompt:
            description, source = params.prompt, "the `prompt` parameter"
        elif found := image.recorded_prompt():
            description, source = found[0], f"the prompt recorded on {found[1]}"
        else:
            raise ToolFailure(
                f"{image.id} has no prompt in its lineage (made by '{image.artifact.tool}'); "
                "give `prompt` with a description of it"
            )
        prompt = f"{description}, {params.variation}" if params.variation else description
        ctx.warn(f"similar_image: description from {source}")
        width, height = snap(image.image().size)
        generated = params.model_copy(update={"prompt": prompt})
        out, meta = generate(ctx, "text2img", generated, width=width, height=height)
        meta.update(description_source=source, full_prompt=prompt)
        return {"image": Produced(out, meta)}


TOOLS = [TextToImage, ImageToImage, SimilarImage]
