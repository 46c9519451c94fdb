"""The three trained perception models, each loaded once per process through the model pool.

- ``Detector``: SSD-MobileNet-v2 trained on COCO (80 classes), run by OpenCV's DNN module; boxes
  come back in [0, 1] corners with a label and a score, after per-class non-maximum suppression.
- ``PersonSegmenter``: MediaPipe's selfie segmentation (256x256, person probability per pixel),
  run by OpenCV's DNN module from the ``.tflite`` file.
- ``PoseEstimator``: MoveNet Lightning (17 COCO keypoints of one person), run by LiteRT; OpenCV
  cannot run its ops. The image is padded to a square first, as MoveNet expects.

The networks are not thread-safe, so each wrapper serialises its own calls. These models are the
same on every profile: they are small, trained and offline, so nothing here depends on the
profile's roles.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from tools.errors import ConfigError
from tools.perception import assets
from tools.perception.labels import COCO

DETECTOR_SIZE = 300
SEGMENTER_SIZE = 256
POSE_SIZE = 192
NMS_IOU = 0.5
THREADS = 2
"""LiteRT threads for MoveNet (the machines this runs on have two cores)."""


@dataclass(frozen=True)
class Detection:
    """One detected object: COCO label, score, box corners in [0, 1] (x0, y0, x1, y1)."""

    label: str
    score: float
    box: tuple[float, float, float, float]

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = self.box
        return round(x0 * width), round(y0 * height), round(x1 * width), round(y1 * height)


@dataclass
class Detector:
    net: Any
    lock: threading.Lock = field(default_factory=threading.Lock)

    def detect(self, image: Image.Image, threshold: float = 0.5) -> list[Detection]:
        """Objects scoring at least ``threshold``, most confident first."""
        blob = cv2.dnn.blobFromImage(np.asarray(image.convert("RGB")), size=(DETECTOR_SIZE, DETECTOR_SIZE), swapRB=False)
        with self.lock:
            self.net.setInput(blob)
            raw = self.net.forward()[0, 0]
        found: dict[str, list[Detection]] = {}
        for _, class_id, score, *box in raw:
            label = COCO.get(int(class_id))
            if label is None or score < threshold:
                continue
            x0, y0, x1, y1 = (min(max(float(v), 0.0), 1.0) for v in box)
            if x1 > x0 and y1 > y0:
                found.setdefault(label, []).append(Detection(label, round(float(score), 4), (x0, y0, x1, y1)))
        kept = []
        for group in found.values():  # the graph's own suppression leaves overlapping boxes of one class
            boxes = [[d.box[0], d.box[1], d.box[2] - d.box[0], d.box[3] - d.box[1]] for d in group]
            keep = cv2.dnn.NMSBoxes(boxes, [d.score for d in group], threshold, NMS_IOU)
            kept.extend(group[int(i)] for i in np.asarray(keep).reshape(-1))
        return sorted(kept, key=lambda d: -d.score)


@dataclass
class PersonSegmenter:
    net: Any
    lock: threading.Lock = field(default_factory=threading.Lock)

    def probability(self, image: Image.Image) -> np.ndarray:
        """Person probability per pixel, float32 in [0, 1], at the image's size (height, width)."""
        blob = cv2.dnn.blobFromImage(np.asarray(image.convert("RGB")), 1 / 255.0, (SEGMENTER_SIZE, SEGMENTER_SIZE), swapRB=False)
        with self.lock:
            self.net.setInput(blob)
            out = self.net.forward()[0, 0]
        return cv2.resize(out.astype(np.float32), image.size, interpolation=cv2.INTER_LINEAR).clip(0.0, 1.0)


@dataclass
class PoseEstimator:
    interpreter: Any
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keypoints(self, image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
        """COCO-17 keypoints (x, y) in the image's pixels and their scores, for the main person."""
        side = max(image.size)
        square = Image.new("RGB", (side, side))
        left, top = (side - image.width) // 2, (side - image.height) // 2
        square.paste(image.convert("RGB"), (left, top))
        detail = self.interpreter.get_input_details()[0]
        tensor = np.asarray(square.resize((POSE_SIZE, POSE_SIZE), Image.Resampling.BILINEAR), dtype=detail["dtype"])[None]
        with self.lock:
            self.interpreter.set_tensor(detail["index"], tensor)
            self.interpreter.invoke()
            out = self.interpreter.get_tensor(self.interpreter.get_output_details()[0]["index"])[0, 0].copy()
        points = np.stack([out[:, 1] * side - left, out[:, 0] * side - top], axis=1)  # MoveNet gives (y, x, score)
        return points.astype(np.float32), out[:, 2].astype(np.float32)


def _file_size(*paths: Any) -> int:
    return sum(p.stat().st_size for p in paths)


def detector(pool: Any) -> Detector:
    """The COCO detector, loaded on first use (about 0.4 s) and shared by every tool after."""

    def load() -> Detector:
        graph, config = assets.packaged_model(assets.DETECTOR_GRAPH), assets.packaged_model(assets.DETECTOR_CONFIG)
        return Detector(cv2.dnn.readNetFromTensorflow(str(graph), str(config)))

    return pool.get("perception:ssd_mobilenet_v2_coco", load, size_bytes=_file_size(assets.packaged_model(assets.DETECTOR_GRAPH)))


def person_segmenter(pool: Any) -> PersonSegmenter:
    path = assets.selfie_model()
    return pool.get("perception:selfie_segmentation", lambda: PersonSegmenter(cv2.dnn.readNetFromTFLite(str(path))), size_bytes=_file_size(path))


def pose_estimator(pool: Any) -> PoseEstimator:
    path = assets.packaged_model(assets.POSE_MODEL)

    def load() -> PoseEstimator:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise ConfigError("the pose model needs LiteRT: pip install ai-edge-litert==1.4.0 (./setup.sh does)") from None
        interpreter = Interpreter(model_path=str(path), num_threads=THREADS)
        interpreter.allocate_tensors()
        return PoseEstimator(interpreter)

    return pool.get("perception:movenet_lightning", load, size_bytes=_file_size(path))


def pool_of(ctx: Any) -> Any:
    if getattr(ctx, "models", None) is None:
        raise ConfigError("perception tools need the model pool: run them through Runtime (or Executor(models=ModelPool(...)))")
    return ctx.models
