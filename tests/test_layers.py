"""The layer contract (pyproject's import-linter section) holds, and it can fail.

The second test copies the packages, adds one upward import (tools -> agent) and checks that
``lint-imports`` refuses it, so a green first test means something.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("agent", "graphs", "tools", "prompts")

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (setup.sh --dev installs it)")


def lint(where: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=where, env=env, capture_output=True, text=True, timeout=300)


def test_the_tree_keeps_the_layers() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    base = tmp_path / "tools" / "base.py"
    base.write_text(base.read_text() + "\nfrom agent import runtime  # noqa: E402,F401  (deliberately wrong)\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and "tools.base -> agent.runtime" in result.stdout
