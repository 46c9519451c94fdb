"""Checking and fetching a profile's weights: the library side of `llmga models check|pull`.

Every role of the profile counts, image, video and audio alike, plus the models a role's loader
fetches by itself (``requires``: audiocraft's T5). Each model is fetched in the layout its loader
reads: diffusers folders (configs, tokenizers, safetensors; the ``variant`` files when the role names
one), transformers checkpoints (root-level configs, tokenizer files, safetensors) or audiocraft state
dicts, never the multi-GB single-file checkpoints many repositories also carry. ``check`` reads only
the local cache; ``pull`` is the one place that reaches the network.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tools.errors import ConfigError
from tools.models.profile import TINY_PREFIX, Profile, RoleSpec

DIFFUSERS = [
    "model_index.json",
    "config.json",
    "diffusion_pytorch_model.safetensors",
    "*/*.json",
    "*/*.txt",
    "*/*.model",
    "*/diffusion_pytorch_model.safetensors",
    "*/model.safetensors",
]
TRANSFORMERS = ["*.json", "*.txt", "*.model", "model.safetensors", "model-*-of-*.safetensors"]
AUDIOCRAFT = ["state_dict.bin", "compression_state_dict.bin"]
TRANSFORMERS_TASKS = ("depth_estimation", "pose_estimation", "musicgen")


@dataclass(frozen=True)
class Need:
    """One model a profile needs, how it is fetched, and the file whose presence says it is here."""

    model: str
    roles: tuple[str, ...]
    patterns: tuple[str, ...]
    marker: str
    revision: str | None = None


@dataclass
class ModelStatus:
    model: str
    ok: bool
    detail: str


def _layout(spec: RoleSpec) -> tuple[list[str], str]:
    """Allow patterns and marker file for the role's own model."""
    if spec.task in TRANSFORMERS_TASKS:
        return TRANSFORMERS, "config.json"
    if spec.task == "audiogen":
        return AUDIOCRAFT, "state_dict.bin"
    patterns = DIFFUSERS
    if spec.variant:
        patterns = [p.replace(".safetensors", f".{spec.variant}.safetensors") if p.endswith(".safetensors") else p for p in DIFFUSERS]
    if spec.components:
        return patterns, f"{spec.components[0]}/config.json"
    return patterns, "config.json" if spec.base is not None else "model_index.json"


def needs(profile: Profile) -> list[Need]:
    """Every model the profile's roles load, once each, in role order (tiny builds included)."""
    found: dict[str, Need] = {}

    def add(model: str, role: str, patterns: list[str], marker: str, revision: str | None) -> None:
        if model in found:
            old = found[model]
            found[model] = Need(model, (*old.roles, role), tuple(dict.fromkeys((*old.patterns, *patterns))), old.marker, old.revision)
        else:
            found[model] = Need(model, (role,), tuple(patterns), marker, revision)

    for role, spec in profile.roles.items():
        if spec.model:
            add(spec.model, role, *_layout(spec), spec.revision)
        for extra in spec.requires:
            add(extra, role, TRANSFORMERS, "config.json", None)
    return list(found.values())


def _cached(need: Need, hub_cache: Path | None) -> str | None:
    """The cached marker file of ``need``, or None; reads the cache folder only, never the network."""
    from huggingface_hub import try_to_load_from_cache

    path = try_to_load_from_cache(need.model, need.marker, cache_dir=hub_cache, revision=need.revision)
    return path if isinstance(path, str) else None


def _local(need: Need, cache_dir: Path | None) -> ModelStatus | None:
    """Status of a tiny build or a local folder; None for a hub model."""
    from tools.models.diffusion import default_cache_dir
    from tools.models.tiny import tiny_path

    if need.model.startswith(TINY_PREFIX):
        folder = tiny_path(need.model.removeprefix(TINY_PREFIX), cache_dir or default_cache_dir())
        return ModelStatus(need.model, True, f"built in {folder}" if folder.is_dir() else "built offline on first use (untrained)")
    if Path(need.model).expanduser().is_dir():
        return ModelStatus(need.model, True, "local folder")
    if need.model.startswith(("/", "./", "../", "~")):
        return ModelStatus(need.model, False, "local folder does not exist")
    return None


def check_profile(profile: Profile, cache_dir: Path | None, hub_cache: Path | None = None) -> list[ModelStatus]:
    """Whether each model of the profile would load now, without touching the network."""
    statuses = []
    for need in needs(profile):
        status = _local(need, cache_dir)
        if status is None:
            path = _cached(need, hub_cache)
            where = f"for {', '.join(need.roles)}"
            status = ModelStatus(need.model, path is not None, f"{where}: in the Hugging Face cache" if path else f"{where}: not in the Hugging Face cache")
        statuses.append(status)
    return statuses


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def pull_profile(
    profile: Profile, cache_dir: Path | None, echo: Callable[[str], None] = print, hub_cache: Path | None = None
) -> list[ModelStatus]:
    """Fetch every hub model of the profile and build its tiny ones; one ConfigError naming the model when that fails."""
    from huggingface_hub import snapshot_download

    from tools.models.diffusion import default_cache_dir
    from tools.models.tiny import tiny_dir

    done = []
    for need in needs(profile):
        status = _local(need, cache_dir)
        if status is not None:
            if need.model.startswith(TINY_PREFIX):
                status.detail = f"built in {tiny_dir(need.model.removeprefix(TINY_PREFIX), cache_dir or default_cache_dir())}"
            elif not status.ok:
                raise ConfigError(f"model folder {need.model} of profile '{profile.name}' does not exist")
            done.append(status)
            continue
        if _offline():
            if _cached(need, hub_cache):
                done.append(ModelStatus(need.model, True, "in the Hugging Face cache (offline: not refreshed)"))
                continue
            raise ConfigError(
                f"cannot download '{need.model}' (for {', '.join(need.roles)} of profile '{profile.name}'): HF_HUB_OFFLINE is set. "
                "Unset it on a machine with network access to huggingface.co, or copy a Hugging Face cache (HF_HOME) from one."
            )
        echo(f"  fetching {need.model} ...")
        try:
            path = snapshot_download(need.model, allow_patterns=list(need.patterns), revision=need.revision, cache_dir=hub_cache)
        except (OSError, ValueError) as exc:  # no network, unknown repo, gated repo
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"could not download '{need.model}' for profile '{profile.name}': {first}. "
                "This needs network access to huggingface.co; otherwise copy a Hugging Face cache (HF_HOME) from a machine that has it."
            ) from None
        done.append(ModelStatus(need.model, True, f"in {path}"))
    return done
