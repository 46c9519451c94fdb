"""The model pool: load once, share via from_pipe, LRU eviction, profiles and clear errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tools.errors import ConfigError
from tools.models import ModelPool, load_profile
from tools.models.pool import estimate_bytes


def test_get_loads_once_even_when_threads_race() -> None:
    pool = ModelPool()
    calls: list[int] = []

    def slow_loader() -> object:
        time.sleep(0.1)
        calls.append(1)
        return object()

    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(pool.get("m", slow_loader, size_bytes=1))) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(calls) == 1 and len({id(g) for g in got}) == 1
    assert pool.stats.loads == 1 and pool.stats.hits == 5


def test_a_failed_load_is_not_cached() -> None:
    pool = ModelPool()

    def broken() -> object:
        raise ConfigError("no weights")

    with pytest.raises(ConfigError):
        pool.get("m", broken)
    assert "m" not in pool and pool.get("m", lambda: 42, size_bytes=1) == 42


def test_lru_eviction_under_a_budget_takes_children_along() -> None:
    pool = ModelPool(budget_bytes=10)
    pool.get("a", object, size_bytes=4)
    pool.get("b", object, size_bytes=3)
    pool.get("b-child", object, size_bytes=1, parent="b")
    pool.get("a", object)  # a is now the most recent
    pool.get("c", object, size_bytes=4)  # 12 > 10: the least recent (b) goes, and its child with it
    assert pool.keys() == ["a", "c"] and pool.used_bytes == 8 and pool.stats.evictions == 2
    pool.get("huge", object, size_bytes=50)  # over budget alone: kept, everything else goes
    assert pool.keys() == ["huge"]


def test_sibling_pipelines_share_modules_and_a_second_request_loads_nothing(tiny_cache: Path) -> None:
    pool = ModelPool("tiny", cache_dir=tiny_cache)
    t2i = pool.pipeline("text2img")
    i2i = pool.pipeline("img2img")
    inpaint = pool.pipeline("inpaint")
    control = pool.pipeline("controlnet_canny")
    assert type(i2i).__name__ == "StableDiffusionImg2ImgPipeline" and type(control).__name__ == "StableDiffusionControlNetPipeline"
    assert i2i.unet is t2i.unet and i2i.vae is t2i.vae and i2i.text_encoder is t2i.text_encoder
    assert inpaint.vae is t2i.vae and inpaint.text_encoder is t2i.text_encoder and inpaint.unet is not t2i.unet
    assert inpaint.unet.config.in_channels == 9 and control.unet is t2i.unet
    sizes = {key: pool._entries[key].size_bytes for key in pool.keys()}
    assert sizes["pipeline:img2img:tiny:sd"] == 0, "a from_pipe sibling costs nothing extra"
    assert sizes["pipeline:controlnet:tiny:sd+tiny:controlnet"] == estimate_bytes(control.controlnet)
    before = pool.stats.snapshot()
    for role in ("text2img", "img2img", "inpaint", "controlnet_canny", "controlnet_depth"):
        pool.pipeline(role)
    assert pool.stats.loads == before.loads and pool.stats.load_seconds == before.load_seconds
    assert pool.notices and "UNTRAINED" in pool.notices[0]


def test_evicting_the_base_drops_its_siblings(tiny_cache: Path) -> None:
    pool = ModelPool("tiny", cache_dir=tiny_cache)
    pool.pipeline("img2img")
    pool.pipeline("inpaint")
    assert pool.evict("pipeline:text2img:tiny:sd") and pool.keys() == []
    pool.pipeline("img2img")
    assert pool.stats.loads == 5 and pool.stats.loaded_keys[-2:] == ["pipeline:text2img:tiny:sd", "pipeline:img2img:tiny:sd"]


def test_model_ids_resolve_roles_through_the_profile() -> None:
    assert ModelPool("sd15").model_ids(("inpaint", "controlnet_canny")) == [
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "stable-diffusion-v1-5/stable-diffusion-inpainting",
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "lllyasviel/control_v11p_sd15_canny",
    ]
    assert ModelPool("llmga-sd15").model_ids(("text2img",)) == ["binxia/llmga-sd15-t2i-v2"]
    assert ModelPool("tiny").model_ids(()) == []


def test_unknown_profile_and_role_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown model profile 'nope'; available: .*tiny"):
        ModelPool("nope").model_ids(("text2img",))
    with pytest.raises(ConfigError, match="has no model for role 'video'"):
        ModelPool("tiny").pipeline("video")


def test_a_profile_file_is_validated_strictly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndescription: x\nroles:\n  text2img: {task: text2img, model: m, colour: red}\n")
    with pytest.raises(ConfigError, match="colour"):
        load_profile(str(bad))
    cyclic = tmp_path / "cyc.yaml"
    cyclic.write_text("name: cyc\ndescription: x\nroles:\n  a: {task: img2img, base: b}\n  b: {task: img2img, base: a}\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_profile(str(cyclic))


def test_missing_weights_offline_name_the_model_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: nothing is there
    pool = ModelPool("sd15", cache_dir=tmp_path)
    with pytest.raises(ConfigError) as info:
        pool.pipeline("img2img")
    message = str(info.value)
    assert "stable-diffusion-v1-5/stable-diffusion-v1-5" in message and "llmga models pull sd15" in message
    assert "\n" not in message and pool.keys() == []
