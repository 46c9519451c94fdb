"""Layout tools: make a layout from boxes, draw it, and turn boxes into an inpainting mask."""

from __future__ import annotations

import colorsys

from PIL import Image, ImageDraw, ImageFilter
from pydantic import Field, model_validator

from tools.artifacts import ArtifactHandle, Box, Kind, Layout
from tools.base import Input, Size, Tool, ToolContext, ToolParams
from tools.errors import ToolFailure
from tools.words import PLACING


class MakeLayout(Tool):
    """Create a layout artifact: phrases with boxes (x0, y0, x1, y1 in [0, 1]) on a canvas."""

    name = "make_layout"
    offered_for = PLACING
    outputs = {"layout": Kind.LAYOUT}

    class Params(ToolParams):
        width: int = Field(512, ge=8, le=8192)
        height: int = Field(512, ge=8, le=8192)
        boxes: list[Box] = Field(min_length=1)
        caption: str = ""

    @classmethod
    def output_sizes(cls, params: Params, inputs: dict[str, Size | None]) -> dict[str, Size | None]:
        return {"layout": (params.width, params.height)}

    def run(self, ctx: ToolContext, params: Params) -> dict:
        return {"layout": Layout(width=params.width, height=params.height, boxes=params.boxes, caption=params.caption)}


def _colour(index: int) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((index * 0.618) % 1.0, 0.75, 0.95)
    return round(r * 255), round(g * 255), round(b * 255)


class DrawLayout(Tool):
    """Draw a layout's boxes and phrases, on a blank canvas or over an image, to check a plan."""

    name = "draw_layout"
    inputs = {"layout": Input(Kind.LAYOUT), "image": Input(Kind.IMAGE, optional=True, description="draw over this")}
    outputs = {"image": Kind.IMAGE}
    cost = 0.5

    class Params(ToolParams):
        line_width: int = Field(3, ge=1, le=32)

    @classmethod
    def output_sizes(cls, params: Params, inputs: dict[str, Size | None]) -> dict[str, Size | None]:
        return {"image": inputs.get("layout")}

    def run(self, ctx: ToolContext, params: Params, *, layout: ArtifactHandle, image: ArtifactHandle | None) -> dict:
        plan = layout.layout()
        layout.limits.check_pixels(plan.width, plan.height, f"the canvas of {layout.id}")
        canvas = image.image().resize((plan.width, plan.height)) if image else Image.new("RGB", (plan.width, plan.height), "white")
        draw = ImageDraw.Draw(canvas)
        for index, box in enumerate(plan.boxes):
            colour = _colour(index)
            x0, y0, x1, y1 = box.pixels(plan.width, plan.height)
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour, width=params.line_width)
            label_top = max(0, y0 - 12) if y0 >= 12 else y0 + params.line_width
            draw.text((x0 + params.line_width + 1, label_top), box.phrase, fill=colour)
        return {"image": canvas}


class MaskFromBoxes(Tool):
    """Make an inpainting mask that is white inside boxes.

    Boxes come from a layout artifact or from ``boxes``; the canvas size from the layout, the
    image, or ``width``/``height``. ``grow`` widens the mask and ``feather`` softens its edge.
    """

    name = "mask_from_boxes"
    inputs = {
        "image": Input(Kind.IMAGE, optional=True, description="takes its size"),
        "layout": Input(Kind.LAYOUT, optional=True, description="takes its boxes"),
    }
    outputs = {"mask": Kind.MASK}
    cost = 0.5

    class Params(ToolParams):
        boxes: list[tuple[float, float, float, float]] = Field(default_factory=list, description="x0, y0, x1, y1 in [0, 1]")
        width: int | None = Field(None, ge=8, le=8192)
        height: int | None = Field(None, ge=8, le=8192)
        grow: int = Field(0, ge=0, le=512)
        feather: int = Field(0, ge=0, le=256)

        @model_validator(mode="after")
        def _valid_boxes(self) -> "MaskFromBoxes.Params":
            for box in self.boxes:
                Box(phrase="box", box=box)
            return self

    @classmethod
    def output_sizes(cls, params: Params, inputs: dict[str, Size | None]) -> dict[str, Size | None]:
        if "image" in inputs:
            return {"mask": inputs["image"]}
        if "layout" in inputs:
            return {"mask": inputs["layout"]}
        return {"mask": (params.width, params.height) if params.width and params.height else None}

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle | None, layout: ArtifactHandle | None) -> dict:
        plan = layout.layout() if layout else None
        if image:
            size = image.image().size
        elif plan:
            size = (plan.width, plan.height)
        elif params.width and params.height:
            size = (params.width, params.height)
        else:
            raise ToolFailure("mask_from_boxes needs an image, a layout, or width and height")
        boxes = [b.box for b in plan.boxes] if plan else []
        boxes += params.boxes
        if not boxes:
            raise ToolFailure("mask_from_boxes got no boxes: give a layout or `boxes`")
        mask = Image.new("L", size, 0)
        draw = ImageDraw.Draw(mask)
        for box in boxes:
            x0, y0, x1, y1 = Box(phrase="box", box=box).pixels(*size)
            draw.rectangle((x0 - params.grow, y0 - params.grow, x1 - 1 + params.grow, y1 - 1 + params.grow), fill=255)
        if params.feather:
            mask = mask.filter(ImageFilter.GaussianBlur(params.feather / 2))
        return {"mask": mask}


TOOLS = [MakeLayout, DrawLayout, MaskFromBoxes]
