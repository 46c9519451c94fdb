"""Typed settings: flag > ``LLMGA_*`` environment variable > config file > default.

The layering is pydantic-settings' own: keyword arguments (the CLI's flags) are the init source,
then the environment, then the YAML config file (``$LLMGA_CONFIG``, else
``<user config dir>/llmga/config.yaml``). The file's ``planner:`` section belongs to the planner
backends (``agent.llm.factory``), every other key is a field below; an unknown key is an error, so
a typo in the file is not silently ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from platformdirs import user_config_dir, user_data_dir
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, YamlConfigSettingsSource

from tools.artifacts import Limits
from tools.errors import ConfigError

CONFIG_ENV = "LLMGA_CONFIG"


def config_file_path() -> Path:
    """``$LLMGA_CONFIG``, else ``config.yaml`` in the user config folder (it need not exist)."""
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else Path(user_config_dir("llmga", appauthor=False)) / "config.yaml"


def default_workspace() -> Path:
    return Path(user_data_dir("llmga", appauthor=False)) / "workspace"


class _ConfigFile(YamlConfigSettingsSource):
    """The config file without its ``planner:`` section (the backends read that themselves)."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        data = super()._read_file(file_path)
        if not isinstance(data, dict):
            raise ConfigError(f"{file_path} must be a mapping of settings (profile: ..., workspace: ..., planner: ...)")
        return data

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        return {k: v for k, v in data.items() if k not in ("planner", "serve")}  # serve: is agent.server.config's


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMGA_", extra="forbid")

    workspace: Path = Field(default_factory=default_workspace, description="sessions and the step cache live here")
    max_workers: int = Field(4, ge=1, le=64, description="steps run at once")
    max_pixels: int = Field(64_000_000, ge=1, description="largest image accepted, in pixels")
    max_file_mb: int = Field(512, ge=1, description="largest input file accepted, in MiB")
    max_duration_s: float = Field(600.0, gt=0, description="longest video or audio imported or written, in seconds")
    profile: str = Field("tiny", description="model profile (tiny, sd15, sdxl, llmga-sd15 or a .yaml path); see `llmga models list`")
    max_generate_pixels: int = Field(4_194_304, ge=4096, description="largest image a generator may make (default 2048x2048)")
    model_budget_mb: int | None = Field(None, ge=1, description="memory the model pool may hold before evicting; default: no limit")
    executor: Literal["local", "ray"] = Field("local", description="where tool steps run: local threads, or Ray workers")
    ray_address: str | None = Field(None, description="Ray cluster to join (auto, host:6379); none: a local Ray for the run")
    ray_retries: int = Field(0, ge=0, le=5, description="re-runs of a step whose Ray worker died mid-step")
    postgres_dsn: str | None = Field(None, description="PostgreSQL DSN for conversation state; none: SQLite in the workspace")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _ConfigFile(settings_cls, yaml_file=config_file_path())

    def limits(self) -> Limits:
        return Limits(max_pixels=self.max_pixels, max_file_bytes=self.max_file_mb * 2**20, max_duration_s=self.max_duration_s)


def load_settings(**flags: Any) -> Settings:
    """``Settings`` from flags (``None`` means not given), the environment and the config file; a bad
    value in any of them is one ``ConfigError`` naming the key, the value and where it can be set."""
    given = {k: v for k, v in flags.items() if v is not None}
    path = config_file_path()
    try:
        return Settings(**given)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(map(str, err["loc"])) or "settings"
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown setting {key!r} (in {path} or a flag)")
            else:
                problems.append(f"{key}={err.get('input')!r}: {err['msg']} (flag, LLMGA_{key.upper()} or {path})")
        raise ConfigError("bad setting: " + "; ".join(problems)) from exc
