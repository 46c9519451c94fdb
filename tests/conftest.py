"""Shared test set-up: offline, one thread, a fresh workspace per test."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "examples" / "assets"


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own workspace and never touches the user's."""
    workspace = tmp_path / "workspace"
    monkeypatch.setenv("LLMGA_WORKSPACE", str(workspace))
    monkeypatch.delenv("LLMGA_PLUGINS", raising=False)
    monkeypatch.setenv("LLMGA_CONFIG", str(tmp_path / "config.yaml"))  # a developer's own config never reaches a test
    return workspace


@pytest.fixture
def workspace_dir(_isolated_workspace: Path) -> Path:
    return _isolated_workspace


@pytest.fixture
def car_png() -> Path:
    return ASSETS / "car_on_road.png"
