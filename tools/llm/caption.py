"""Captioner: describe an image or a video frame with an image-reading (MLLM) backend.

Without one (the usual offline case), the caption falls back to the prompt recorded in the
artifact's lineage, and the result says so (``source="lineage"`` plus a warning); with neither,
``caption`` raises ``ToolFailure`` instead of inventing a description.
"""

from __future__ import annotations

import base64
import io
from typing import Literal

from langchain_core.messages import HumanMessage, SystemMessage
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from prompts import render
from tools.errors import ToolFailure
from tools.llm.protocol import LLMBackend
from tools.llm.structured import ask


class CaptionText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    caption: str = Field(min_length=3, max_length=600)


class Caption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    source: Literal["model", "lineage"]
    model: str | None = None
    warning: str | None = None


def image_block(image: Image.Image, *, max_side: int = 672) -> dict:
    """A LangChain image content block (base64 PNG), downscaled so a long side is at most ``max_side``."""
    copy = image.convert("RGB")
    copy.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    copy.save(buffer, format="PNG")
    return {"type": "image", "base64": base64.b64encode(buffer.getvalue()).decode(), "mime_type": "image/png"}


def caption(
    image: Image.Image | None,
    *,
    vision: LLMBackend | None,
    lineage_prompt: str | None = None,
    lineage_source: str = "its recipe",
    detail: Literal["short", "detailed"] = "short",
) -> Caption:
    if vision is not None:
        if image is None:
            raise ToolFailure("caption: an image-reading model is configured but no image was given")
        messages = [
            SystemMessage(render("caption_system", detail=detail)),
            HumanMessage(content=[image_block(image), {"type": "text", "text": render("caption_request", detail=detail)}]),
        ]
        answer = ask(vision, messages, CaptionText, role="caption", attempts=2, max_tokens=200)
        return Caption(text=answer.value.caption.strip(), source="model", model=vision.name)
    if lineage_prompt:
        return Caption(
            text=lineage_prompt,
            source="lineage",
            warning=f"no image-reading model is configured (LLMGA_VISION); the caption is the prompt recorded in {lineage_source}, not a description of the pixels",
        )
    raise ToolFailure("no image-reading model is configured (set LLMGA_VISION) and the artifact has no prompt in its lineage to fall back to")
