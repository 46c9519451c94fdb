"""Choosing and building a planner backend.

The name comes from, first to last: the caller (``--planner`` flag), ``LLMGA_PLANNER``, the
``planner:`` section of the config file, then ``embedded``. Options merge the same way, per
field: flag keyword > ``LLMGA_PLANNER_<FIELD>`` environment variable > config file. The config
file is ``LLMGA_CONFIG`` or ``<user config dir>/llmga/config.yaml``::

    planner:
      backend: openai
      base_url: http://127.0.0.1:8000/v1
      model: Qwen/Qwen2.5-7B-Instruct
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from platformdirs import user_config_dir
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from tools.errors import ConfigError
from tools.llm.protocol import LLMBackend

BackendName = Literal["embedded", "openai", "ollama", "llmga", "fake"]
DEFAULT_BACKEND: BackendName = "embedded"
ENV_NAME = "LLMGA_PLANNER"
ENV_PREFIX = "LLMGA_PLANNER_"


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EmbeddedOptions(_Options):
    model_path: Path | None = Field(None, description="a GGUF to use instead of the assembled Qwen2.5-Coder-1.5B")
    cache_dir: Path | None = Field(None, description="where the assembled GGUF is kept (default: user cache)")
    n_ctx: int = Field(8192, ge=512, le=131072, description="context window in tokens")
    n_threads: int | None = Field(None, ge=1, description="CPU threads (default: all available)")


class OpenAIOptions(_Options):
    base_url: str = Field(..., description="e.g. http://127.0.0.1:8000/v1 (vLLM), :8080/v1 (llama.cpp), :1234/v1 (LM Studio)")
    model: str
    api_key: SecretStr | None = None
    timeout: float = Field(300.0, gt=0)
    max_retries: int = Field(1, ge=0, le=10)


class OllamaOptions(_Options):
    model: str
    base_url: str = "http://127.0.0.1:11434"
    timeout: float = Field(300.0, gt=0)
    num_ctx: int | None = Field(None, ge=512)


class LLMGAOptions(_Options):
    checkpoint: Path = Field(..., description="an LLMGA checkpoint folder")
    device: str = "auto"
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"
    vision_tower: str | None = Field(None, description="override config.json's mm_vision_tower (id or folder)")
    conv_template: Literal["auto", "chat_template", "vicuna_v1", "llama_2"] = "auto"


class FakeOptions(_Options):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    responses: list[Any] = Field(default_factory=list)


OPTIONS: dict[str, type[_Options]] = {
    "embedded": EmbeddedOptions,
    "openai": OpenAIOptions,
    "ollama": OllamaOptions,
    "llmga": LLMGAOptions,
    "fake": FakeOptions,
}


def config_file_path() -> Path:
    env = os.environ.get("LLMGA_CONFIG")
    return Path(env) if env else Path(user_config_dir("llmga", appauthor=False)) / "config.yaml"


def read_planner_section(path: Path | None = None) -> dict[str, Any]:
    path = path or config_file_path()
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    section = data.get("planner", {}) if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: 'planner' must be a mapping (backend: ..., plus that backend's options)")
    return dict(section)


def _env_options(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: os.environ[ENV_PREFIX + name.upper()] for name in fields if ENV_PREFIX + name.upper() in os.environ}


def resolve_options(name: str | None = None, *, config_path: Path | None = None, **flags: Any) -> tuple[str, _Options]:
    """The backend name and its validated options, merged flag > env > config file > default."""
    section = read_planner_section(config_path)
    file_backend = section.pop("backend", None)
    chosen = name or os.environ.get(ENV_NAME) or file_backend or DEFAULT_BACKEND
    if chosen not in OPTIONS:
        raise ConfigError(f"unknown planner backend {chosen!r}; choose one of: {', '.join(OPTIONS)}")
    model = OPTIONS[chosen]
    # A config file written for another backend does not leak its options into this one.
    file_opts = section if (file_backend in (None, chosen)) else {}
    merged = {**file_opts, **_env_options(model.model_fields), **{k: v for k, v in flags.items() if v is not None}}
    try:
        return chosen, model.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(
            f"planner backend {chosen!r} is misconfigured: {problems}. Set it with flags, "
            f"{ENV_PREFIX}<OPTION> environment variables, or the 'planner:' section of {config_path or config_file_path()}"
        ) from exc


def get_backend(name: str | None = None, *, config_path: Path | None = None, **options: Any) -> LLMBackend:
    """Build the backend ``name`` (or the configured one). Nothing loads until its first ``generate``."""
    chosen, opts = resolve_options(name, config_path=config_path, **options)
    if chosen == "embedded":
        from agent.llm.embedded import EmbeddedBackend

        assert isinstance(opts, EmbeddedOptions)
        return EmbeddedBackend(model_path=opts.model_path, cache_dir=opts.cache_dir, n_ctx=opts.n_ctx, n_threads=opts.n_threads)
    if chosen == "openai":
        from agent.llm.openai_compat import OpenAICompatBackend

        assert isinstance(opts, OpenAIOptions)
        key = opts.api_key.get_secret_value() if opts.api_key else None
        return OpenAICompatBackend(base_url=opts.base_url, model=opts.model, api_key=key, timeout=opts.timeout, max_retries=opts.max_retries)
    if chosen == "ollama":
        from agent.llm.ollama import OllamaBackend

        assert isinstance(opts, OllamaOptions)
        return OllamaBackend(model=opts.model, base_url=opts.base_url, timeout=opts.timeout, num_ctx=opts.num_ctx)
    if chosen == "llmga":
        from agent.llm.llmga import LLMGABackend

        assert isinstance(opts, LLMGAOptions)
        return LLMGABackend(checkpoint=opts.checkpoint, device=opts.device, dtype=opts.dtype, vision_tower=opts.vision_tower, conv_template=opts.conv_template)
    from agent.llm.fake import FakeBackend

    assert isinstance(opts, FakeOptions)
    return FakeBackend(opts.responses)


VISION_ENV = "LLMGA_VISION"


def configured_vision() -> LLMBackend | None:
    """The backend that reads images for caption/VQA tools, or None: ``LLMGA_VISION`` names one;
    unset, the planner's backend is used when it is an MLLM (LLMGA checkpoints)."""
    name = os.environ.get(VISION_ENV, "").strip()
    if name:
        backend = get_backend(name)
        if not getattr(backend, "accepts_images", False):
            raise ConfigError(f"{VISION_ENV}={name}: that backend cannot read images here; use 'llmga' (an LLMGA checkpoint)")
        return backend
    chosen, _ = resolve_options()
    return get_backend() if chosen == "llmga" else None
