"""The video tools on the tiny profile (real AnimateDiff / SVD / SD classes, untrained, 32 px, 2 steps),
through plans run by the real executor; and the car -> sound -> truck example workflow."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from graphs.executor import Executor
from graphs.plan import bind
from graphs.workflow import compile_workflow, load_workflow
from tests.tools.media_support import FRAMES, PX, STEPS, failed, gradient_clip, media_registry, ok, run_media, warnings  # noqa: F401
from tools.artifacts import Kind
from tools.errors import ConfigError, InputError
from tools.media.av_io import probe, read_video

REPO = Path(__file__).resolve().parents[2]
T2V = {"prompt": "a red car running on the road", "frames": FRAMES, "fps": 6, "width": PX, "height": PX, "steps": STEPS}


def frames_of(session, artifact_id: str) -> np.ndarray:
    return np.stack([np.asarray(f) for f in read_video(session.path(session.get(artifact_id))).frames])


def test_text_to_video_writes_an_mp4_with_fps_and_frames_and_follows_the_seed(run_media, session) -> None:
    result = run_media(
        [
            {"id": "a", "tool": "text_to_video", "args": {**T2V, "seed": 1}},
            {"id": "b", "tool": "text_to_video", "args": {**T2V, "seed": 1, "prompt": "a red car running on the road at night"}},
            {"id": "c", "tool": "text_to_video", "args": {**T2V, "seed": 2}},
        ]
    )
    ok(result)
    a = session.get(result.steps["a"].outputs["video"])
    assert a.kind is Kind.VIDEO and a.file.endswith(".mp4") and a.seed == 1
    assert (a.meta["frames"], a.meta["fps"], a.meta["width"], a.meta["height"]) == (FRAMES, 6.0, PX, PX)
    assert a.meta["duration"] == pytest.approx(FRAMES / 6, abs=1e-3) and a.meta["untrained_weights"] is True
    info = probe(session.path(a))
    assert info.video_codec == "h264" and info.frames == FRAMES and not info.audio
    va, vb, vc = (frames_of(session, result.steps[s].outputs["video"]) for s in "abc")
    assert va.shape == (FRAMES, PX, PX, 3)
    assert np.abs(va.astype(int) - vc.astype(int)).mean() > 1, "another seed, another clip"
    assert np.abs(va.astype(int) - vb.astype(int)).mean() > 0.1, "the prompt reaches the model"
    assert np.abs(va[0].astype(int) - va[-1].astype(int)).mean() > 0.1, "frames are not copies of one image"
    assert any("UNTRAINED" in w for w in warnings(result))


def test_image_to_video_animates_an_image_with_svd(run_media, session) -> None:
    result = run_media(
        [
            {"id": "still", "tool": "text_to_image", "args": {"prompt": "a car", "steps": STEPS, "width": PX, "height": PX, "seed": 3}},
            {"id": "clip", "tool": "image_to_video", "args": {"image": "${still}", "frames": FRAMES, "fps": 7, "steps": STEPS, "seed": 3}},
        ]
    )
    ok(result)
    clip = session.get(result.steps["clip"].outputs["video"])
    assert clip.parents == {"image": result.steps["still"].outputs["image"]}
    assert (clip.meta["frames"], clip.meta["fps"], clip.meta["width"]) == (FRAMES, 7.0, PX)
    assert probe(session.path(clip)).frames == FRAMES


@pytest.mark.parametrize("method", ["frames", "keyframe"])
def test_video_edit_keeps_length_and_rate_and_says_its_method(run_media, session, tmp_path, method) -> None:
    source = session.import_file(gradient_clip(tmp_path / "bar.mp4", frames=4, fps=8), Kind.VIDEO)
    edit = {"video": f"${{{source.id}}}", "prompt": "a big blue truck", "method": method, "strength": 0.5, "steps": 4, "seed": 5}
    result = run_media([{"id": "e", "tool": "video_edit", "args": edit}])
    ok(result)
    out = session.get(result.steps["e"].outputs["video"])
    assert (out.meta["frames"], out.meta["fps"], out.meta["method"]) == (4, 8.0, method)
    assert out.parents == {"video": source.id}
    assert any(f"method '{method}'" in w for w in warnings(result))
    before, after = frames_of(session, source.id), frames_of(session, out.id)
    assert np.abs(before.astype(int) - after.astype(int)).mean() > 1, "the edit changed the pictures"


def test_concat_clips_cross_fades_and_resizes(run_media, session, tmp_path) -> None:
    a = session.import_file(gradient_clip(tmp_path / "a.mp4", frames=6, fps=8), Kind.VIDEO)
    b = session.import_file(gradient_clip(tmp_path / "b.mp4", frames=4, fps=8, size=(48, 32)), Kind.VIDEO)
    result = run_media(
        [
            {"id": "cut", "tool": "concat_clips", "args": {"first": f"${{{a.id}}}", "second": f"${{{b.id}}}"}},
            {"id": "fade", "tool": "concat_clips", "args": {"first": f"${{{a.id}}}", "second": f"${{{b.id}}}", "third": f"${{{a.id}}}", "crossfade": 0.25}},
            {"id": "long", "tool": "concat_clips", "args": {"first": f"${{{a.id}}}", "second": f"${{{b.id}}}", "crossfade": 1.0}},
        ]
    )
    assert result.steps["cut"].status == "ran" and result.steps["fade"].status == "ran"
    cut = session.get(result.steps["cut"].outputs["video"])
    fade = session.get(result.steps["fade"].outputs["video"])
    assert cut.meta["frames"] == 10 and (cut.meta["width"], cut.meta["height"]) == (PX, PX)
    assert fade.meta["frames"] == 6 + 4 + 6 - 2 * 2, "two 2-frame overlaps"
    assert any("resized" in w for w in result.steps["cut"].warnings)
    assert "shorter cross-fade" in failed(result, "long")


def test_extract_frames_and_video_info(run_media, session, tmp_path) -> None:
    clip = session.import_file(gradient_clip(tmp_path / "c.mp4", frames=5, fps=10), Kind.VIDEO)
    result = run_media(
        [
            {"id": "x", "tool": "extract_frames", "args": {"video": f"${{{clip.id}}}", "time": 0.3}},
            {"id": "info", "tool": "video_info", "args": {"video": f"${{{clip.id}}}"}},
            {"id": "bad", "tool": "extract_frames", "args": {"video": f"${{{clip.id}}}", "index": 9}},
        ]
    )
    assert result.steps["x"].status == "ran" and result.steps["info"].status == "ran"
    outs = result.steps["x"].outputs
    assert session.get(outs["frame"]).meta["frame_index"] == 3 and session.get(outs["last"]).meta["frame_index"] == 4
    info = json.loads(session.handle(result.steps["info"].outputs["info"]).text())
    assert (info["frames"], info["fps"], info["duration"], info["video_codec"]) == (5, 10.0, 0.5, "h264")
    assert "has 5 frames" in failed(result, "bad")


def test_bad_videos_fail_with_one_clear_message(run_media, session, tmp_path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video")
    with pytest.raises(InputError, match="not a media file ffmpeg can read.*MP4"):  # probed at import, not late in a step
        session.import_file(text, Kind.VIDEO)
    audio_only = tmp_path / "silent.mp4"
    import av

    with av.open(str(audio_only), "w", format="mp4") as container:  # a valid MP4 with no video frames
        stream = container.add_stream("aac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 2048), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(InputError, match="holds no video stream"):
        session.import_file(audio_only, Kind.VIDEO)


def test_missing_pyav_is_one_config_error(monkeypatch, tmp_path) -> None:
    from tools.media.av_io import probe

    monkeypatch.setitem(sys.modules, "av", None)  # what a machine without the package sees
    with pytest.raises(ConfigError, match=r"pip install av"):
        probe(tmp_path / "x.mp4")


def test_car_sound_truck_example_makes_mp4s_with_sound(session, tiny_pool, media_registry) -> None:
    """The seeds' running example, end to end on the tiny profile: streams, duration, frame count."""
    workflow = load_workflow(REPO / "examples" / "car_truck_sound.yaml")
    plan = compile_workflow(
        workflow, session, {"frames": 4, "size": PX, "steps": STEPS}, base_dir=REPO / "examples", roots=[REPO, session.root]
    )
    result = Executor(session, models=tiny_pool, max_workers=2).run(bind(plan, media_registry, session))
    ok(result)
    for name in ("car", "truck"):
        path = session.path(session.get(result.outputs[name]))
        info = probe(path)
        assert info.video_codec == "h264" and info.frames == 4 and info.fps == 8.0
        assert info.duration == pytest.approx(0.5, abs=1e-3)
        assert len(info.audio) == 1 and info.audio[0].codec == "aac" and info.audio[0].sample_rate == 16000
        assert info.audio[0].duration == pytest.approx(0.5, abs=0.1), "sound fitted to the clip"
    sound = session.get(result.outputs["sound"])
    assert sound.kind is Kind.AUDIO and sound.meta["sample_rate"] == 16000 and sound.meta["duration"] == pytest.approx(0.5, abs=0.01)
    assert sound.meta["prompt"] == "the sound of a red car running on a country road"
    truck = session.get(result.outputs["truck"])
    assert truck.parents["video"] == result.steps["truck"].outputs["video"]
    assert any("pixels were not looked at" in w for w in warnings(result))


@pytest.mark.real_weights
@pytest.mark.gpu
def test_real_weights_text_and_image_to_video(session, media_registry, tmp_path) -> None:
    """On a GPU machine with `sd15` weights (AnimateDiff motion adapter, SVD-XT) pulled."""
    from tools.models import ModelPool

    pool = ModelPool("sd15", cache_dir=tmp_path)
    from graphs.plan import Plan

    plan = Plan.model_validate(
        {
            "steps": [
                {"id": "car", "tool": "text_to_video", "args": {"prompt": "a red car driving on a country road", "frames": 16, "seed": 1}},
                {"id": "first", "tool": "extract_frames", "args": {"video": "${car}", "index": 0}},
                {"id": "svd", "tool": "image_to_video", "args": {"image": "${first.first}", "frames": 14, "seed": 1, "width": 512, "height": 512}},
            ]
        }
    )
    result = Executor(session, models=pool).run(bind(plan, media_registry, session))
    ok(result)
    car = session.get(result.steps["car"].outputs["video"])
    assert car.meta["frames"] == 16 and car.meta["width"] == 512
    frames = frames_of(session, car.id)
    assert frames.std() > 20, "real weights draw a picture, not flat noise"
