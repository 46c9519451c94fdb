"""ControlNet: generate from a prompt while following the structure of another image.

The condition map is extracted from the input image: Canny edges with OpenCV (the built-in
``canny`` tool's own code, so there is one definition of the edge map), a depth map from the
profile's ``depth_estimator`` (DPT / Depth Anything through transformers), or a body pose drawn as
the OpenPose skeleton the pose ControlNet was trained on: keypoints from the profile's trained
``pose_estimator`` (ViTPose) where it names one, else from the built-in MoveNet
(``tools.perception``, offline, on every profile). A profile without a depth estimator fails with
one message naming the role to add.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from PIL import Image
from pydantic import Field, model_validator

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Produced, Tool, ToolContext
from tools.builtin.image_ops import CannyEdges
from tools.diffusion.common import PromptParams, generate, pool_of, snap
from tools.errors import ConfigError
from tools.models.estimators import Estimator, builtin_pose, estimator_role, load_estimator
from tools.perception.pose import draw_openpose, pose_condition
from tools.words import FOLLOWING

MAX_SIDE = 2048
Condition = Literal["canny", "depth", "pose"]
CONTROL_ROLE = {"canny": "controlnet_canny", "depth": "controlnet_depth", "pose": "controlnet_pose"}
ESTIMATOR = {"depth": ("depth_estimator", "depth_estimation"), "pose": ("pose_estimator", "pose_estimation")}

def check_condition_roles(ctx: ToolContext, condition: str, extract: bool) -> None:
    """Fail before any work when the profile cannot make this condition or has no ControlNet for it."""
    profile = pool_of(ctx).profile
    role = CONTROL_ROLE[condition]
    if role not in profile.roles:
        raise ConfigError(
            f"profile '{profile.name}' has no {condition} ControlNet: add a `{role}: {{task: controlnet, base: text2img, "
            f"model: <ControlNet id>}}` role to the profile, or use another condition"
        )
    if extract and condition in ESTIMATOR and not (condition == "pose" and builtin_pose(pool_of(ctx))):
        estimator_role(pool_of(ctx), *ESTIMATOR[condition])


@torch.no_grad()
def depth_map(estimator: Estimator, image: Image.Image) -> Image.Image:
    """Relative depth, near = white, normalised to the full 0-255 range, at the image's size."""
    inputs = estimator.processor(images=image, return_tensors="pt").to(estimator.device)
    depth = estimator.model(**inputs).predicted_depth  # (1, h, w)
    depth = torch.nn.functional.interpolate(depth[:, None].float(), size=image.size[::-1], mode="bicubic", align_corners=False)[0, 0]
    low, high = depth.min(), depth.max()
    scaled = ((depth - low) / (high - low) * 255.0) if high > low else torch.zeros_like(depth)
    grey = scaled.clamp(0, 255).round().byte().cpu().numpy()
    return Image.fromarray(grey).convert("RGB")


@torch.no_grad()
def body_keypoints(estimator: Estimator, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 keypoints (x, y) and scores of the main person; the whole image is their box."""
    boxes = [[[0.0, 0.0, float(image.width), float(image.height)]]]  # COCO format: x, y, w, h
    inputs = estimator.processor(images=image, boxes=boxes, return_tensors="pt").to(estimator.device)
    outputs = estimator.model(**inputs)
    person = estimator.processor.post_process_pose_estimation(outputs, boxes=boxes)[0][0]
    return person["keypoints"].float().cpu().numpy(), person["scores"].float().cpu().numpy()


def extract_condition(ctx: ToolContext, params: ControlNet.Params, image: ArtifactHandle) -> Produced:
    """The condition map of ``image`` for ``params.condition``, with what is worth recording."""
    if params.condition == "canny":
        edges = CannyEdges().run(ctx, CannyEdges.Params(low=params.low, high=params.high), image=image)["image"]
        return Produced(edges.value, {**edges.meta, "condition": "canny", "low": params.low, "high": params.high})
    role, task = ESTIMATOR[params.condition]
    pool = pool_of(ctx)
    if params.condition == "pose" and builtin_pose(pool):
        drawing, meta = pose_condition(pool, image.image(), params.keypoint_threshold)
        if meta["joints"] == 0:
            ctx.warn(f"pose: no body keypoint of {image.id} scored {params.keypoint_threshold} or more; the pose condition is empty")
        return Produced(drawing, meta)
    estimator = load_estimator(pool, role, task)
    picture = image.image()
    model = pool.model_ids((role,))
    with pool.run_lock(role):
        if params.condition == "depth":
            return Produced(depth_map(estimator, picture), {"condition": "depth", "estimator": model})
        keypoints, scores = body_keypoints(estimator, picture)
    drawing, joints = draw_openpose(picture.size, keypoints, scores, params.keypoint_threshold)
    if joints == 0:
        ctx.warn(f"pose: no body keypoint of {image.id} scored {params.keypoint_threshold} or more; the pose condition is empty")
    return Produced(drawing, {"condition": "pose", "estimator": model, "joints": joints})


class ControlNet(Tool):
    """Generate an image from a prompt that follows the structure of another image (ControlNet).

    ``condition`` picks what is kept: ``canny`` edges and body ``pose`` (always available), or
    ``depth`` (when the model profile configures a depth estimator). The map is extracted from
    ``image``; with ``extract=false`` the image already is the map (an edge, depth or pose drawing).
    Also returns the condition map used. Size: the image's, rounded to multiples of 8.
    """

    name = "controlnet"
    inputs = {"image": Input(Kind.IMAGE, description="the picture whose structure to follow (or a ready condition map)")}
    outputs = {"image": Kind.IMAGE, "condition": Kind.IMAGE}
    models = ("controlnet_canny", "controlnet_depth", "controlnet_pose", "depth_estimator", "pose_estimator")
    cost = 5.0
    offered_for = FOLLOWING

    class Params(PromptParams):
        condition: Condition = Field("canny", description="structure to keep: canny edges, depth or body pose")
        extract: bool = Field(True, description="false: the image already is the condition map")
        strength: float = Field(1.0, ge=0.0, le=2.0, description="how strictly to follow the condition")
        low: int = Field(100, ge=0, le=255, description="canny: lower hysteresis threshold")
        high: int = Field(200, ge=0, le=255, description="canny: upper hysteresis threshold")
        keypoint_threshold: float = Field(0.3, ge=0.0, le=1.0, description="pose: lowest keypoint score drawn")
        width: int | None = Field(None, ge=8, le=MAX_SIDE, description="pixels; default: the image's width")
        height: int | None = Field(None, ge=8, le=MAX_SIDE, description="pixels; default: the image's height")

        @model_validator(mode="after")
        def _thresholds(self) -> ControlNet.Params:
            if self.low > self.high:
                raise ValueError("canny needs low <= high")
            return self

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        check_condition_roles(ctx, params.condition, params.extract)
        if params.extract:
            condition = extract_condition(ctx, params, image)
        else:
            condition = Produced(image.image(), {"condition": params.condition, "extracted": False})
        source = condition.value
        width, height = snap((params.width or source.width, params.height or source.height))
        if (width, height) != (params.width or source.width, params.height or source.height):
            ctx.warn(f"size rounded to {width}x{height} (multiples of 8)")
        control = source.resize((width, height), Image.Resampling.BILINEAR) if source.size != (width, height) else source
        role = CONTROL_ROLE[params.condition]
        out, meta = generate(ctx, role, params, image=control, controlnet_conditioning_scale=params.strength, width=width, height=height)
        meta.update(condition=params.condition, used_models=pool_of(ctx).model_ids((role,)))
        return {"image": Produced(out, meta), "condition": condition}


TOOLS = [ControlNet]
