"""Reliability tests: hypothesis profiles (a small default run, a 10,000-plan run with -m slow)."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile("reliability", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
