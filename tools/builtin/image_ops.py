"""Light image tools: geometry, compositing and edge maps, no models involved.

They are what a generation chain needs between model calls: pad a canvas before outpainting,
paste an inpainted crop back, make a Canny condition for ControlNet.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageFilter
from pydantic import Field, model_validator

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Produced, Size, Tool, ToolContext, ToolParams
from tools.errors import ToolFailure
from tools.words import FOLLOWING

MAX_SIDE = 8192
"""The largest side a parameter may name; the pixel budget (``Limits.max_pixels``) is what bounds
an output, checked before the plan runs (``output_sizes``) and again before a tool allocates."""
RESAMPLE = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC, "nearest": Image.Resampling.NEAREST}


class Resize(Tool):
    """Resize an image to a width and/or height; a missing side keeps the aspect ratio."""

    name = "resize"
    inputs = {"image": Input(Kind.IMAGE)}
    outputs = {"image": Kind.IMAGE}

    class Params(ToolParams):
        width: int | None = Field(None, ge=1, le=MAX_SIDE)
        height: int | None = Field(None, ge=1, le=MAX_SIDE)
        resample: Literal["lanczos", "bicubic", "nearest"] = "lanczos"

        @model_validator(mode="after")
        def _one_side(self) -> "Resize.Params":
            if self.width is None and self.height is None:
                raise ValueError("give width, height or both")
            return self

    @staticmethod
    def _size(params: Params, source: Size) -> Size:
        width = params.width or max(1, round(source[0] * params.height / source[1]))
        height = params.height or max(1, round(source[1] * params.width / source[0]))
        return width, height

    @classmethod
    def output_sizes(cls, params: Params, inputs: dict[str, Size | None]) -> dict[str, Size | None]:
        if params.width and params.height:
            return {"image": (params.width, params.height)}
        return {"image": cls._size(params, inputs["image"]) if inputs.get("image") else None}

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        img = image.image()
        size = self._size(params, img.size)
        image.limits.check_pixels(*size, "the resized image")
        return {"image": img.resize(size, RESAMPLE[params.resample])}


class Crop(Tool):
    """Cut a rectangle (pixel coordinates, right/bottom exclusive) out of an image."""

    name = "crop"
    inputs = {"image": Input(Kind.IMAGE)}
    outputs = {"image": Kind.IMAGE}

    class Params(ToolParams):
        left: int = Field(ge=0)
        top: int = Field(ge=0)
        right: int = Field(ge=1)
        bottom: int = Field(ge=1)

        @model_validator(mode="after")
        def _ordered(self) -> "Crop.Params":
            if self.right <= self.left or self.bottom <= self.top:
                raise ValueError("need left < right and top < bottom")
            return self

    @classmethod
    def output_sizes(cls, params: Params, inputs: dict[str, Size | None]) -> dict[str, Size | None]:
        return {"image": (params.right - params.left, params.bottom - params.top)}

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        img = image.image()
        if params.right > img.width or params.bottom > img.height:
            raise ToolFailure(f"crop box reaches ({params.right}, {params.bottom}) but the image is {img.width}x{img.height}")
        return {"image": img.crop((params.left, params.top, params.right, params.bottom))}


class PadCanvas(Tool):
    """Extend the canvas on any side for outpainting; also returns the mask of the new area.

    The new area is filled by stretching the border pixels (``edge``) or a flat colour, which
    gives an outpainting model a plausible start; the mask is white where content must be made.
    """

    name = "pad_canvas"
    inputs = {"image": Input(Kind.IMAGE)}
    outputs = {"image": Kind.IMAGE, "mask": Kind.MASK}

    class Params(ToolParams):
        left: int = Field(0, ge=0, le=MAX_SIDE)
        right: int = Field(0, ge=0, le=MAX_SIDE)
        top: int = Field(0, ge=0, le=MAX_SIDE)
        bottom: int = Field(0, ge=0, le=MAX_SIDE)
        fill: Literal["edge", "black", "grey", "white"] = "edge"

        @model_validator(mode="after")
        def _some_padding(self) -> "PadCanvas.Params":
            if not (self.left or self.right or self.top or self.bottom):
                raise ValueError("pad at least one side by a positive number of pixels")
            return self

    @staticmethod
    def _size(params: Params, source: Size) -> Size:
        return source[0] + params.left + params.right, source[1] + params.top + params.bottom

    @classmethod
    def output_sizes(cls, params: Params, inputs: dict[str, Size | None]) -> dict[str, Size | None]:
        size = cls._size(params, inputs["image"]) if inputs.get("image") else None
        return {"image": size, "mask": size}

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        source = image.image()
        image.limits.check_pixels(*self._size(params, source.size), "the padded canvas")  # before numpy allocates it
        img = np.asarray(source)
        pad = ((params.top, params.bottom), (params.left, params.right), (0, 0))
        if params.fill == "edge":
            out = np.pad(img, pad, mode="edge")
        else:
            value = {"black": 0, "grey": 128, "white": 255}[params.fill]
            out = np.pad(img, pad, mode="constant", constant_values=value)
        mask = np.full(out.shape[:2], 255, np.uint8)
        mask[params.top : params.top + img.shape[0], params.left : params.left + img.shape[1]] = 0
        return {"image": Image.fromarray(out), "mask": Image.fromarray(mask, "L")}


class Composite(Tool):
    """Paste ``overlay`` onto ``image`` where ``mask`` is white (all of it without a mask).

    The overlay is resized to the image first; ``feather`` softens the mask edge in pixels.
    """

    name = "composite"
    inputs = {
        "image": Input(Kind.IMAGE, description="the base"),
        "overlay": Input(Kind.IMAGE, description="what to paste"),
        "mask": Input(Kind.MASK, optional=True, description="white = take the overlay"),
    }
    outputs = {"image": Kind.IMAGE}

    class Params(ToolParams):
        feather: int = Field(0, ge=0, le=256)

    @classmethod
    def output_sizes(cls, params: Params, inputs: dict[str, Size | None]) -> dict[str, Size | None]:
        return {"image": inputs.get("image")}

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle, overlay: ArtifactHandle, mask: ArtifactHandle | None) -> dict:
        base = image.image()
        top = overlay.image()
        if top.size != base.size:
            ctx.warn(f"overlay {top.width}x{top.height} resized to {base.width}x{base.height}")
            top = top.resize(base.size, Image.Resampling.LANCZOS)
        alpha = mask.image() if mask else Image.new("L", base.size, 255)
        if alpha.size != base.size:
            ctx.warn(f"mask {alpha.width}x{alpha.height} resized to {base.width}x{base.height}")
            alpha = alpha.resize(base.size, Image.Resampling.BILINEAR)
        if params.feather:
            alpha = alpha.filter(ImageFilter.GaussianBlur(params.feather / 2))
        return {"image": Image.composite(top, base, alpha)}


class CannyEdges(Tool):
    """Canny edge map of an image (white edges on black), the usual ControlNet condition."""

    name = "canny"
    offered_for = FOLLOWING
    inputs = {"image": Input(Kind.IMAGE)}
    outputs = {"image": Kind.IMAGE}

    class Params(ToolParams):
        low: int = Field(100, ge=0, le=255)
        high: int = Field(200, ge=0, le=255)

    @classmethod
    def output_sizes(cls, params: Params, inputs: dict[str, Size | None]) -> dict[str, Size | None]:
        return {"image": inputs.get("image")}

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        grey = cv2.cvtColor(np.asarray(image.image()), cv2.COLOR_RGB2GRAY)
        edges = cv2.Canny(grey, params.low, params.high)
        coverage = float((edges > 0).mean())
        return {"image": Produced(Image.fromarray(edges).convert("RGB"), {"edge_fraction": round(coverage, 4)})}


TOOLS = [Resize, Crop, PadCanvas, Composite, CannyEdges]
