"""Harmonisation after inpainting or outpainting: the generated region made to fit the kept one.

A diffusion model fills a masked region with content that is often slightly off: brighter or
darker, flatter or punchier, tinted, and with a visible step at the mask edge. LLMGA's DiffRIR
restorer exists to remove exactly that. This module does it classically, in two stages:

1. **Statistics transfer** (all methods): in Lab, each channel of the generated region gets the
   gain and offset that map its statistics onto the kept region's. Both are measured on bands of
   ``band`` pixels on either side of the seam by default, where the content on both sides is
   most alike, so an inpainted *object* keeps its own colours while the global brightness,
   contrast and tint mismatch goes.
2. **Seam removal**: ``membrane`` adds a smooth correction field that equals the colour step on
   the region's edge (a pull-push interpolation standing in for Poisson blending's membrane), so
   the edge meets the kept pixels and the texture inside is kept.
   (OpenCV's ``seamlessClone`` was tried first: in OpenCV 5.0 it rewrites the mask argument in
   place and pins the mask's own edge to the destination, so it left the seam in place.)

Methods live in ``HARMONIZERS``: a model-based restorer (DiffRIR or similar) is one more entry
with the same signature, and one more value of ``Harmonize.Params.method``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from PIL import Image
from pydantic import Field

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Produced, Tool, ToolContext, ToolParams
from tools.restore.masks import binary_mask, require_kept

MIN_SAMPLES = 64
"""Fewer pixels than this in a seam band gives noisy statistics; the whole region is used then."""
GAIN_RANGE = (0.5, 2.0)
"""A contrast correction outside this range is more likely a content difference than a mismatch."""
LAB_CHANNELS = ("L", "a", "b")


@dataclass(frozen=True)
class Settings:
    """What every harmonizer receives besides the pixels."""

    band: int
    reference: Literal["band", "region"]
    strength: float


@dataclass(frozen=True)
class Harmonized:
    image: np.ndarray
    """uint8 RGB, kept pixels unchanged."""
    notes: dict[str, object]


Harmonizer = Callable[[np.ndarray, np.ndarray, Settings], Harmonized]


def _to_lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _to_rgb(lab: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def seam_distances(generated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (px) of each generated pixel to the kept region, and of each kept pixel to the generated one."""
    inside = cv2.distanceTransform(generated.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~generated).astype(np.uint8), cv2.DIST_L2, 5)
    return inside, outside


def sample_regions(generated: np.ndarray, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Which pixels describe the generated side and the kept side of the seam.

    With ``reference="band"`` these are the pixels within ``band`` of the seam on each side, so
    both samples show the same kind of content; a band too thin to measure falls back to the
    whole regions.
    """
    kept = ~generated
    if settings.reference == "band":
        inside, outside = seam_distances(generated)
        source = generated & (inside <= settings.band)
        target = kept & (outside <= settings.band)
        if source.sum() >= MIN_SAMPLES and target.sum() >= MIN_SAMPLES:
            return source, target
    return generated, kept


def transfer_statistics(rgb: np.ndarray, generated: np.ndarray, settings: Settings) -> tuple[np.ndarray, dict[str, object]]:
    """Stage 1: per-channel Lab mean/std transfer onto the generated region; returns Lab and the fit."""
    lab = _to_lab(rgb)
    source, target = sample_regions(generated, settings)
    out = lab.copy()
    fit: dict[str, object] = {}
    for c, name in enumerate(LAB_CHANNELS):
        src, ref = lab[..., c][source], lab[..., c][target]
        gain = float(np.clip(ref.std() / max(float(src.std()), 1e-3), *GAIN_RANGE))
        offset = float(ref.mean() - gain * src.mean())
        region = lab[..., c][generated]
        corrected = gain * region + offset
        out[..., c][generated] = region + settings.strength * (corrected - region)
        fit[name] = {"gain": round(gain, 4), "offset": round(offset, 3)}
    return out, {"fit": fit, "samples": {"generated": int(source.sum()), "kept": int(target.sum())}}


def seam_steps(rgb: np.ndarray, generated: np.ndarray, corrected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The colour step at the seam: for each generated pixel touching the kept region, the mean
    of its kept 8-neighbours minus its own (corrected) value. Returns (steps, where measured)."""
    kept = (~generated).astype(np.float32)
    kept_sum = cv2.boxFilter(rgb.astype(np.float32) * kept[..., None], -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
    kept_count = cv2.boxFilter(kept, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
    edge = generated & (kept_count > 0)
    steps = np.zeros(rgb.shape, np.float32)
    steps[edge] = kept_sum[edge] / kept_count[edge][:, None] - corrected[edge].astype(np.float32)
    return steps, edge


def push_pull(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Smooth interpolation of values known at scattered pixels over the whole image.

    The pull-push scheme (Gortler et al. 1996): average known values down a Gaussian pyramid
    until every coarse pixel has support, then fill the unknown pixels of each finer level from
    the level below. Known pixels keep their value exactly; the fill between them is smooth, an
    inexpensive stand-in for the harmonic (Laplace) membrane of Poisson blending.
    """
    levels = []
    weighted, weight = values * known[..., None].astype(np.float32), known.astype(np.float32)
    while True:
        levels.append((weighted, weight))
        if min(weight.shape) <= 4:
            break
        weighted, weight = cv2.pyrDown(weighted), cv2.pyrDown(weight)
    weighted, weight = levels[-1]
    total = float(weight.sum())
    fallback = weighted.reshape(-1, weighted.shape[-1]).sum(0) / total if total > 0 else np.zeros(weighted.shape[-1], np.float32)
    estimate = np.where(weight[..., None] > 1e-6, weighted / np.maximum(weight, 1e-6)[..., None], fallback)
    for weighted, weight in reversed(levels[:-1]):
        coarse = cv2.pyrUp(estimate, dstsize=(weight.shape[1], weight.shape[0]))
        confidence = np.clip(weight, 0.0, 1.0)[..., None]
        own = weighted / np.maximum(weight, 1e-6)[..., None]
        estimate = confidence * own + (1.0 - confidence) * coarse
    return estimate


def membrane_seam(rgb: np.ndarray, generated: np.ndarray, corrected: np.ndarray) -> np.ndarray:
    """Stage 2 (``membrane``): add a smooth correction field that closes the step at the seam.

    The field equals the measured step on the region's edge and varies smoothly inside it (like
    the membrane of Poisson image editing), so the region meets the kept pixels while keeping
    its own texture and gradients.
    """
    steps, edge = seam_steps(rgb, generated, corrected)
    field = push_pull(steps, edge)
    out = corrected.astype(np.float32) + field * generated[..., None]
    out[~generated] = rgb[~generated]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def harmonize_membrane(rgb: np.ndarray, generated: np.ndarray, settings: Settings) -> Harmonized:
    lab, notes = transfer_statistics(rgb, generated, settings)
    return Harmonized(membrane_seam(rgb, generated, _to_rgb(lab)), notes)


HARMONIZERS: dict[str, Harmonizer] = {"membrane": harmonize_membrane}


class Harmonize(Tool):
    """Make an inpainted or outpainted region match the rest of the image and hide the seam.

    Corrects the generated region's brightness, contrast and colour cast towards the kept pixels
    next to it (Lab statistics transfer), then removes the step at the mask edge with a smooth
    correction field (``membrane``, like Poisson blending).
    Use it after inpaint/outpaint with the same mask. Kept pixels are never changed.
    """

    name = "harmonize"
    inputs = {
        "image": Input(Kind.IMAGE, description="the composite made by inpaint or outpaint"),
        "mask": Input(Kind.MASK, description="white = generated region"),
    }
    outputs = {"image": Kind.IMAGE}
    version = "1"
    cost = 0.5

    class Params(ToolParams):
        method: Literal["membrane"] = Field("membrane", description="how the seam is hidden")
        band: int = Field(16, ge=2, le=256, description="width in px of the seam bands whose statistics are compared")
        reference: Literal["band", "region"] = Field(
            "band", description="measure statistics near the seam (band) or over the whole regions (region)"
        )
        strength: float = Field(1.0, ge=0.0, le=1.0, description="how much of the colour correction to apply")

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle, mask: ArtifactHandle) -> dict:
        img = image.image()
        generated = binary_mask(ctx, mask.image(), img.size, purpose="the generated region to harmonize")
        require_kept(generated, purpose="the generated region to harmonize")
        settings = Settings(band=params.band, reference=params.reference, strength=params.strength)
        result = HARMONIZERS[params.method](np.asarray(img), generated, settings)
        meta = {"method": params.method, "generated_fraction": round(float(generated.mean()), 4), **result.notes}
        return {"image": Produced(Image.fromarray(result.image), meta)}
