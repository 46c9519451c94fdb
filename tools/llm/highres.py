"""Hierarchical prompts for tuning-free higher resolution.

The image is upsampled, cut into overlapping patches, each patch is redrawn by img2img at an
intermediate strength with its *own* prompt, and the patches are blended back. A single global
prompt on every patch makes each one try to hold the whole scene (a face in every tile); so the
LLM writes one local prompt per patch from the global prompt, the patch's place in the grid and,
when a captioner is available, the patch's caption (``PatchPrompts``).

Blending: each patch is weighted by a window that is 1 in its interior and ramps linearly to 0
across the overlap it shares with a neighbour (never at the image border), and the result is the
weighted sum over the summed weights. Neighbouring weights add to 1 across every overlap, so
identical patches reproduce the image exactly and differing patches cross-fade over the whole
overlap instead of meeting at a seam.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from langchain_core.messages import HumanMessage, SystemMessage
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from prompts import render
from tools.llm.protocol import LLMBackend
from tools.llm.structured import Answer, ask


@dataclass(frozen=True)
class Tile:
    row: int
    col: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels


def _starts(length: int, patch: int, overlap: int) -> list[int]:
    if patch >= length:
        return [0]
    stride = patch - overlap
    starts = list(range(0, length - patch, stride))
    starts.append(length - patch)  # the last patch sits on the edge
    return sorted(set(starts))


def tiles(width: int, height: int, patch: int, overlap: int) -> list[Tile]:
    """Patches of ``patch`` pixels (clipped to the image) overlapping by at least ``overlap``."""
    if not 0 <= overlap < patch:
        raise ValueError("overlap must be at least 0 and smaller than the patch")
    xs, ys = _starts(width, patch, overlap), _starts(height, patch, overlap)
    return [Tile(r, c, (x, y, min(x + patch, width), min(y + patch, height))) for r, y in enumerate(ys) for c, x in enumerate(xs)]


def _ramp(length: int, start_overlap: int, end_overlap: int) -> np.ndarray:
    """1 inside, rising over ``start_overlap`` pixels at the start and falling over ``end_overlap`` at the end."""
    ramp = np.ones(length, dtype=np.float64)
    if start_overlap > 0:
        ramp[:start_overlap] = (np.arange(start_overlap) + 0.5) / start_overlap
    if end_overlap > 0:
        ramp[length - end_overlap :] = np.minimum(ramp[length - end_overlap :], (np.arange(end_overlap)[::-1] + 0.5) / end_overlap)
    return ramp


def weights(all_tiles: Sequence[Tile]) -> list[np.ndarray]:
    """Each tile's blending window (height x width), ramped only where it overlaps a neighbour."""
    out = []
    for tile in all_tiles:
        x0, y0, x1, y1 = tile.box
        left = max((t.box[2] - x0 for t in all_tiles if t.row == tile.row and t.box[0] < x0 < t.box[2]), default=0)
        right = max((x1 - t.box[0] for t in all_tiles if t.row == tile.row and t.box[0] < x1 < t.box[2] and t.box[0] > x0), default=0)
        top = max((t.box[3] - y0 for t in all_tiles if t.col == tile.col and t.box[1] < y0 < t.box[3]), default=0)
        bottom = max((y1 - t.box[1] for t in all_tiles if t.col == tile.col and t.box[1] < y1 < t.box[3] and t.box[1] > y0), default=0)
        out.append(np.outer(_ramp(y1 - y0, top, bottom), _ramp(x1 - x0, left, right)))
    return out


def blend(patches: Sequence[Image.Image], all_tiles: Sequence[Tile], size: tuple[int, int]) -> Image.Image:
    """Put redrawn patches back: weighted average over the overlaps (see the module docstring)."""
    width, height = size
    total = np.zeros((height, width, 3), dtype=np.float64)
    weight = np.zeros((height, width, 1), dtype=np.float64)
    for patch, tile, window in zip(patches, all_tiles, weights(all_tiles), strict=True):
        x0, y0, x1, y1 = tile.box
        pixels = np.asarray(patch.convert("RGB").resize((x1 - x0, y1 - y0)), dtype=np.float64)
        total[y0:y1, x0:x1] += pixels * window[..., None]
        weight[y0:y1, x0:x1] += window[..., None]
    if (weight <= 0).any():
        raise ValueError("the tiles do not cover the image")
    return Image.fromarray(np.clip(np.rint(total / weight), 0, 255).astype(np.uint8))


# -- the LLM's part -------------------------------------------------------------------------------
class PatchPrompt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0)
    prompt: str = Field(min_length=3, max_length=400)


class PatchPrompts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patches: list[PatchPrompt] = Field(min_length=1, max_length=64)


def place(tile: Tile, rows: int, cols: int) -> str:
    vertical = "top" if tile.row == 0 and rows > 1 else "bottom" if tile.row == rows - 1 and rows > 1 else "middle"
    horizontal = "left" if tile.col == 0 and cols > 1 else "right" if tile.col == cols - 1 and cols > 1 else "centre"
    return f"{vertical} {horizontal}" if (rows > 1 or cols > 1) else "whole image"


def patch_prompts(backend: LLMBackend, global_prompt: str, all_tiles: Sequence[Tile], *,
                  captions: Sequence[str] | None = None, attempts: int = 3, seed: int | None = None) -> Answer[PatchPrompts]:
    rows = max(t.row for t in all_tiles) + 1
    cols = max(t.col for t in all_tiles) + 1
    lines = []
    for index, tile in enumerate(all_tiles):
        line = f"patch {index}: {place(tile, rows, cols)} (row {tile.row + 1} of {rows}, column {tile.col + 1} of {cols})"
        if captions:
            line += f"; it currently shows: {captions[index]}"
        lines.append(line)

    def check(value: PatchPrompts) -> list[str]:
        got = sorted(p.index for p in value.patches)
        return [] if got == list(range(len(all_tiles))) else [f"give exactly one prompt for each patch index 0..{len(all_tiles) - 1}"]

    messages = [SystemMessage(render("highres_system")),
                HumanMessage(render("highres_request", prompt=global_prompt, patches="\n".join(lines)))]
    return ask(backend, messages, PatchPrompts, role="patch_prompts", check=check, attempts=attempts,
               max_tokens=120 + 80 * len(all_tiles), seed=seed)


def hierarchical_upscale(
    image: Image.Image,
    global_prompt: str,
    prompts_for: Callable[[Sequence[Tile]], list[str]],
    redraw: Callable[[Image.Image, str, int], Image.Image],
    *,
    scale: float = 2.0,
    patch: int = 512,
    overlap: int = 64,
) -> tuple[Image.Image, list[Tile], list[str]]:
    """Upsample, write a prompt per patch, redraw each patch (``redraw(patch, prompt, index)``), blend."""
    size = (max(8, round(image.width * scale / 8) * 8), max(8, round(image.height * scale / 8) * 8))
    big = image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    grid = tiles(*size, patch, overlap)
    local = prompts_for(grid)
    if len(local) != len(grid):
        raise ValueError(f"{len(local)} prompts for {len(grid)} patches")
    redrawn = [redraw(big.crop(t.box), p, i) for i, (t, p) in enumerate(zip(grid, local, strict=True))]
    return blend(redrawn, grid, size), grid, local
