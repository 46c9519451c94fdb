"""Shared helpers of the LLM tools: video frames."""

from __future__ import annotations

from PIL import Image

from tools.artifacts import ArtifactHandle
from tools.errors import ToolFailure


def video_frame(handle: ArtifactHandle) -> Image.Image:
    """The middle frame of a video artifact (OpenCV's bundled FFmpeg reads it)."""
    import cv2

    capture = cv2.VideoCapture(str(handle.path))
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        capture.set(cv2.CAP_PROP_POS_FRAMES, max(0, count // 2))
        ok, frame = capture.read()
    finally:
        capture.release()
    if not ok:
        raise ToolFailure(f"cannot read a frame from {handle.id}")
    return Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
