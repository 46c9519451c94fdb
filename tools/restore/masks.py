"""Mask handling shared by the restoration tools: one policy for size mismatch and empty masks.

A mask is white where content was generated (or must be removed) and black where the image is
kept. Masks from other tools are often a different size (a layout canvas, a mask drawn on a
preview); they are resized with nearest-neighbour sampling so they stay binary, and the step
records a warning. A mask that selects nothing, or everything, leaves the tool with nothing to do
or nothing to learn from: that is a ``ToolFailure`` naming the fix.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from tools.base import ToolContext
from tools.errors import ToolFailure

THRESHOLD = 127
"""Grey levels above this count as 'white' (selected); anti-aliased edges split at mid-grey."""


def binary_mask(ctx: ToolContext, mask: Image.Image, size: tuple[int, int], *, purpose: str) -> np.ndarray:
    """The mask as a boolean array of ``size`` (width, height); True where it is white.

    ``purpose`` finishes the sentence "white marks ..." in error messages, so each tool can
    say what its mask means.
    """
    if mask.size != size:
        ctx.warn(f"mask {mask.width}x{mask.height} resized to the image's {size[0]}x{size[1]} (nearest neighbour)")
        mask = mask.resize(size, Image.Resampling.NEAREST)
    selected = np.asarray(mask.convert("L")) > THRESHOLD
    if not selected.any():
        raise ToolFailure(f"the mask is empty (all black): white marks {purpose}, and nothing is white")
    return selected


def require_kept(selected: np.ndarray, *, purpose: str) -> None:
    """Fail when the mask leaves no kept pixel to take colours or texture from."""
    if selected.all():
        raise ToolFailure(f"the mask is all white: white marks {purpose}, so no kept pixels remain to work from")
