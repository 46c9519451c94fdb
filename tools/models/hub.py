"""Checking and fetching a profile's weights: the library side of `llmga models check|pull`.

Only the files diffusers loads are fetched (configs, tokenizers, safetensors in diffusers layout),
not the multi-GB single-file checkpoints many repositories also carry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tools.errors import ConfigError
from tools.models.profile import TINY_PREFIX, Profile

ALLOW = [
    "model_index.json",
    "config.json",
    "diffusion_pytorch_model.safetensors",
    "*/*.json",
    "*/*.txt",
    "*/*.model",
    "*/diffusion_pytorch_model.safetensors",
    "*/model.safetensors",
    "model.safetensors",  # transformers checkpoints (depth and pose estimators) keep weights at the root
    "preprocessor_config.json",
]


@dataclass
class ModelStatus:
    model: str
    ok: bool
    detail: str


def _models(profile: Profile) -> list[str]:
    found: list[str] = []
    for spec in profile.roles.values():
        if spec.model and spec.model not in found:
            found.append(spec.model)
    return found


def check_profile(profile: Profile, cache_dir: Path | None) -> list[ModelStatus]:
    """Whether each model of the profile would load now, without touching the network."""
    from huggingface_hub import snapshot_download

    from tools.models.diffusion import default_cache_dir
    from tools.models.tiny import TINY_VERSION

    statuses = []
    for model in _models(profile):
        if model.startswith(TINY_PREFIX):
            folder = Path(cache_dir or default_cache_dir()) / "tiny" / f"{model.removeprefix(TINY_PREFIX)}-v{TINY_VERSION}"
            detail = f"built in {folder}" if folder.is_dir() else "built offline on first use (untrained)"
            statuses.append(ModelStatus(model, True, detail))
        elif Path(model).expanduser().is_dir():
            statuses.append(ModelStatus(model, True, "local folder"))
        else:
            try:
                path = snapshot_download(model, allow_patterns=ALLOW, local_files_only=True)
                statuses.append(ModelStatus(model, True, f"in the Hugging Face cache ({path})"))
            except (OSError, ValueError):
                statuses.append(ModelStatus(model, False, "not in the Hugging Face cache"))
    return statuses


def pull_profile(profile: Profile, cache_dir: Path | None, echo: Callable[[str], None] = print) -> list[ModelStatus]:
    """Fetch every hub model of the profile; one ConfigError naming the model when that fails."""
    from huggingface_hub import snapshot_download

    from tools.models.diffusion import default_cache_dir
    from tools.models.tiny import tiny_dir

    done = []
    for model in _models(profile):
        if model.startswith(TINY_PREFIX):
            folder = tiny_dir(model.removeprefix(TINY_PREFIX), cache_dir or default_cache_dir())
            done.append(ModelStatus(model, True, f"built in {folder}"))
            continue
        if Path(model).expanduser().is_dir():
            done.append(ModelStatus(model, True, "local folder"))
            continue
        echo(f"  fetching {model} ...")
        try:
            path = snapshot_download(model, allow_patterns=ALLOW)
        except (OSError, ValueError) as exc:  # offline, no network, unknown repo, gated repo
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"could not download '{model}' for profile '{profile.name}': {first}. "
                "This needs network access to huggingface.co (and HF_HUB_OFFLINE unset); "
                "otherwise copy a Hugging Face cache (HF_HOME) from a machine that has it."
            ) from None
        done.append(ModelStatus(model, True, f"in {path}"))
    return done
