"""Shared helpers of the LLM tools: lineage prompts and video frames."""

from __future__ import annotations

from PIL import Image

from tools.artifacts import ArtifactHandle, Session
from tools.errors import ToolFailure

LINEAGE_DEPTH = 8


def lineage_prompt(handle: ArtifactHandle) -> tuple[str, str] | None:
    """The prompt that made an artifact, walking back through image/video parents; (prompt, artifact id)."""
    session = Session(handle.path.parent)
    artifact = handle.artifact
    for _ in range(LINEAGE_DEPTH):
        prompt = artifact.args.get("prompt")
        if isinstance(prompt, str) and prompt.strip():
            return prompt, artifact.id
        parents = [p for p in artifact.parents.values() if p.split("-")[0] in ("image", "video") and session.exists(p)]
        if not parents:
            return None
        artifact = session.get(parents[0])
    return None


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
