"""The config file's serve: section: read by ServerSettings, ignored by the library's Settings."""

from __future__ import annotations

import pytest
import yaml

from agent.config import load_settings
from agent.server.config import ServerSettings
from tools.errors import ConfigError


def test_serve_section_feeds_the_server_and_not_the_library(tmp_path, monkeypatch):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"profile": "tiny", "serve": {"host": "0.0.0.0", "workers": 3, "tokens": {"alice": "a" * 20}}}))
    monkeypatch.setenv("LLMGA_CONFIG", str(config))
    assert load_settings().profile == "tiny"
    settings = ServerSettings.load(port=9000)
    assert (settings.host, settings.port, settings.workers, settings.tokens) == ("0.0.0.0", 9000, 3, {"alice": "a" * 20})
    settings.check_exposure()


@pytest.mark.parametrize("serve, problem", [
    ({"tokens": {"alice": "short"}}, "at least 16 characters"),
    ({"tokens": {"alice": "x" * 20, "bob": "x" * 20}}, "share a token"),
    ({"wrokers": 2}, "wrokers"),
])
def test_bad_server_settings_are_one_clear_error(tmp_path, monkeypatch, serve, problem):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"serve": serve}))
    monkeypatch.setenv("LLMGA_CONFIG", str(config))
    with pytest.raises(ConfigError, match=problem):
        ServerSettings.load()
