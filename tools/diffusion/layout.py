"""Layout-to-image: objects placed in the boxes of a layout artifact (GLIGEN).

GLIGEN's gated self-attention grounds each phrase in its box for the first part of the denoising
(``grounding``, GLIGEN's scheduled-sampling beta) and lets the whole picture settle afterwards.
The scene prompt goes through the long-prompt encoder like every other generator.
"""

from __future__ import annotations

from pydantic import Field, ValidationError

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Produced, Tool, ToolContext
from tools.diffusion.common import PromptParams, generate, snap
from tools.errors import ToolFailure
from tools.words import PLACING

MAX_SIDE = 2048
MAX_BOXES = 30
"""GLIGEN's grounding tokens: it has room for 30 boxes."""


class LayoutToImage(Tool):
    """Generate an image with each phrase of a layout drawn inside its box (GLIGEN).

    ``prompt`` describes the whole scene (default: the layout's caption, else its phrases joined).
    The size is the layout's canvas rounded to multiples of 8. At most 30 boxes.
    """

    name = "layout_to_image"
    offered_for = PLACING
    inputs = {"layout": Input(Kind.LAYOUT, description="boxes with phrases, e.g. from make_layout or the layout planner")}
    outputs = {"image": Kind.IMAGE}
    models = ("gligen",)
    cost = 4.0

    class Params(PromptParams):
        prompt: str | None = Field(None, min_length=1, description="the whole scene; default: the layout's caption or its phrases")
        grounding: float = Field(0.3, ge=0.0, le=1.0, description="fraction of the steps that follow the boxes")

    def run(self, ctx: ToolContext, params: Params, *, layout: ArtifactHandle) -> dict:
        try:
            plan = layout.layout()
        except (ValidationError, ValueError) as exc:
            raise ToolFailure(f"{layout.id} is not a valid layout: {exc}") from None
        if not plan.boxes:
            raise ToolFailure(f"{layout.id} has no boxes: layout_to_image needs at least one phrase with a box")
        if len(plan.boxes) > MAX_BOXES:
            raise ToolFailure(f"{layout.id} has {len(plan.boxes)} boxes; GLIGEN grounds at most {MAX_BOXES}: merge or drop some")
        if int(params.grounding * params.steps) == 0:
            ctx.warn(f"grounding {params.grounding} x {params.steps} steps < 1 step: the boxes will not be used; raise either")
        prompt = params.prompt or plan.caption.strip() or ", ".join(box.phrase for box in plan.boxes)
        width, height = snap((plan.width, plan.height))
        if (width, height) != (plan.width, plan.height):
            ctx.warn(f"{layout.id} canvas {plan.width}x{plan.height} generated at {width}x{height} (multiples of 8)")
        scene = params.model_copy(update={"prompt": prompt})
        out, meta = generate(
            ctx,
            "gligen",
            scene,  # type: ignore[arg-type]
            gligen_phrases=[box.phrase for box in plan.boxes],
            gligen_boxes=[list(box.box) for box in plan.boxes],
            gligen_scheduled_sampling_beta=params.grounding,
            width=width,
            height=height,
        )
        meta.update(full_prompt=prompt, boxes=len(plan.boxes))
        return {"image": Produced(out, meta)}


TOOLS = [LayoutToImage]
