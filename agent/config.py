"""Typed settings, read from ``LLMGA_*`` environment variables (and CLI flags on top)."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tools.artifacts import Limits


def default_workspace() -> Path:
    return Path(user_data_dir("llmga", appauthor=False)) / "workspace"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLMGA_", extra="ignore")

    workspace: Path = Field(default_factory=default_workspace, description="sessions and the step cache live here")
    max_workers: int = Field(4, ge=1, le=64, description="steps run at once")
    max_pixels: int = Field(64_000_000, ge=1, description="largest image accepted, in pixels")
    max_file_mb: int = Field(512, ge=1, description="largest input file accepted, in MiB")
    profile: str = Field("tiny", description="model profile (tiny, sd15, sdxl, llmga-sd15 or a .yaml path); see `llmga models list`")
    max_generate_pixels: int = Field(4_194_304, ge=4096, description="largest image a generator may make (default 2048x2048)")
    model_budget_mb: int | None = Field(None, ge=1, description="memory the model pool may hold before evicting; default: no limit")

    def limits(self) -> Limits:
        return Limits(max_pixels=self.max_pixels, max_file_bytes=self.max_file_mb * 2**20)
