"""The service's settings: flag > ``LLMGA_SERVE_*`` environment variable > the config file's ``serve:``
section > default.

API tokens live in the config file (``serve: {tokens: {alice: <token>, bob: <token>}}``): each token is
one user, and a user sees only the sessions they made. Without tokens the service is one local user and
refuses to listen anywhere but loopback, so an unprotected instance cannot be reached from the network.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.config import config_file_path
from tools.errors import ConfigError

LOCAL_USER = "local"
"""The one user of a service without tokens (loopback only)."""

MIN_TOKEN_LENGTH = 16


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="address to listen on; beyond loopback only with tokens")
    port: int = Field(8765, ge=0, le=65535, description="0 picks a free port")
    tokens: dict[str, str] = Field(default_factory=dict, description="user name -> API token")
    workers: int = Field(2, ge=1, le=64, description="jobs that run at once (steps inside a job run in parallel too)")
    queue_size: int = Field(64, ge=1, le=100_000, description="jobs that may wait; more are refused with 503")
    approve: bool = Field(False, description="default for a turn: wait for the plan's approval before running it")
    planner: str | None = Field(None, description="planner backend (default: the configured one)")
    webhook_timeout: float = Field(10.0, gt=0, le=120, description="seconds a completion webhook may take")
    ui: bool = Field(True, description="mount the web UI at /ui")

    @field_validator("tokens")
    @classmethod
    def _strong_distinct_tokens(cls, tokens: dict[str, str]) -> dict[str, str]:
        for user, token in tokens.items():
            if not user.strip() or len(token) < MIN_TOKEN_LENGTH:
                raise ValueError(f"user {user!r}: a token needs at least {MIN_TOKEN_LENGTH} characters")
        if len(set(tokens.values())) != len(tokens):
            raise ValueError("two users share a token; each token must name one user")
        return tokens

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def check_exposure(self) -> None:
        """Refuse to serve beyond loopback without tokens (anyone on the network could use the GPU and read sessions)."""
        if not self.tokens and not self.loopback:
            raise ConfigError(
                f"refusing to listen on {self.host} without API tokens: anyone who can reach it could run jobs and read "
                f"every session. Add `serve: {{tokens: {{USER: TOKEN}}}}` to {config_file_path()}, or listen on 127.0.0.1"
            )

    @classmethod
    def load(cls, path: Path | None = None, environ: dict[str, str] | None = None, **flags: Any) -> ServerSettings:
        """Merge flags over ``LLMGA_SERVE_<FIELD>`` over the config file's ``serve:`` section."""
        import os

        path = path or config_file_path()
        section: dict[str, Any] = {}
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text()) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path} is not valid YAML: {exc}") from None
            section = data.get("serve", {}) if isinstance(data, dict) else {}
            if not isinstance(section, dict):
                raise ConfigError(f"{path}: 'serve' must be a mapping (host, port, tokens, workers, ...)")
        env = os.environ if environ is None else environ
        from_env = {name: env[f"LLMGA_SERVE_{name.upper()}"] for name in cls.model_fields if f"LLMGA_SERVE_{name.upper()}" in env}
        if "tokens" in from_env:
            raise ConfigError("API tokens come from the config file's serve: section, not the environment")
        merged = {**section, **from_env, **{k: v for k, v in flags.items() if v is not None}}
        try:
            return cls.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'serve'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"server settings are invalid ({path}, serve:): {problems}") from None
