"""Inpainting and outpainting: regenerate the white area of a mask, keep the rest exactly.

Outpainting is inpainting on a bigger canvas: the canvas and its mask come from the built-in
``pad_canvas`` tool's own code, so there is one definition of how a canvas grows.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field, model_validator

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Produced, Tool, ToolContext
from tools.builtin.image_ops import PadCanvas
from tools.diffusion.common import PromptParams, generate, snap
from tools.errors import ToolFailure

MAX_PAD = 2048


def binary_mask(mask: Image.Image) -> Image.Image:
    """White (255) where the pixel is at least half white: feathered edges count as 'regenerate'."""
    return mask.point(lambda v: 255 if v >= 128 else 0)


def inpaint_region(ctx: ToolContext, params: PromptParams, image: Image.Image, mask: Image.Image, strength: float) -> tuple[Image.Image, dict]:
    """Generate inside ``mask`` and paste the result over ``image`` only there.

    The model works at the nearest size divisible by 8; the result is brought back to the input
    size and composited, so every unmasked pixel is the input's own.
    """
    work = snap(image.size)
    out, meta = generate(
        ctx,
        "inpaint",
        params,
        image=image.resize(work) if work != image.size else image,
        mask_image=mask.resize(work, Image.Resampling.NEAREST) if work != image.size else mask,
        width=work[0],
        height=work[1],
        strength=strength,
    )
    if out.size != image.size:
        out = out.resize(image.size, Image.Resampling.LANCZOS)
    meta["masked_fraction"] = round(float((np.asarray(mask) >= 128).mean()), 4)
    return Image.composite(out, image, mask), meta


class Inpaint(Tool):
    """Regenerate the white area of a mask from a prompt; everything outside it stays as it was.

    A mask of another size is resized to the image (with a warning); an all-black mask is an error.
    """

    name = "inpaint"
    inputs = {
        "image": Input(Kind.IMAGE, description="the picture to change"),
        "mask": Input(Kind.MASK, description="white = regenerate"),
    }
    outputs = {"image": Kind.IMAGE}
    models = ("inpaint",)
    cost = 4.0

    class Params(PromptParams):
        strength: float = Field(1.0, gt=0.0, le=1.0, description="1 repaints the area fully; lower keeps its colours")

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle, mask: ArtifactHandle) -> dict:
        picture = image.image()
        area = mask.image()
        if area.size != picture.size:
            ctx.warn(f"{mask.id} is {area.width}x{area.height}, {image.id} is {picture.width}x{picture.height}: mask resized to the image")
            area = area.resize(picture.size, Image.Resampling.NEAREST)
        area = binary_mask(area)
        if area.getextrema()[1] == 0:
            raise ToolFailure(f"{mask.id} is empty (all black): nothing to inpaint. White marks the area to regenerate.")
        out, meta = inpaint_region(ctx, params, picture, area, params.strength)
        return {"image": Produced(out, meta)}


class Outpaint(Tool):
    """Extend an image by some pixels left/right/up/down and generate the new area from a prompt.

    The original pixels are kept exactly; the new border starts from stretched edge pixels.
    """

    name = "outpaint"
    inputs = {"image": Input(Kind.IMAGE, description="the picture to extend")}
    outputs = {"image": Kind.IMAGE, "mask": Kind.MASK}
    models = ("inpaint",)
    cost = 4.0

    class Params(PromptParams):
        left: int = Field(0, ge=0, le=MAX_PAD)
        right: int = Field(0, ge=0, le=MAX_PAD)
        top: int = Field(0, ge=0, le=MAX_PAD)
        bottom: int = Field(0, ge=0, le=MAX_PAD)
        fill: Literal["edge", "black", "grey", "white"] = "edge"

        @model_validator(mode="after")
        def _some_padding(self) -> "Outpaint.Params":
            if not (self.left or self.right or self.top or self.bottom):
                raise ValueError("extend at least one side by a positive number of pixels: left and right to make it wider, "
                                 "top and bottom to make it taller (for example left 256 and right 256)")
            return self

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        pad = PadCanvas.Params(left=params.left, right=params.right, top=params.top, bottom=params.bottom, fill=params.fill)
        canvas = PadCanvas().run(ctx, pad, image=image)
        out, meta = inpaint_region(ctx, params, canvas["image"], canvas["mask"], 1.0)
        meta.update(extended={"left": params.left, "right": params.right, "top": params.top, "bottom": params.bottom})
        return {"image": Produced(out, meta), "mask": canvas["mask"]}


TOOLS = [Inpaint, Outpaint]
