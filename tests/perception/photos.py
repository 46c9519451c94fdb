"""Real photos for the perception tests: scikit-image's sample photos and side-by-side composites of them,
with boxes checked by eye on each picture (pixels, x0, y0, x1, y1)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PIL import Image

SKIMAGE_DATA = Path(next(iter(importlib.util.find_spec("skimage").submodule_search_locations))) / "data"


def photo(name: str) -> Image.Image:
    return Image.open(SKIMAGE_DATA / name).convert("RGB")


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    """Two photos at one height next to each other (the right one scaled to the left one's height)."""
    right = right.resize((round(right.width * left.height / right.height), left.height))
    canvas = Image.new("RGB", (left.width + right.width, left.height))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width, 0))
    return canvas


def two_motorcycles() -> Image.Image:
    """motorcycle_left.png (741x500) and the mirrored motorcycle_right.png beside it: 1482x500."""
    return side_by_side(photo("motorcycle_left.png"), photo("motorcycle_right.png").transpose(Image.Transpose.FLIP_LEFT_RIGHT))


def two_cats() -> Image.Image:
    """chelsea.png (451x300) and its mirror image: 902x300."""
    cat = photo("chelsea.png")
    return side_by_side(cat, cat.transpose(Image.Transpose.FLIP_LEFT_RIGHT))


def cup_and_cat() -> Image.Image:
    """coffee.png (600x400; a cup on its saucer) left of chelsea.png scaled to 400 high."""
    return side_by_side(photo("coffee.png"), photo("chelsea.png"))


# Boxes drawn by eye on each photo (with a 50 px grid over it), not taken from the detector.
HAND_BOXES = {
    "astronaut.png": {"the astronaut": (20, 15, 365, 512)},
    "camera.png": {"the man": (0, 65, 330, 512)},
    "horse.png": {"the horse": (15, 8, 390, 312)},
    "chelsea.png": {"the cat": (0, 0, 390, 300)},
    "coffee.png": {"the cup": (175, 18, 410, 305)},
    "two_motorcycles": {"the motorcycle on the left": (90, 55, 690, 450),
                        "the motorcycle on the right": (741 + 55, 55, 741 + 680, 445)},
}  # fmt: skip
