"""The audio tools: MusicGen and AudioGen on tiny untrained configurations, speech with hibari's real
bundled voice (checked back with pocketsphinx when it is installed), and sound on video."""

from __future__ import annotations

import sys
import wave

import numpy as np
import pytest

from tests.tools.media_support import PX, STEPS, failed, gradient_clip, media_registry, ok, run_media, tone, warnings  # noqa: F401
from tools.artifacts import Kind
from tools.errors import InputError
from tools.media.av_io import probe, read_audio


def samples_of(session, artifact_id: str) -> np.ndarray:
    return read_audio(session.path(session.get(artifact_id)))[0]


def ref(artifact) -> str:
    return f"${{{artifact.id}}}"


@pytest.mark.parametrize(("tool", "rate"), [("music", 16_000), ("sound_effect", 16_000)])
def test_generators_write_wav_of_the_asked_length_and_follow_the_seed(run_media, session, tool, rate) -> None:
    args = {"prompt": "a car engine revving on a road", "duration": 1.0}
    result = run_media(
        [
            {"id": "a", "tool": tool, "args": {**args, "seed": 1}},
            {"id": "b", "tool": tool, "args": {**args, "seed": 1}},
            {"id": "c", "tool": tool, "args": {**args, "seed": 2}},
        ]
    )
    ok(result)
    a = session.get(result.steps["a"].outputs["audio"])
    assert a.kind is Kind.AUDIO and a.file.endswith(".wav")
    assert (a.meta["sample_rate"], a.meta["duration"], a.meta["channels"]) == (rate, 1.0, 1)
    with wave.open(str(session.path(a))) as wav:
        assert (wav.getframerate(), wav.getnframes(), wav.getsampwidth()) == (rate, rate, 2)
    sa, sb, sc = (samples_of(session, result.steps[s].outputs["audio"]) for s in "abc")
    assert np.abs(sa).max() > 1e-3, "the untrained model still makes a signal"
    # b is a cache hit of a when the cache is on; this executor has none, so b really ran again
    assert np.array_equal(sa, sb), "same seed, same samples"
    assert not np.array_equal(sa, sc), "another seed, another sound"
    assert a.meta["untrained_weights"] is True


def test_speech_with_the_bundled_voice_is_audible_and_plausibly_long(run_media, session) -> None:
    text = "The red car drives down the road."
    result = run_media([{"id": "say", "tool": "speech", "args": {"text": text, "seed": 0}}])
    ok(result)
    spoken = session.get(result.steps["say"].outputs["audio"])
    assert spoken.meta["sample_rate"] == 24_000 and spoken.meta["voice"] == "heart"
    assert 1.0 < spoken.meta["duration"] < 5.0, "seven words take one to five seconds"
    samples = samples_of(session, spoken.id)[0]
    rms = np.sqrt(np.mean(samples**2))
    assert rms > 0.01 and np.abs(samples).max() > 0.1, "not silent"
    pocketsphinx = pytest.importorskip("pocketsphinx")
    from scipy.signal import resample_poly

    pcm = (np.clip(resample_poly(samples, 2, 3), -1, 1) * 32767).astype(np.int16).tobytes()  # 24 kHz -> 16 kHz
    decoder = pocketsphinx.Decoder(samprate=16000)
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    words = set(decoder.hyp().hypstr.split()) if decoder.hyp() else set()
    assert {"red", "road"} <= words, f"transcript: {words}"


def test_speech_refuses_a_voice_that_would_need_a_download(run_media) -> None:
    result = run_media([{"id": "say", "tool": "speech", "args": {"text": "hello", "voice": "emma"}}])
    assert "not bundled" in failed(result, "say") and "heart" in failed(result, "say")


@pytest.mark.parametrize(
    ("seconds", "fit", "said"),
    [(2.0, "loop", "trimmed"), (0.2, "loop", "looped"), (0.2, "pad", "padded with silence"), (0.5, "loop", None)],
)
def test_add_audio_to_video_fits_the_audio_to_the_clip(run_media, session, tmp_path, seconds, fit, said) -> None:
    clip = session.import_file(gradient_clip(tmp_path / "clip.mp4", frames=4, fps=8), Kind.VIDEO)  # 0.5 s
    sound = session.import_file(tone(tmp_path / "tone.wav", seconds), Kind.AUDIO)
    result = run_media([{"id": "mux", "tool": "add_audio_to_video", "args": {"video": ref(clip), "audio": ref(sound), "fit": fit}}])
    ok(result)
    out = session.get(result.steps["mux"].outputs["video"])
    info = probe(session.path(out))
    assert info.frames == 4 and info.duration == pytest.approx(0.5) and out.meta["has_audio"] is True
    assert info.audio[0].codec == "aac" and info.audio[0].duration == pytest.approx(0.5, abs=0.1)
    notes = result.steps["mux"].warnings
    assert (said is None and not notes) or any(said in w for w in notes)
    if fit == "pad":
        samples = read_audio(session.path(out))[0][0]
        assert np.abs(samples[: 1600]).max() > 0.1 and np.abs(samples[5000:7000]).max() < 0.02, "tone, then silence"


def test_bad_audio_and_video_inputs_fail_with_a_message(run_media, session, tmp_path) -> None:
    clip = session.import_file(gradient_clip(tmp_path / "clip.mp4"), Kind.VIDEO)
    empty_wav = tmp_path / "empty.wav"
    with wave.open(str(empty_wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
    empty = session.import_file(empty_wav, Kind.AUDIO)
    junk_file = tmp_path / "junk.wav"
    junk_file.write_bytes(b"RIFF....not audio at all")
    with pytest.raises(InputError, match="ffmpeg can read"):  # probed at import, not late in a step
        session.import_file(junk_file, Kind.AUDIO)
    result = run_media(
        [
            {"id": "empty", "tool": "add_audio_to_video", "args": {"video": ref(clip), "audio": ref(empty)}},
            {"id": "nolineage", "tool": "video_to_audio", "args": {"video": ref(clip)}},
        ]
    )
    assert "no audio samples" in failed(result, "empty") or "no audio stream" in failed(result, "empty")
    assert "no prompt in its lineage" in failed(result, "nolineage") and "description" in failed(result, "nolineage")


def test_video_to_audio_reads_the_prompt_from_lineage_and_says_so(run_media, session) -> None:
    t2v = {"prompt": "a car on a road", "frames": 3, "fps": 6, "width": PX, "height": PX, "steps": STEPS, "seed": 1}
    result = run_media(
        [
            {"id": "car", "tool": "text_to_video", "args": t2v},
            {"id": "score", "tool": "video_to_audio", "args": {"video": "${car}", "style": "music", "seed": 1}},
            {"id": "told", "tool": "video_to_audio", "args": {"video": "${car}", "description": "rain on a tin roof", "seed": 1}},
        ]
    )
    ok(result)
    score = session.get(result.steps["score"].outputs["audio"])
    assert score.meta["prompt"] == "film score for a scene of a car on a road" and score.meta["duration"] == 0.5
    assert score.meta["description_source"] == f"the prompt recorded on {result.steps['car'].outputs['video']}"
    told = session.get(result.steps["told"].outputs["audio"])
    assert told.meta["prompt"] == "the sound of rain on a tin roof"
    assert any("pixels were not looked at" in w for w in warnings(result))


def test_missing_audiocraft_is_one_clear_message(run_media, monkeypatch) -> None:
    from tools.media import audiocraft_support

    monkeypatch.setitem(sys.modules, "audiocraft", None)
    monkeypatch.setitem(sys.modules, "audiocraft.models", None)
    audiocraft_support.require_audiocraft.cache_clear()
    try:
        result = run_media([{"id": "fx", "tool": "sound_effect", "args": {"prompt": "thunder", "duration": 1.0}}])
    finally:
        audiocraft_support.require_audiocraft.cache_clear()
    error = failed(result, "fx")
    assert "need audiocraft" in error and "setup.sh" in error and "--no-deps" in error


@pytest.mark.real_weights
@pytest.mark.gpu
def test_real_musicgen_and_audiogen(session, media_registry, tmp_path) -> None:
    """On a machine with facebook/musicgen-small and facebook/audiogen-medium in the Hugging Face cache."""
    from graphs.executor import Executor
    from graphs.plan import Plan, bind
    from tools.models import ModelPool

    pool = ModelPool("sd15", cache_dir=tmp_path)
    plan = Plan.model_validate(
        {
            "steps": [
                {"id": "m", "tool": "music", "args": {"prompt": "calm lo-fi piano", "duration": 4.0, "seed": 1}},
                {"id": "s", "tool": "sound_effect", "args": {"prompt": "a car engine revving", "duration": 4.0, "seed": 1}},
            ]
        }
    )
    result = Executor(session, models=pool).run(bind(plan, media_registry, session))
    ok(result)
    for step, rate in (("m", 32_000), ("s", 16_000)):
        audio = session.get(result.steps[step].outputs["audio"])
        assert audio.meta["sample_rate"] == rate and audio.meta["duration"] == pytest.approx(4.0, abs=0.05)
        assert audio.meta["peak"] > 0.05
