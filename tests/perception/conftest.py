"""One model pool for the whole test session: each perception model loads once (about 0.5 s in all)."""

from __future__ import annotations

import pytest

from tools.models.pool import ModelPool


@pytest.fixture(scope="session")
def pool() -> ModelPool:
    return ModelPool("tiny")
