"""Masks for chosen detections: the person segmenter for people, GrabCut inside the box otherwise.

A box alone covers background around the object; inpainting that much smears the scene, so the
mask follows the object: for people the selfie segmenter's probability (kept inside the person's
box, so one person of several is one mask), for other classes OpenCV's GrabCut started from the
box. When GrabCut keeps too little of the box (a flat, low-contrast object) the box itself is used
and the step says so.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from PIL import Image

from tools.perception.models import Detection, person_segmenter

PERSON_THRESHOLD = 0.5
MIN_GRABCUT_FILL = 0.15
"""Below this fraction of its box, a GrabCut result is taken to have lost the object."""
BOX_MARGIN = 0.04
GRABCUT_SIDE = 320
MAX_GRABCUT_BOX = 0.8
"""A box over more of the picture than this leaves GrabCut no background to learn from: the box is used."""
"""GrabCut runs on a copy whose longer side is at most this (it is iterative and slow on big images)."""


def _box_pixels(det: Detection, width: int, height: int, margin: float = 0.0) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = det.box
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return (max(0, round((x0 - dx) * width)), max(0, round((y0 - dy) * height)),
            min(width, round((x1 + dx) * width)), min(height, round((y1 + dy) * height)))  # fmt: skip


def box_mask(det: Detection, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    out = np.zeros((height, width), bool)
    x0, y0, x1, y1 = _box_pixels(det, width, height)
    out[y0:y1, x0:x1] = True
    return out


def grabcut_mask(image: Image.Image, det: Detection) -> np.ndarray | None:
    """The object inside its box by GrabCut, or None when it kept too little to trust."""
    if det.area > MAX_GRABCUT_BOX:
        return None
    scale = min(1.0, GRABCUT_SIDE / max(image.size))
    small = image.convert("RGB").resize((max(1, round(image.width * scale)), max(1, round(image.height * scale)))) if scale < 1 else image.convert("RGB")
    x0, y0, x1, y1 = _box_pixels(det, small.width, small.height)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    rect = (x0, y0, x1 - x0, y1 - y0)
    labels = np.zeros((small.height, small.width), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's GMM initialisation draws random numbers: same input, same mask
    cv2.grabCut(cv2.cvtColor(np.asarray(small), cv2.COLOR_RGB2BGR), labels, rect, bgd, fgd, 2, cv2.GC_INIT_WITH_RECT)
    fg = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    if fg[y0:y1, x0:x1].mean() < MIN_GRABCUT_FILL:
        return None
    return np.asarray(Image.fromarray(fg.astype(np.uint8) * 255).resize(image.size, Image.Resampling.NEAREST)) > 127


def mask_for(pool: Any, image: Image.Image, chosen: list[Detection], *, shape: str, grow: int) -> tuple[Image.Image, list[str]]:
    """One mask covering every chosen detection; warnings for a fallback to the box."""
    warnings: list[str] = []
    union = np.zeros((image.height, image.width), bool)
    person_probability = None
    for det in chosen:
        if shape == "box":
            part = box_mask(det, image.size)
        elif det.label == "person":
            if person_probability is None:
                person_probability = person_segmenter(pool).probability(image)
            x0, y0, x1, y1 = _box_pixels(det, image.width, image.height, BOX_MARGIN)
            part = np.zeros_like(union)
            part[y0:y1, x0:x1] = person_probability[y0:y1, x0:x1] >= PERSON_THRESHOLD
            if part.sum() < MIN_GRABCUT_FILL * max(1, (x1 - x0) * (y1 - y0)):
                warnings.append("the person segmenter found little inside a person's box; used the box")
                part = box_mask(det, image.size)
        else:
            cut = grabcut_mask(image, det)
            if cut is None:
                warnings.append(f"could not separate the {det.label} from its background; used its box")
                cut = box_mask(det, image.size)
            part = cut
        union |= part
    mask = union.astype(np.uint8) * 255
    if grow:
        size = 2 * grow + 1
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    return Image.fromarray(mask).convert("L"), warnings
