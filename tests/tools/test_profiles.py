"""Model profiles: one file per profile with image, video and audio roles, one loader, and
`models check|pull` covering every role. Offline: the Hugging Face cache here is a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tests.tools.media_support import failed, media_registry  # noqa: F401
from tools.errors import ConfigError
from tools.models import ModelPool, available_profiles, load_profile
from tools.models.hub import AUDIOCRAFT, TRANSFORMERS, check_profile, needs, pull_profile
from tools.models.tiny import BUILDERS, tiny_path

MEDIA_ROLES = {"text2video": "animatediff", "image2video": "svd", "music": "musicgen", "sound_effect": "audiogen"}
REPO = Path(__file__).resolve().parents[2]


def fake_cached(hub_cache: Path, repo: str, *files: str) -> None:
    """Lay out files the way huggingface_hub's cache keeps them (refs/main -> snapshots/<commit>/...)."""
    folder = hub_cache / f"models--{repo.replace('/', '--')}"
    commit = "0" * 40
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    for name in files:
        path = folder / "snapshots" / commit / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")


def test_every_bundled_profile_is_one_file_with_image_and_media_roles() -> None:
    assert set(available_profiles()) >= {"tiny", "sd15", "sdxl", "llmga-sd15"}
    assert not (REPO / "tools" / "media" / "profiles").exists(), "the second profile folder is gone"
    for name in available_profiles():
        profile = load_profile(name)
        assert profile.roles["text2img"].task == "text2img"
        assert {role: profile.roles[role].task for role in MEDIA_ROLES} == MEDIA_ROLES, name
    sdxl = load_profile("sdxl")
    assert sdxl.roles["text2video"].ids(sdxl) == ["stable-diffusion-v1-5/stable-diffusion-v1-5", "guoyww/animatediff-motion-adapter-v1-5-2"]


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        ("music: {task: musicgen, model: m, family: musicgen}", "family"),
        ("music: {task: musicgen, base: text2img, model: m}", "needs `model` only"),
        ("text2video: {task: animatediff, model: m}", "needs `base`"),
        ("text2video: {task: animatediff, base: music, model: m}\n  music: {task: musicgen, model: m}", "must be a text2img role"),
        ("text2video: {task: text2vid, base: text2img, model: m}", "text2vid"),
    ],
)
def test_media_roles_are_validated_by_the_one_schema(tmp_path: Path, roles: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"name: p\ndescription: x\nroles:\n  text2img: {{task: text2img, model: m}}\n  {roles}\n")
    with pytest.raises(ConfigError, match=message):
        load_profile(str(path))


def test_needs_cover_every_role_in_the_layout_its_loader_reads() -> None:
    by_model = {need.model: need for need in needs(load_profile("sd15"))}
    music = by_model["facebook/musicgen-small"]
    assert music.roles == ("music",) and music.patterns == tuple(TRANSFORMERS) and music.marker == "config.json"
    assert "*.json" in music.patterns and "*.model" in music.patterns, "tokenizer and generation config come too"
    assert by_model["facebook/audiogen-medium"].patterns == tuple(AUDIOCRAFT)
    assert by_model["t5-large"].roles == ("sound_effect",), "audiocraft's own T5 download is pulled with it"
    svd = by_model["stabilityai/stable-video-diffusion-img2vid-xt"]
    assert "*/diffusion_pytorch_model.fp16.safetensors" in svd.patterns and "*/diffusion_pytorch_model.safetensors" not in svd.patterns
    assert by_model["stable-diffusion-v1-5/stable-diffusion-v1-5"].marker == "model_index.json"
    assert by_model["lllyasviel/control_v11p_sd15_canny"].marker == "config.json"
    assert by_model["stable-diffusion-v1-5/stable-diffusion-inpainting"].marker == "unet/config.json"
    tiny = {need.model for need in needs(load_profile("tiny"))}
    assert {"tiny:sd", "tiny:musicgen", "tiny:audiogen", "tiny:svd", "tiny:motion-adapter"} <= tiny


def test_check_reads_the_cache_only_and_sees_media_models(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    missing = {s.model for s in check_profile(load_profile("sd15"), tmp_path, hub_cache=hub) if not s.ok}
    assert {"facebook/musicgen-small", "facebook/audiogen-medium", "guoyww/animatediff-motion-adapter-v1-5-2"} <= missing
    fake_cached(hub, "facebook/musicgen-small", "config.json")
    fake_cached(hub, "stable-diffusion-v1-5/stable-diffusion-v1-5", "unet/config.json")  # no model_index.json: incomplete
    status = {s.model: s for s in check_profile(load_profile("sd15"), tmp_path, hub_cache=hub)}
    assert status["facebook/musicgen-small"].ok and "for music" in status["facebook/musicgen-small"].detail
    assert not status["stable-diffusion-v1-5/stable-diffusion-v1-5"].ok
    tiny = {s.model: s for s in check_profile(load_profile("tiny"), tmp_path, hub_cache=hub)}
    assert all(s.ok for s in tiny.values()) and tiny["tiny:musicgen"].detail == "built offline on first use (untrained)"


def test_pull_offline_is_one_message_naming_the_model(tmp_path: Path, tiny_cache: Path) -> None:
    """conftest sets HF_HUB_OFFLINE=1: pull takes what is cached and says why it cannot fetch the rest."""
    hub = tmp_path / "hub"
    with pytest.raises(ConfigError) as info:
        pull_profile(load_profile("sd15"), tmp_path, echo=lambda _: None, hub_cache=hub)
    message = str(info.value)
    assert "'stable-diffusion-v1-5/stable-diffusion-v1-5'" in message and "HF_HUB_OFFLINE" in message and "\n" not in message
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\ndescription: x\nroles:\n  text2img: {task: text2img, model: 'tiny:sd'}\n"
        "  music: {task: musicgen, model: facebook/musicgen-small}\n"
    )
    fake_cached(hub, "facebook/musicgen-small", "config.json")
    done = {s.model: s.detail for s in pull_profile(load_profile(str(path)), tiny_cache, echo=lambda _: None, hub_cache=hub)}
    assert done["tiny:sd"] == f"built in {tiny_path('sd', tiny_cache)}" and "offline" in done["facebook/musicgen-small"]


def test_a_music_step_without_weights_points_at_a_pull_that_fetches_musicgen(session, media_registry, tmp_path: Path) -> None:  # noqa: F811
    from graphs.executor import Executor
    from graphs.plan import Plan, bind

    profile = load_profile("sd15")
    if next(s for s in check_profile(profile, tmp_path) if s.model == "facebook/musicgen-small").ok:
        pytest.skip("facebook/musicgen-small is in this machine's Hugging Face cache")
    plan = Plan.model_validate({"steps": [{"id": "m", "tool": "music", "args": {"prompt": "calm piano", "duration": 0.5}}]})
    result = Executor(session, models=ModelPool("sd15", cache_dir=tmp_path)).run(bind(plan, media_registry, session))
    error = failed(result, "m")
    assert "'facebook/musicgen-small' for role 'music'" in error and "`llmga models pull sd15`" in error and "Traceback" not in error
    assert "music" in next(n for n in needs(profile) if n.model == "facebook/musicgen-small").roles


def test_a_profile_file_keeps_its_path_in_the_pull_hint_and_its_own_media_roles(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "tools/models/profiles/tiny.yaml").read_text())
    data["name"] = "tiny-copy"
    path = tmp_path / "tiny-copy.yaml"
    path.write_text(yaml.safe_dump(data))
    pool = ModelPool(str(path))
    assert pool.profile.source == str(path) and pool.profile.role_of("music", "musicgen").model == "tiny:musicgen"
    with pytest.raises(ConfigError, match="has task 'musicgen', expected 'svd'"):
        pool.profile.role_of("music", "svd")
    assert pool.run_lock("text2video") is pool.run_lock("text2img"), "AnimateDiff shares its base's scheduler lock"
    with pytest.raises(ConfigError, match="not an image pipeline"):
        pool.pipeline("music")


def test_one_tiny_registry_for_image_and_media_builds(tmp_path: Path) -> None:
    assert {"sd", "controlnet", "dpt", "motion-adapter", "svd", "musicgen", "audiogen"} <= set(BUILDERS)
    assert tiny_path("musicgen", tmp_path) == tmp_path / "tiny" / "musicgen-v2"
    with pytest.raises(ConfigError, match=r"unknown tiny model 'tiny:nope'; known: .*tiny:sd.*tiny:musicgen"):
        tiny_path("nope", tmp_path)


def test_models_cli_lists_and_checks_media_roles() -> None:
    from agent.cli import main

    listing = CliRunner().invoke(main, ["models", "list"])
    assert listing.exit_code == 0 and "music" in listing.output and "facebook/musicgen-small" in listing.output
    check = CliRunner().invoke(main, ["models", "check", "sd15"])
    assert "facebook/musicgen-small" in check.output and "t5-large" in check.output
    if check.exit_code:
        assert check.exit_code == 2 and "llmga models pull sd15" in check.output
