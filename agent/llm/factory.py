"""Choosing and building a planner backend.

Backends are plugins: each is a ``PlannerPlugin`` (typed options + a build function) registered
in the ``llmga.planners`` entry-point group; the built-ins (embedded, openai, ollama, llmga, fake)
are registered the same way in this package's ``pyproject.toml``. A name with a colon,
``module:attr``, is an import path instead: ``attr`` is a LangChain ``BaseChatModel`` (or a
zero-argument factory of one), wrapped by ``from_chat_model``. ``get_backend`` also takes such an
object directly.

The name comes from, first to last: the caller (``--planner`` flag), ``LLMGA_PLANNER``, the
``planner:`` section of the config file, then ``embedded``. Options merge the same way, per field,
through pydantic-settings' own sources: flag keyword > ``LLMGA_PLANNER_<FIELD>`` environment
variable > config file. The config file is ``LLMGA_CONFIG`` or ``<user config dir>/llmga/config.yaml``::

    planner:
      backend: openai
      base_url: http://127.0.0.1:8000/v1
      model: Qwen/Qwen2.5-7B-Instruct
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, create_model
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agent.config import config_file_path
from tools.errors import ConfigError
from tools.llm.protocol import LLMBackend

GROUP = "llmga.planners"
DEFAULT_BACKEND = "embedded"
ENV_NAME = "LLMGA_PLANNER"
ENV_PREFIX = "LLMGA_PLANNER_"
VISION_ENV = "LLMGA_VISION"


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


@dataclass(frozen=True)
class PlannerPlugin:
    """What a planner backend plugin registers: its typed options and how to build it from them.

    A third-party package adds one to its ``pyproject.toml``::

        [project.entry-points."llmga.planners"]
        mine = "my_package.planner:PLUGIN"
    """

    options: type[BaseModel]
    build: Callable[[Any], LLMBackend]
    description: str = ""


def _embedded(opts: EmbeddedOptions) -> LLMBackend:
    from agent.llm.embedded import EmbeddedBackend

    return EmbeddedBackend(model_path=opts.model_path, cache_dir=opts.cache_dir, n_ctx=opts.n_ctx, n_threads=opts.n_threads)


def _openai(opts: OpenAIOptions) -> LLMBackend:
    from agent.llm.openai_compat import OpenAICompatBackend

    key = opts.api_key.get_secret_value() if opts.api_key else None
    return OpenAICompatBackend(base_url=opts.base_url, model=opts.model, api_key=key, timeout=opts.timeout, max_retries=opts.max_retries)


def _ollama(opts: OllamaOptions) -> LLMBackend:
    from agent.llm.ollama import OllamaBackend

    return OllamaBackend(model=opts.model, base_url=opts.base_url, timeout=opts.timeout, num_ctx=opts.num_ctx)


def _llmga(opts: LLMGAOptions) -> LLMBackend:
    from agent.llm.llmga import LLMGABackend

    return LLMGABackend(checkpoint=opts.checkpoint, device=opts.device, dtype=opts.dtype, vision_tower=opts.vision_tower,
                        conv_template=opts.conv_template)


def _fake(opts: FakeOptions) -> LLMBackend:
    from agent.llm.fake import FakeBackend

    return FakeBackend(opts.responses)


# The built-ins, registered under these names in pyproject.toml like any third-party plugin.
EMBEDDED = PlannerPlugin(EmbeddedOptions, _embedded, "offline GGUF through llama.cpp (default)")
OPENAI = PlannerPlugin(OpenAIOptions, _openai, "any OpenAI-compatible server (vLLM, llama-server, LM Studio)")
OLLAMA = PlannerPlugin(OllamaOptions, _ollama, "an Ollama server")
LLMGA = PlannerPlugin(LLMGAOptions, _llmga, "an LLMGA checkpoint (reads images too)")
FAKE = PlannerPlugin(FakeOptions, _fake, "scripted replies, for tests")


@cache
def planner_entry_points() -> dict[str, EntryPoint]:
    """Installed planner plugins by name; nothing is imported until one is chosen."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            raise ConfigError(f"two planner plugins are both named {ep.name!r} ({found[ep.name].value} and {ep.value}); uninstall one")
        found[ep.name] = ep
    if not found:
        raise ConfigError(f"no planner backends are registered in the {GROUP!r} entry-point group: "
                          "reinstall the package (`pip install -e .`) so its entry points are written")
    return found


def plugin(name: str) -> PlannerPlugin:
    """The plugin registered as ``name``, loaded."""
    found = planner_entry_points()
    if name not in found:
        raise ConfigError(f"unknown planner backend {name!r}; choose one of: {', '.join(sorted(found))}, or give module:attr")
    loaded = found[name].load()
    if not isinstance(loaded, PlannerPlugin):
        raise ConfigError(f"planner plugin {name!r} ({found[name].value}) is a {type(loaded).__name__}, not a PlannerPlugin")
    return loaded


class _PlannerSection(PydanticBaseSettingsSource):
    """The config file's ``planner:`` section, less ``backend``, when it was written for ``backend``."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path, backend: str):
        super().__init__(settings_cls)
        self.path, self.backend = path, backend

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover - __call__ is used
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        section = read_planner_section(self.path)
        file_backend = section.pop("backend", None)
        # A config file written for another backend does not leak its options into this one.
        return section if file_backend in (None, self.backend) else {}


def read_planner_section(path: Path | None = None) -> dict[str, Any]:
    """The config file's ``planner:`` mapping (empty when there is no file or no section)."""
    path = path or config_file_path()
    if not path.is_file():
        return {}

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must be a mapping of settings (profile: ..., workspace: ..., planner: ...)")
    section = data.get("planner", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: 'planner' must be a mapping (backend: ..., plus that backend's options)")
    return dict(section)


def _sources_for(options: type[BaseModel], backend: str, path: Path) -> type[BaseSettings]:
    """A settings class with ``options``' fields read from flags > ``LLMGA_PLANNER_*`` > the file section."""

    class _Layered(BaseSettings):
        model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", arbitrary_types_allowed=True)

        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):  # type: ignore[override]
            return init_settings, env_settings, _PlannerSection(settings_cls, path, backend)

    fields = {name: (info.annotation, info) for name, info in options.model_fields.items()}
    return create_model(f"{options.__name__}Sources", __base__=_Layered, **fields)  # type: ignore[call-overload]


def chosen_backend(name: str | None = None, *, config_path: Path | None = None) -> str:
    """The backend name: flag > ``LLMGA_PLANNER`` > the file's ``planner.backend`` > embedded."""
    return name or os.environ.get(ENV_NAME) or read_planner_section(config_path).get("backend") or DEFAULT_BACKEND


def resolve_options(name: str | None = None, *, config_path: Path | None = None, **flags: Any) -> tuple[str, BaseModel]:
    """The backend name and its validated options, merged flag > env > config file > default."""
    path = config_path or config_file_path()
    chosen = chosen_backend(name, config_path=path)
    if ":" in chosen:
        raise ConfigError(f"planner {chosen!r} is an import path: it takes no options (configure the object it names)")
    options = plugin(chosen).options
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        layered = _sources_for(options, chosen, path)(**given)
        return chosen, options.model_validate(dict(layered))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
        raise ConfigError(
            f"planner backend {chosen!r} is misconfigured: {problems}. Set it with flags, "
            f"{ENV_PREFIX}<OPTION> environment variables, or the 'planner:' section of {path}"
        ) from exc


def import_object(path: str) -> Any:
    """``module:attr`` (``attr`` may be dotted) imported; a zero-argument callable is called."""
    module_name, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot import planner {path!r}: {exc}") from exc
    from langchain_core.language_models import BaseChatModel

    if callable(obj) and not isinstance(obj, (BaseChatModel, LLMBackend)):
        obj = obj()
    return obj


def as_backend(obj: Any) -> LLMBackend:
    """An ``LLMBackend`` as is; a LangChain ``BaseChatModel`` wrapped by ``from_chat_model``."""
    from langchain_core.language_models import BaseChatModel

    if isinstance(obj, BaseChatModel):
        from agent.llm.chat_model import from_chat_model

        return from_chat_model(obj)
    if isinstance(obj, LLMBackend):
        return obj
    raise ConfigError(f"a planner must be a LangChain BaseChatModel or an LLMBackend, not {type(obj).__name__}")


def get_backend(name: str | Any | None = None, *, config_path: Path | None = None, **options: Any) -> LLMBackend:
    """Build the backend ``name`` (or the configured one). Nothing loads until its first ``generate``.

    ``name`` may also be ``module:attr`` or a chat-model / backend object (see ``as_backend``)."""
    if name is not None and not isinstance(name, str):
        return as_backend(name)
    chosen = chosen_backend(name, config_path=config_path)
    if ":" in chosen:
        if any(v is not None for v in options.values()):
            raise ConfigError(f"planner {chosen!r} is an import path: it takes no options (configure the object it names)")
        return as_backend(import_object(chosen))
    chosen, opts = resolve_options(chosen, config_path=config_path, **options)
    return plugin(chosen).build(opts)


def configured_vision() -> LLMBackend | None:
    """The backend that reads images for caption/VQA tools, or None: ``LLMGA_VISION`` names one;
    unset, the planner's backend is used when it is an MLLM (LLMGA checkpoints)."""
    name = os.environ.get(VISION_ENV, "").strip()
    if name:
        backend = get_backend(name)
        if not getattr(backend, "accepts_images", False):
            raise ConfigError(f"{VISION_ENV}={name}: that backend cannot read images here; use 'llmga' (an LLMGA checkpoint)")
        return backend
    return get_backend() if chosen_backend() == "llmga" else None
