"""Restoration tools on real pixels: harmonize, Real-ESRGAN upscale, remove_object.

The harmonisation case is synthetic but honest: a real photo is the ground truth, a region of it
gets the brightness/contrast/colour shift a diffusion fill typically has (which also makes a
visible seam), and the tool must bring it measurably back.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from graphs.executor import Executor
from graphs.plan import Plan, bind
from tools.artifacts import Kind, Workspace, png_recipe
from tools.base import ToolContext
from tools.errors import ToolFailure
from tools.models.pool import ModelPool
from tools.registry import load_registry
from tools.restore.harmonize import Harmonize
from tools.restore.remove import RemoveObject
from tools.restore.upscale import Upscale

ASSET = Path(__file__).resolve().parents[2] / "examples" / "assets" / "car_on_road.png"


# -- fixtures and measures ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def truth() -> np.ndarray:
    return np.asarray(Image.open(ASSET).convert("RGB"))


def ellipse_mask(shape: tuple[int, int], centre: tuple[int, int], axes: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 255, -1)
    return mask > 0


def shifted(truth: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The truth with ``region`` made 25% punchier, brighter and warmer, as a bad fill would be."""
    out = truth.astype(np.float32)
    mean = out[region].mean(0)
    out[region] = (out[region] - mean) * 1.25 + mean + np.array([25.0, 12.0, -18.0])
    return np.clip(out, 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64))[where] ** 2).mean())
    return 10 * np.log10(255.0**2 / mse)


def seam_error(img: np.ndarray, truth: np.ndarray, region: np.ndarray) -> float:
    """Mean |difference step - true step| over pixel pairs that straddle the mask edge."""
    errors = []
    for axis in (0, 1):
        step = np.diff(img.astype(np.float64), axis=axis) - np.diff(truth.astype(np.float64), axis=axis)
        across = np.diff(region.astype(np.int8), axis=axis) != 0
        errors.append(np.abs(step).mean(-1)[across])
    return float(np.concatenate(errors).mean())


class Stub:
    """An ArtifactHandle stand-in for calling a tool's ``run`` directly on in-memory pixels."""

    def __init__(self, img: Image.Image):
        self._img = img

    def image(self) -> Image.Image:
        return self._img


def context(tmp_path: Path, models: object = None) -> ToolContext:
    return ToolContext(step_id="t", seed=None, scratch_parent=tmp_path, models=models)


def as_mask(region: np.ndarray) -> Image.Image:
    return Image.fromarray(region.astype(np.uint8) * 255, "L")


# -- harmonize ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "case, region",
    [
        ("inpaint", lambda s: ellipse_mask(s, (128, 100), (60, 40))),
        ("outpaint", lambda s: np.pad(np.ones((s[0], s[1] - 170), bool), ((0, 0), (170, 0)))),
    ],
)
def test_harmonize_brings_a_shifted_region_back(truth: np.ndarray, tmp_path: Path, case: str, region) -> None:
    generated = region(truth.shape[:2])
    broken = shifted(truth, generated)
    out = Harmonize().run(context(tmp_path), Harmonize.Params(), image=Stub(Image.fromarray(broken)), mask=Stub(as_mask(generated)))
    fixed = np.asarray(out["image"].value)
    before = psnr(broken, truth, generated), seam_error(broken, truth, generated)
    after = psnr(fixed, truth, generated), seam_error(fixed, truth, generated)
    print(f"\nharmonize {case}: PSNR {before[0]:.2f} -> {after[0]:.2f} dB, seam error {before[1]:.2f} -> {after[1]:.2f}")
    assert after[0] > before[0] + 5.0
    assert after[1] < before[1] / 3
    assert np.array_equal(fixed[~generated], truth[~generated]), "kept pixels must not change"
    assert out["image"].meta["fit"]["L"]["gain"] < 1.0, "the region was made punchier; the fit must reduce contrast"


def test_harmonize_leaves_a_matching_region_nearly_alone(truth: np.ndarray, tmp_path: Path) -> None:
    generated = ellipse_mask(truth.shape[:2], (128, 100), (60, 40))
    out = Harmonize().run(context(tmp_path), Harmonize.Params(), image=Stub(Image.fromarray(truth)), mask=Stub(as_mask(generated)))
    assert psnr(np.asarray(out["image"].value), truth, generated) > 25.0


# -- bad input -----------------------------------------------------------------------------------
def test_mask_of_another_size_is_resized_with_a_warning(truth: np.ndarray, tmp_path: Path) -> None:
    generated = ellipse_mask(truth.shape[:2], (128, 100), (60, 40))
    small = as_mask(generated).resize((128, 96), Image.Resampling.NEAREST)
    ctx = context(tmp_path)
    out = Harmonize().run(ctx, Harmonize.Params(), image=Stub(Image.fromarray(shifted(truth, generated))), mask=Stub(small))
    assert out["image"].value.size == (256, 192)
    assert any("resized" in w and "128x96" in w for w in ctx.warnings)


@pytest.mark.parametrize("tool", [Harmonize, RemoveObject])
def test_empty_and_full_masks_fail_clearly(truth: np.ndarray, tmp_path: Path, tool) -> None:
    img = Stub(Image.fromarray(truth))
    with pytest.raises(ToolFailure, match="mask is empty"):
        tool().run(context(tmp_path), tool.Params(), image=img, mask=Stub(Image.new("L", (256, 192), 0)))
    with pytest.raises(ToolFailure, match="all white"):
        tool().run(context(tmp_path), tool.Params(), image=img, mask=Stub(Image.new("L", (256, 192), 255)))


def test_upscale_refuses_an_output_over_the_pixel_budget(tmp_path: Path) -> None:
    huge = Stub(Image.new("RGB", (1100, 1100)))
    with pytest.raises(ToolFailure, match="over the .* MP limit"):
        Upscale().run(context(tmp_path), Upscale.Params(scale=4), image=huge)


# -- remove_object -------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["telea", "ns"])
def test_remove_object_fills_a_blob_from_its_surroundings(truth: np.ndarray, tmp_path: Path, method: str) -> None:
    hole = ellipse_mask(truth.shape[:2], (60, 160), (14, 9))  # on the road, below the car
    damaged = truth.copy()
    damaged[hole] = (255, 0, 255)  # the "object": a magenta blob
    out = RemoveObject().run(context(tmp_path), RemoveObject.Params(method=method), image=Stub(Image.fromarray(damaged)), mask=Stub(as_mask(hole)))
    filled = np.asarray(out["image"].value)
    before, after = psnr(damaged, truth, hole), psnr(filled, truth, hole)
    print(f"\nremove_object {method}: PSNR in the hole {before:.2f} -> {after:.2f} dB")
    assert after > before + 10.0
    assert np.array_equal(filled[~hole], truth[~hole])


# -- upscale (real Real-ESRGAN weights) ------------------------------------------------------------
def laplacian_energy(img: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float64), cv2.CV_64F).var())


def test_upscale_x4_is_super_resolution_not_a_resize(truth: np.ndarray, tmp_path: Path) -> None:
    crop = Image.fromarray(truth[96:144, 100:148])  # 48x48 of the car and road
    pool = ModelPool()
    started = time.perf_counter()
    out = Upscale().run(context(tmp_path, pool), Upscale.Params(scale=4), image=Stub(crop))
    seconds = time.perf_counter() - started
    sr = np.asarray(out["image"].value)
    assert sr.shape == (192, 192, 3)
    bicubic = np.asarray(crop.resize((192, 192), Image.Resampling.BICUBIC))
    lanczos = np.asarray(crop.resize((192, 192), Image.Resampling.LANCZOS))
    diff_bicubic = float(np.abs(sr.astype(float) - bicubic).mean())
    diff_lanczos = float(np.abs(sr.astype(float) - lanczos).mean())
    sharp = laplacian_energy(sr), laplacian_energy(bicubic)
    print(
        f"\nupscale x4plus 48->192: {seconds:.2f} s (with load); mean |SR - bicubic| {diff_bicubic:.2f}, "
        f"|SR - lanczos| {diff_lanczos:.2f}; Laplacian energy SR {sharp[0]:.1f} vs bicubic {sharp[1]:.1f}"
    )
    assert diff_bicubic > 2.0 and diff_lanczos > 2.0
    assert sharp[0] > 1.5 * sharp[1], "Real-ESRGAN restores edges a bicubic resize blurs"
    # same colours overall: super-resolution, not a different picture
    assert abs(float(sr.mean()) - float(bicubic.mean())) < 8.0

    again = Upscale().run(context(tmp_path, pool), Upscale.Params(scale=2), image=Stub(crop))
    assert again["image"].value.size == (96, 96)
    assert pool.stats.loads == 1 and pool.stats.hits == 1, "the network loads once per process"


# -- through the executor: lineage and PNG recipe ------------------------------------------------
def test_restore_chain_through_the_executor(truth: np.ndarray, tmp_path: Path) -> None:
    session = Workspace(tmp_path / "ws").new_session()
    generated = np.pad(np.ones((64, 24), bool), ((0, 0), (40, 0)))
    small_truth = truth[96:160, 96:160]
    image = session.add(Kind.IMAGE, Image.fromarray(shifted(small_truth, generated)), tool="import")
    mask = session.add(Kind.MASK, as_mask(generated), tool="import")
    plan = Plan.model_validate(
        {
            "steps": [
                {"id": "fix", "tool": "harmonize", "args": {"image": f"${{{image.id}}}", "mask": f"${{{mask.id}}}"}},
                {"id": "clean", "tool": "remove_object", "args": {"image": "${fix}", "mask": f"${{{mask.id}}}", "radius": 3}},
                {"id": "big", "tool": "upscale", "args": {"image": "${fix}", "scale": 2, "model": "animevideov3"}},
            ],
            "outputs": {"result": "${big.image}"},
        }
    )
    result = Executor(session, models=ModelPool()).run(bind(plan, load_registry(only=["restore"]), session))
    assert result.ok, {s: r.error for s, r in result.steps.items()}
    fixed = session.get(result.steps["fix"].outputs["image"])
    big = session.get(result.outputs["result"])
    assert fixed.parents == {"image": image.id, "mask": mask.id}
    assert big.parents == {"image": fixed.id} and (big.meta["width"], big.meta["height"]) == (128, 128)
    recipe = png_recipe(session.path(big))
    assert recipe["tool"] == "upscale" and recipe["args"]["scale"] == 2 and recipe["parents"] == {"image": fixed.id}
    assert fixed.meta["method"] == "membrane" and "fit" in fixed.meta
    assert psnr(np.asarray(Image.open(session.path(fixed))), small_truth, generated) > psnr(
        np.asarray(Image.open(session.path(image))), small_truth, generated
    )
