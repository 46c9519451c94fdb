"""ControlNet: generate from a prompt while following the structure of another image.

The condition map is extracted from the input image: Canny edges with OpenCV (the built-in
``canny`` tool's own code, so there is one definition of the edge map), a depth map from the
profile's ``depth_estimator`` (DPT / Depth Anything through transformers), or a body pose from
its ``pose_estimator`` (ViTPose keypoints drawn as the OpenPose skeleton the pose ControlNet was
trained on). A profile without an estimator fails with one message naming the role to add.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
import torch
from PIL import Image
from pydantic import Field, model_validator

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Produced, Tool, ToolContext
from tools.builtin.image_ops import CannyEdges
from tools.diffusion.common import PromptParams, generate, pool_of, snap
from tools.errors import ConfigError
from tools.models.estimators import Estimator, estimator_role, load_estimator

MAX_SIDE = 2048
Condition = Literal["canny", "depth", "pose"]
CONTROL_ROLE = {"canny": "controlnet_canny", "depth": "controlnet_depth", "pose": "controlnet_pose"}
ESTIMATOR = {"depth": ("depth_estimator", "depth_estimation"), "pose": ("pose_estimator", "pose_estimation")}

# OpenPose's 18 body points, each taken from a COCO-17 keypoint (ViTPose's output); 1 = neck,
# which COCO lacks, is the middle of the shoulders.
OPENPOSE_FROM_COCO = [0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
OPENPOSE_LIMBS = [(1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
                  (1, 0), (0, 14), (14, 16), (0, 15), (15, 17)]  # fmt: skip
OPENPOSE_COLOURS = [(255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
                    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
                    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85)]  # fmt: skip


def check_condition_roles(ctx: ToolContext, condition: str, extract: bool) -> None:
    """Fail before any work when the profile cannot make this condition or has no ControlNet for it."""
    profile = pool_of(ctx).profile
    role = CONTROL_ROLE[condition]
    if role not in profile.roles:
        raise ConfigError(
            f"profile '{profile.name}' has no {condition} ControlNet: add a `{role}: {{task: controlnet, base: text2img, "
            f"model: <ControlNet id>}}` role to the profile, or use another condition"
        )
    if extract and condition in ESTIMATOR:
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


def draw_openpose(size: tuple[int, int], keypoints: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[Image.Image, int]:
    """The OpenPose drawing (coloured limbs and joints on black); returns it and the joints drawn."""
    width, height = size
    points: list[tuple[int, int] | None] = []
    for coco in OPENPOSE_FROM_COCO:
        if coco is None:  # neck: both shoulders needed
            if scores[5] >= threshold and scores[6] >= threshold:
                x, y = (keypoints[5] + keypoints[6]) / 2
                points.append((round(float(x)), round(float(y))))
            else:
                points.append(None)
        else:
            points.append((round(float(keypoints[coco][0])), round(float(keypoints[coco][1]))) if scores[coco] >= threshold else None)
    canvas = np.zeros((height, width, 3), np.uint8)
    stick = max(1, round(min(width, height) / 128))
    for index, (a, b) in enumerate(OPENPOSE_LIMBS):
        if points[a] is None or points[b] is None:
            continue
        limb = canvas.copy()
        cv2.line(limb, points[a], points[b], OPENPOSE_COLOURS[index], thickness=2 * stick + 2)
        canvas = cv2.addWeighted(canvas, 0.4, limb, 0.6, 0)
    for index, point in enumerate(points):
        if point is not None:
            cv2.circle(canvas, point, stick + 2, OPENPOSE_COLOURS[index], thickness=-1)
    return Image.fromarray(canvas), sum(p is not None for p in points)


def extract_condition(ctx: ToolContext, params: ControlNet.Params, image: ArtifactHandle) -> Produced:
    """The condition map of ``image`` for ``params.condition``, with what is worth recording."""
    if params.condition == "canny":
        edges = CannyEdges().run(ctx, CannyEdges.Params(low=params.low, high=params.high), image=image)["image"]
        return Produced(edges.value, {**edges.meta, "condition": "canny", "low": params.low, "high": params.high})
    role, task = ESTIMATOR[params.condition]
    pool = pool_of(ctx)
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

    ``condition`` picks what is kept: ``canny`` edges (always available), ``depth`` or ``pose``
    (when the model profile configures a depth / pose estimator). The map is extracted from
    ``image``; with ``extract=false`` the image already is the map (an edge, depth or pose drawing).
    Also returns the condition map used. Size: the image's, rounded to multiples of 8.
    """

    name = "controlnet"
    inputs = {"image": Input(Kind.IMAGE, description="the picture whose structure to follow (or a ready condition map)")}
    outputs = {"image": Kind.IMAGE, "condition": Kind.IMAGE}
    models = ("controlnet_canny", "controlnet_depth", "controlnet_pose", "depth_estimator", "pose_estimator")
    cost = 5.0

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
