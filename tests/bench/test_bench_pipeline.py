"""The benchmark pipeline end to end with a scripted planner, on a few real records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.catalogue import plan_schema, tool_catalogue
from agent.llm.fake import FakeBackend
from agent.planner import Planner, PlannerOptions
from bench import controlllm as cl
from bench import eval_dir
from bench import taskbench as tb
from bench.common import AttachedSession, mentioned_files
from bench.metrics import Counts
from bench.registries import controlllm_registry, kind_of, taskbench_registry
from graphs.tool_graph import build_tool_graph, search
from tools.artifacts import Kind
from tools.errors import ToolFailure

EVAL = eval_dir()  # $LLMGA_EVAL_DIR, else ../shared/eval beside the checkout
TASKBENCH = EVAL / "taskbench_multimedia"
CONTROLLLM = EVAL / "controlllm"
needs_data = pytest.mark.skipif(not TASKBENCH.is_dir() or not CONTROLLLM.is_dir(), reason="benchmark data not here")

TOOL_DESC = {
    "nodes": [
        {"id": "Text Summarizer", "desc": "Summarizes a text.", "input-type": ["text"], "output-type": ["text"]},
        {"id": "Text-to-Image", "desc": "Generates an image from text.", "input-type": ["text"], "output-type": ["image"]},
        {"id": "Image Stitcher", "desc": "Stitches two images.", "input-type": ["image", "image"], "output-type": ["image"]},
        {"id": "Image Downloader", "desc": "Downloads an image.", "input-type": ["url"], "output-type": ["image"]},
    ]
}
RECORDS = [
    {"id": "1", "type": "single", "n_tools": 1, "task_nodes": [{"task": "Text Summarizer", "arguments": ["long text"]}], "task_links": [],
     "user_request": "Summarize 'long text'."},
    {"id": "2", "type": "chain", "n_tools": 2,
     "task_nodes": [{"task": "Text-to-Image", "arguments": ["a cat"]}, {"task": "Image Stitcher", "arguments": ["<node-1>", "b.png"]}],
     "task_links": [{"source": "Text-to-Image", "target": "Image Stitcher"}],
     "user_request": "Draw a cat and stitch it with b.png."},
]


@pytest.fixture
def small(tmp_path: Path) -> Path:
    (tmp_path / "tool_desc.json").write_text(json.dumps(TOOL_DESC))
    (tmp_path / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    return tmp_path


def test_kinds_map_onto_our_vocabulary():
    assert kind_of("Image") is Kind.IMAGE and kind_of("image.depth") is Kind.IMAGE
    assert kind_of("image.mask") is Kind.MASK and kind_of("bbox") is Kind.LAYOUT
    assert kind_of("url") is Kind.TEXT and kind_of("category") is Kind.TEXT and kind_of("audio") is Kind.AUDIO


def test_bench_tools_are_typed_description_only_tools(small: Path):
    registry = taskbench_registry(small / "tool_desc.json")
    stitcher = registry.get("image_stitcher")
    assert set(stitcher.inputs) == {"image", "image_2"} and stitcher.outputs == {"image": Kind.IMAGE}
    assert "url" in registry.get("image_downloader").Params.model_fields
    with pytest.raises(ToolFailure):
        stitcher().run(None, None, image=None, image_2=None)
    schema = plan_schema(registry)
    assert {s["properties"]["tool"]["const"] for s in schema["properties"]["steps"]["items"]["anyOf"]} == set(registry.names())
    assert "image_stitcher(image: image, image_2: image) -> image: Stitches two images." in tool_catalogue(registry)
    assert "- image_downloader(url: str) -> image: Downloads an image." in tool_catalogue(registry)
    chains = search(build_tool_graph(registry), {Kind.TEXT}, Kind.IMAGE)
    assert ("text_to_image",) in [c.tools for c in chains]


def test_mentioned_files_skip_urls():
    files = mentioned_files("Stitch 'a.jpg' and dir/b.PNG, add song.mp3; see https://x.com/c.jpg and www.y.org/d.wav, example.com/e.wav")
    assert files == [("a.jpg", Kind.IMAGE), ("dir/b.PNG", Kind.IMAGE), ("song.mp3", Kind.AUDIO)]
    session = AttachedSession(files)
    assert session.by_source == {"a.jpg": "image-1", "dir/b.PNG": "image-2", "song.mp3": "audio-1"}


def test_gold_one_based_record_becomes_a_valid_example(small: Path):
    bench = tb.Bench.load(small / "tool_desc.json")
    example = tb.record_example(RECORDS[1], bench)
    assert example is not None
    steps = example["plan"]["steps"]
    assert steps[1]["args"] == {"image": "${text_to_image.image}", "image_2": "${image-1}"}


def test_split_holds_examples_out_of_scoring():
    records = [{"id": str(i), "type": t} for i, t in enumerate(["single"] * 10 + ["chain"] * 8 + ["dag"] * 2)]
    pool, scored = tb.split(records, 5, seed=3)
    assert len(pool) == 5 and len(scored) == 15
    assert not {r["id"] for r in pool} & {r["id"] for r in scored}
    assert {r["type"] for r in pool} == {"single", "chain", "dag"}
    assert tb.split(records, 5, seed=3) == (pool, scored)
    few = tb.sample(scored, 6, seed=3)
    assert len(few) == 6 and [r["type"] for r in few].count("single") == 3 and all(r in scored for r in few)


def test_folds_are_disjoint_cover_every_record_and_are_written_as_files(tmp_path: Path):
    records = [{"id": str(i), "type": "single"} for i in range(9)]
    parts = tb.folds(records, 2, seed=1)
    ids = [{r["id"] for r in part} for part in parts]
    assert not ids[0] & ids[1] and ids[0] | ids[1] == {r["id"] for r in records} and abs(len(ids[0]) - len(ids[1])) <= 1
    data = tmp_path / "dev.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert tb.main(["folds", str(data), str(tmp_path / "f"), "--seed", "1"]) == 0
    assert [json.loads(x)["id"] for x in (tmp_path / "f" / "fold_1.jsonl").read_text().splitlines()] == [r["id"] for r in parts[0]]
    # with one fold as --data and the other as --examples-from, nothing scored can be shown
    pool, scored = tb.examples_pool(parts[0], parts[1], 40, 0)
    assert not {r["id"] for r in pool} & {r["id"] for r in scored} and len(scored) == len(parts[0])


def test_run_scores_a_scripted_planner(small: Path, tmp_path: Path):
    bench = tb.Bench.load(small / "tool_desc.json")
    replies = [
        {"reply": "", "steps": [{"id": "s", "tool": "text_summarizer", "args": {"text": "long text"}}]},
        # the first answer leaves out an input: the planner retries with the error, then gets it right
        {"reply": "", "steps": [{"id": "c", "tool": "text_to_image", "args": {"text": "a cat"}},
                                {"id": "j", "tool": "image_stitcher", "args": {"image": "${c.image}"}}]},
        {"reply": "", "steps": [{"id": "c", "tool": "text_to_image", "args": {"text": "a cat"}},
                                {"id": "j", "tool": "image_stitcher", "args": {"image": "${c.image}", "image_2": "${image-1}"}}]},
    ]
    results = list(tb.run(RECORDS, bench, FakeBackend(replies)))
    assert [r.source for r in results] == ["valid", "valid"] and results[1].timing.attempts == 2
    summary = tb.summarise(results)
    assert summary["overall"]["node"] == 100.0 and summary["overall"]["edge"] == 100.0
    assert summary["overall"]["arg_value"] == 100.0
    out = tmp_path / "r.jsonl"
    tb.write_jsonl(results, out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[1]["predicted"] == [{"task": "Text-to-Image", "arguments": ["a cat"]}, {"task": "Image Stitcher", "arguments": ["<node-0>", "b.png"]}]
    assert "gpt-4" in tb.table(summary, "fake")


def test_wrong_plan_scores_below_perfect(small: Path):
    bench = tb.Bench.load(small / "tool_desc.json")
    replies = [
        {"reply": "", "steps": [{"id": "s", "tool": "text_to_image", "args": {"text": "long text"}}]},
        {"reply": "", "steps": [{"id": "c", "tool": "image_downloader", "args": {"url": "a cat"}}]},
    ]
    summary = tb.summarise(list(tb.run(RECORDS, bench, FakeBackend(replies), max_attempts=1)))
    assert summary["overall"]["node"] == 0.0 and summary["overall"]["edge"] == 0.0


@needs_data
def test_cli_taskbench_end_to_end_with_the_fake_planner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Three real TaskBench requests through `llmga bench taskbench --planner fake`."""
    from agent.cli import main

    records = tb.load_records(TASKBENCH / "dev.jsonl")
    _, scored = tb.split(records, 40, 0)
    bench = tb.Bench.load(TASKBENCH / "tool_desc.json")
    gold = [tb.record_example(r, bench) for r in tb.sample(scored, 3, 0)]
    fake = FakeBackend([g["plan"] if g else {"reply": "", "steps": []} for g in gold])
    monkeypatch.setattr("agent.cli.bench.get_backend", lambda name: fake if name == "fake" else None)
    out = tmp_path / "tb.jsonl"
    result = CliRunner().invoke(main, ["bench", "taskbench", "--planner", "fake", "--limit", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "gpt-4" in result.output and len(out.read_text().splitlines()) == 3
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["overall"]["n"] == 3 and summary["overall"]["node"] > 90
    # the request read in parts is on by default here: the tools its parts read closest to travel with it
    asked = [call.messages[-1].content for call in fake.calls]
    assert any("Tools its parts read closest to: " in text for text in asked)


@needs_data
def test_controlllm_scoring_on_real_records():
    registry = controlllm_registry(CONTROLLLM / "tools.json")
    records = cl.load_records(CONTROLLLM / "tool100_dev.jsonl")
    first = records[0]  # detect a boat: image-perception + image-editing on the user's image
    assert {d for s in cl.gold_subtasks(first) for d in s["task"]} == {"image-perception", "image-editing"}
    file = mentioned_files(first["instruction"])[0][0]
    good = {"reply": "", "steps": [
        {"id": "det", "tool": "object_detection", "args": {"image": "${image-1}"}},
        {"id": "sel", "tool": "select_bbox", "args": {"bbox_list": "${det.object}", "condition": "boat"}},
        {"id": "draw", "tool": "highlight_object_on_image", "args": {"image": "${image-1}", "bbox": "${sel.result}"}},
    ]}
    results = list(cl.run([first], registry, FakeBackend([good]), max_attempts=1))
    assert results[0].source == "valid" and [json.loads(text) for text in results[0].as_json()["raw"]] == [good]
    assert results[0].domains == Counts(2, 1, 0)  # select_bbox's domain "general" is not in the gold
    assert (results[0].files_used, results[0].files_total) == (1, 1) and file in first["instruction"]
    summary = cl.summarise(results)
    assert summary["overall"]["n"] == 1 and "domain F1" in cl.table(summary)


def test_type_hints_name_what_fits_from_the_tool_graph(small: Path):
    from agent.planner import type_hints
    from graphs.plan import Step

    registry = taskbench_registry(small / "tool_desc.json")
    session = AttachedSession([("a.png", Kind.IMAGE)])
    steps = [
        Step(id="s", tool="text_summarizer", args={"text": "x"}),
        Step(id="j", tool="image_stitcher", args={"image": "${s.text}"}),
    ]
    hints = type_hints(steps, registry, session)
    assert hints == [
        "step 'j' input 'image' needs image: use ${image-1}",
        "step 'j' input 'image_2' needs image: use ${image-1}",
    ]
    alone = type_hints([Step(id="j", tool="image_stitcher", args={"image": "${image-1}", "image_2": "${image-1}"})], registry, AttachedSession([]))
    assert alone[0].startswith("step 'j' input 'image' needs image, and none exists yet: add an earlier step")
    assert "text_to_image" in alone[0]
    assert type_hints([Step(id="j", tool="image_stitcher", args={"image": "${image-1}", "image_2": "${image-1}"})], registry, session) == []


def test_retry_message_carries_the_hints(small: Path):
    bench = tb.Bench.load(small / "tool_desc.json")
    wrong = {"reply": "", "steps": [{"tool": "text_summarizer", "id": "s", "args": {"text": "t"}},
                                    {"tool": "image_stitcher", "id": "j", "args": {"image": "${s.text}", "image_2": "${image-1}"}}]}
    fake = FakeBackend([wrong, {"reply": "", "steps": []}])
    list(tb.run([RECORDS[1]], bench, fake, max_attempts=2))
    retry = fake.calls[1].last_text
    assert "${s.text} is a text, but an image is needed" in retry
    assert "Hint: step 'j' input 'image' needs image: use ${image-1}" in retry


def test_first_attempt_rescoring_ignores_the_retry(small: Path):
    bench = tb.Bench.load(small / "tool_desc.json")
    wrong = {"reply": "", "steps": [{"tool": "text_to_image", "id": "c", "args": {"text": "a cat"}}]}
    right = {"reply": "", "steps": [{"tool": "text_to_image", "id": "c", "args": {"text": "a cat"}},
                                    {"tool": "image_stitcher", "id": "j", "args": {"image": "${c.image}"}}]}
    fixed = {"reply": "", "steps": [{"tool": "text_to_image", "id": "c", "args": {"text": "a cat"}},
                                    {"tool": "image_stitcher", "id": "j", "args": {"image": "${c.image}", "image_2": "${image-1}"}}]}
    [result] = tb.run([RECORDS[1]], bench, FakeBackend([right, fixed]))
    assert result.timing.attempts == 2 and result.score.counts["edge"].fn == 0
    first = tb.first_attempt(result, bench)
    assert first.source == "invalid" and first.score.counts["node"].tp == 2
    assert first.predicted[1]["arguments"] == ["<node-0>"]
    [single] = tb.run([RECORDS[1]], bench, FakeBackend([wrong]))
    assert tb.first_attempt(single, bench) is single


@needs_data
def test_controlllm_sample_spreads_over_levels():
    records = cl.load_records(CONTROLLLM / "tool100_dev.jsonl")
    few = cl.sample(records, 10)
    assert len(few) == 10 and {r["level"] for r in few} == {"easy", "medium", "hard"}
    assert len({r["type"] for r in few}) >= 6 and cl.sample(records, 10) == few


@needs_data
def test_plan_schema_types_references_and_keeps_every_parameter():
    import re as regex

    from agent.catalogue import typed_ref_pattern

    registry = controlllm_registry(CONTROLLLM / "tools.json")
    pattern = typed_ref_pattern(Kind.LAYOUT, registry)
    assert all(regex.match(pattern, v) for v in ("${det.object}", "${det}", "${layout-2}", "${sel.result}"))
    assert not any(regex.match(pattern, v) for v in ("${det.output}", "${image-1}", "layout-1"))
    steps = plan_schema(registry)["properties"]["steps"]["items"]["anyOf"]
    webpage = next(s for s in steps if s["properties"]["tool"]["const"] == "video_to_webpage")["properties"]["args"]
    assert set(webpage["properties"]) == set(webpage["required"]) == {"video", "title", "tags", "description"}


def test_bench_without_a_checkout_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """An installed package has no bench/: `llmga bench` ends with one line and exit 2, not an ImportError."""
    from agent.cli import main

    monkeypatch.setattr("agent.cli.bench.REPO", tmp_path)
    result = CliRunner().invoke(main, ["bench", "taskbench", "--data", str(tmp_path / "dev.jsonl")])
    assert result.exit_code == 2 and "needs a source checkout" in result.output


def _bench_of(tmp_path: Path, nodes: list[dict]) -> tb.Bench:
    (tmp_path / "tool_desc.json").write_text(json.dumps({"nodes": nodes}))
    return tb.Bench.load(tmp_path / "tool_desc.json")


def _one_tool_example(bench: tb.Bench, task: str, request: str, argument: str) -> dict:
    """A single-tool TaskBench record as an in-context example: its subtask is the tool's name,
    which puts the planner in the mode where subtasks name tools."""
    return tb.record_example({"id": "e", "type": "single", "user_request": request, "task_links": [],
                              "task_nodes": [{"task": task, "arguments": [argument]}]}, bench)


def _fill_every_parameter(messages, schema) -> dict:
    """An arguments answer that writes "x" into every parameter the grammar asks for."""
    return {label: {name: "x" for name in step["properties"]} for label, step in schema["properties"].items()}


def _downloads(tmp_path: Path) -> tb.Bench:
    return _bench_of(tmp_path, [*TOOL_DESC["nodes"],
                                {"id": "Image-to-Text", "desc": "Reads the text in an image.", "input-type": ["image"], "output-type": ["text"]}])


def test_a_picture_is_never_turned_into_a_download_address(tmp_path: Path):
    """"Download https://x/a.jpg and save it as example.jpg": the file name is attached as image-1
    and the model names it as the download's source; image_to_text would make text of it, but
    no converter's text is an address, so the source is left out and the step downloads."""
    from agent.planner import Planner

    bench = _downloads(tmp_path)
    request = "Download the image at https://x.org/a.jpg and save it as example.jpg"
    fake = FakeBackend([{"steps": [{"in": ["image-1"], "tool": "image_downloader"}]}, {"s1": {"url": "https://x.org/a.jpg"}}])
    outcome = Planner(fake, bench.registry).plan(AttachedSession(mentioned_files(request)), request)
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["image_downloader"]
    assert outcome.by_type == ["s1 (image_downloader) has no input for image-1 (image): left out"]


def test_replay_scores_todays_code_on_recorded_answers(tmp_path: Path):
    from agent.planner import Planner
    from bench.replay import replay_one

    bench = _downloads(tmp_path)
    planner = Planner(FakeBackend([]), bench.registry)
    row = {"id": "9", "type": "single", "request": "Download the image at https://x.org/a.jpg and save it as example.jpg", "plan": "valid",
           "predicted": [{"task": "Image-to-Text", "arguments": ["example.jpg"]}, {"task": "Image Downloader", "arguments": ["<node-0>"]}],
           "raw": ['{"steps":[{"in":["image-1"],"tool":"image_downloader"}]}', '{"s1":{"url":"https://x.org/a.jpg"}}']}
    replayed = replay_one(planner, row)
    assert not replayed.diverged and replayed.predicted == [{"task": "Image Downloader", "arguments": []}]
    # an answer the run never recorded cannot be replayed: the request is scored as run
    row = {**row, "raw": ['{"steps":[{"in":["s7"],"tool":"image_downloader"}]}']}
    replayed = replay_one(planner, row)
    assert replayed.diverged and replayed.predicted == row["predicted"]


def test_sources_written_for_another_tool_are_not_bridged_into_the_subtasks_tool(tmp_path: Path):
    """Subtasks "article spinner", "audio effects"; steps audio_effects twice (a stutter), the
    first on audio-1. The subtasks' tools replace the steps; audio-1, written for audio_effects,
    is not turned into text for the spinner (audio_to_text), since audio_effects takes it."""
    from agent.planner import Planner

    nodes = [{"id": "Article Spinner", "desc": "Rewrites an article.", "input-type": ["text"], "output-type": ["text"]},
             {"id": "Audio Effects", "desc": "Applies audio effects.", "input-type": ["audio", "text"], "output-type": ["audio"]},
             {"id": "Audio-to-Text", "desc": "Transcribes speech.", "input-type": ["audio"], "output-type": ["text"]}]
    bench = _bench_of(tmp_path, nodes)
    example = _one_tool_example(bench, "Article Spinner", "Rewrite 'a b c'.", "a b c")

    answer = {"tasks": ["article spinner", "audio effects"],
              "steps": [{"in": ["audio-1"], "tool": "audio_effects"}, {"in": ["s1"], "tool": "audio_effects"}]}
    request = "Rewrite the article 'a b c' and add reverb to example.wav"
    outcome = Planner(FakeBackend([answer, _fill_every_parameter]), bench.registry, examples_data=[example]).plan(
        AttachedSession(mentioned_files(request)), request)
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["article_spinner", "audio_effects"]
    assert outcome.plan.steps[1].args["audio"] == "${audio-1}"


def test_a_bench_tool_that_makes_a_new_medium_is_offered_where_the_request_names_it(tmp_path: Path):
    """TaskBench's tools say nothing of what they are for beyond their types: the planner put
    image_to_video (two pictures -> a slideshow) after "find websites about traveling in Asia".
    A tool making a medium none of its inputs is gets that medium's words, as our generators have."""
    from agent.catalogue import offered

    nodes = [*TOOL_DESC["nodes"],
             {"id": "Image-to-Video", "desc": "Creates a slideshow video.", "input-type": ["image", "image"], "output-type": ["video"]},
             {"id": "Text-to-Audio", "desc": "Generates audio from text.", "input-type": ["text"], "output-type": ["audio"]}]
    registry = _bench_of(tmp_path, nodes).registry
    asia = "Find English websites with useful information about traveling in Asia."
    assert registry.get("text_summarizer").offered_for is None and registry.get("image_stitcher").offered_for is None
    assert not any(offered(registry.get(n), asia, []) for n in ("image_to_video", "text_to_audio", "text_to_image", "image_downloader"))
    assert offered(registry.get("image_to_video"), "Make a slideshow video of these two photos", [])
    assert offered(registry.get("text_to_audio"), "Read it aloud", []) and offered(registry.get("text_to_image"), "Draw a cat", [])
    assert offered(registry.get("image_downloader"), "Download https://x.org/a.png", [])
    # the session's pictures offer it too (what a tool takes, held, offers it): "example.jpg and b.jpg"
    session = AttachedSession(mentioned_files("Join example.jpg and b.jpg"))
    assert offered(registry.get("image_to_video"), "Join example.jpg and b.jpg", session.artifacts())


def test_a_step_given_the_kind_of_its_neighbour_tool_takes_that_tool(tmp_path: Path):
    """audio_to_text of example.mp4 was bridged as video_to_audio, audio_to_text; the tool that
    does the same job on a video, video_to_text, is one step. A text tool given a picture whose
    job no picture tool does (a summary) is still bridged through image_to_text."""
    from agent.planner import Planner

    nodes = [{"id": "Audio-to-Text", "desc": "Transcribes speech from an audio file into text.", "input-type": ["audio"], "output-type": ["text"]},
             {"id": "Video-to-Text", "desc": "Transcribes speech from a video file into text.", "input-type": ["video"], "output-type": ["text"]},
             {"id": "Video-to-Audio", "desc": "Extracts the audio track from a given video file.", "input-type": ["video"], "output-type": ["audio"]},
             {"id": "Image-to-Text", "desc": "Extracts text from an input image.", "input-type": ["image"], "output-type": ["text"]},
             {"id": "Text Summarizer", "desc": "Summarizes a given text.", "input-type": ["text"], "output-type": ["text"]}]
    bench = _bench_of(tmp_path, nodes)

    def plan(request: str, steps: list[dict]) -> object:
        return Planner(FakeBackend([{"steps": steps}, _fill_every_parameter]), bench.registry).plan(AttachedSession(mentioned_files(request)), request)

    outcome = plan("Transcribe the speech in example.mp4", [{"in": ["video-1"], "tool": "audio_to_text"}])
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["video_to_text"]
    assert outcome.by_type == ["s1 (audio_to_text) takes no video: video_to_text, the same job on it, instead"]
    outcome = plan("Summarize the text in example.jpg", [{"in": ["image-1"], "tool": "text_summarizer"}])
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["image_to_text", "text_summarizer"]


def test_subtasks_that_name_their_tools_are_chained_in_their_order(tmp_path: Path):
    """"Extract the keywords, translate them, then summarize": subtasks keyword extractor, text
    translator, text summarizer over a stutter of five steps. The subtasks' tools replace the
    steps, each taking the text of the one before it (the arguments answer had written every
    step's text out as "benefits of exercise", and the plan had no links)."""
    from agent.planner import Planner, PlannerOptions

    nodes = [{"id": "Keyword Extractor", "desc": "Extracts the keywords of a text.", "input-type": ["text"], "output-type": ["text"]},
             {"id": "Text Translator", "desc": "Translates a text to English.", "input-type": ["text"], "output-type": ["text"]},
             {"id": "Text Summarizer", "desc": "Summarizes a text.", "input-type": ["text"], "output-type": ["text"]},
             {"id": "Video Voiceover", "desc": "Adds a voiceover to a video.", "input-type": ["video", "text"], "output-type": ["video"]}]
    bench = _bench_of(tmp_path, nodes)
    example = _one_tool_example(bench, "Text Summarizer", "Summarize 'a b c'.", "a b c")

    answer = {"tasks": ["keyword extractor", "text translator", "text summarizer", "video voiceover"],
              "steps": [{"in": ["video-1"], "tool": "video_voiceover"}, *({"in": [f"s{k}"], "tool": "video_voiceover"} for k in range(1, 5))]}
    request = "Extract the keywords of my French text, translate them, summarize them and read them over example.mp4"
    # a shortlist of 2 of these 4 tools: video_voiceover is off the first three subtasks' lists
    outcome = Planner(FakeBackend([answer, _fill_every_parameter]), bench.registry, examples_data=[example], options=PlannerOptions(shortlist=2)).plan(
        AttachedSession(mentioned_files(request)), request)
    assert outcome.ok, outcome.errors
    steps = outcome.plan.steps
    assert [s.tool for s in steps] == ["keyword_extractor", "text_translator", "text_summarizer", "video_voiceover"]
    assert [s.args.get("text") for s in steps[1:]] == ["${s1.text}", "${s2.text}", "${s3.text}"]
    assert steps[3].args["video"] == "${video-1}"


def test_a_step_repeating_an_earlier_one_on_the_same_inputs_is_left_out(tmp_path: Path):
    """"video to audio", "audio to text" listed twice over: the second pair does the same work
    on the same inputs with nothing left to write, so it is left out and the plan says so."""
    from agent.planner import Planner

    nodes = [{"id": "Video-to-Audio", "desc": "Extracts the audio track from a given video file.", "input-type": ["video"], "output-type": ["audio"]},
             {"id": "Audio-to-Text", "desc": "Transcribes speech from an audio file into text.", "input-type": ["audio"], "output-type": ["text"]}]
    bench = _bench_of(tmp_path, nodes)
    answer = {"tasks": ["video to audio", "audio to text", "video to audio", "audio to text"],
              "steps": [{"in": ["video-1"], "tool": "video_to_audio"}, {"in": ["s1"], "tool": "audio_to_text"},
                        {"in": ["video-1"], "tool": "video_to_audio"}, {"in": ["s3"], "tool": "audio_to_text"}]}
    request = "Transcribe the speech of example.mp4"
    outcome = Planner(FakeBackend([answer]), bench.registry).plan(AttachedSession(mentioned_files(request)), request)
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["video_to_audio", "audio_to_text"]
    assert outcome.by_type[-2:] == ["s3 (video_to_audio) repeats s1 on the same inputs: left out",
                                    "s4 (audio_to_text) repeats s2 on the same inputs: left out"]


def test_a_last_step_beyond_the_subtasks_that_no_subtask_names_is_left_out(tmp_path: Path):
    """Subtask "image downloader", steps image_downloader then image_to_text: the step beyond
    the subtasks serves none of them (a helper comes before what it serves), so it is left out."""
    from agent.planner import Planner

    bench = _downloads(tmp_path)
    example = _one_tool_example(bench, "Image Downloader", "Download https://x.org/b.png.", "https://x.org/b.png")
    request = "I want to download an image from https://x.org/a.jpg"
    answer = {"tasks": ["image downloader"], "steps": [{"tool": "image_downloader"}, {"in": ["s1"], "tool": "image_to_text"}]}
    outcome = Planner(FakeBackend([answer, {"s1": {"url": "https://x.org/a.jpg"}}]), bench.registry, examples_data=[example],
                      options=PlannerOptions(graph_steps=False)).plan(AttachedSession(mentioned_files(request)), request)
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["image_downloader"]
    assert outcome.by_type[0] == "s2 (image_to_text) is no subtask's tool and comes last: left out"


def test_a_url_parameter_takes_the_address_the_request_states(small: Path):
    """A downloader's ``url`` is the address as written (no scheme added), and a plan whose only
    open parameter it was asks for no arguments answer; where the request states fewer addresses
    than there are such parameters, the model writes them, and with ``urls`` off it always does."""
    from agent.quotes import stated_urls

    assert stated_urls("from example.com/a.jpg, then https://x.org/b.png). Mail bob@y.com; keep c.jpg") == [
        "example.com/a.jpg", "https://x.org/b.png"]
    registry = taskbench_registry(small / "tool_desc.json")
    session = AttachedSession([])
    one = FakeBackend([{"tasks": ["image downloader"], "steps": [{"tool": "image_downloader"}]}])
    outcome = Planner(one, registry).plan(session, "Please download the image at example.com/cat.jpg.")
    assert outcome.ok, outcome.errors
    assert outcome.plan.steps[0].args == {"url": "example.com/cat.jpg"} and len(one.calls) == 1
    two = {"tasks": ["image downloader", "image downloader"], "steps": [{"tool": "image_downloader"}, {"tool": "image_downloader"}]}
    asked = FakeBackend([two, {"s1": {"url": "example.com/cat.jpg"}, "s2": {"url": "example.com/dog.jpg"}}])
    outcome = Planner(asked, registry).plan(session, "Download the image at example.com/cat.jpg and a second one like it.")
    assert outcome.ok, outcome.errors
    assert "url" in asked.calls[1].json_schema["properties"]["s1"]["properties"] and len(asked.calls) == 2
    off = FakeBackend([{"tasks": ["image downloader"], "steps": [{"tool": "image_downloader"}]}, {"s1": {"url": "https://example.com/cat.jpg"}}])
    outcome = Planner(off, registry, options=PlannerOptions(urls=False)).plan(session, "Please download the image at example.com/cat.jpg.")
    assert outcome.plan.steps[0].args == {"url": "https://example.com/cat.jpg"} and len(off.calls) == 2


def _splicing(tmp_path: Path) -> tuple[tb.Bench, dict]:
    nodes = [{"id": "Audio Splicer", "desc": "Combines two audio files into one.", "input-type": ["audio", "audio"], "output-type": ["audio"]},
             {"id": "Audio-to-Image", "desc": "Draws a waveform of an audio file.", "input-type": ["audio"], "output-type": ["image"]},
             {"id": "Text Summarizer", "desc": "Summarizes a text.", "input-type": ["text"], "output-type": ["text"]}]
    bench = _bench_of(tmp_path, nodes)
    example = _one_tool_example(bench, "Text Summarizer", "Summarize 'a b c'.", "a b c")
    return bench, example


def test_subtasks_naming_tools_end_the_answer_and_the_tool_graph_makes_the_steps(tmp_path: Path):
    """Where the examples' subtasks are tool names (TaskBench's), the grammar binds the steps to
    ``[]``: the answer is the subtasks, and each subtask's tool becomes a step, taking the step
    before it and the listed files its other inputs need, in the order the request names them
    (the two files once each, not the newest twice). One model call for the whole plan."""
    bench, example = _splicing(tmp_path)
    request = "Combine example1.wav and example2.wav, then draw the waveform of the result."
    fake = FakeBackend([{"tasks": ["audio splicer", "audio to image"], "steps": []}])
    outcome = Planner(fake, bench.registry, examples_data=[example]).plan(AttachedSession(mentioned_files(request)), request)
    assert outcome.ok, outcome.errors
    assert len(fake.calls) == 1
    plan = next(p for p in fake.calls[0].json_schema["anyOf"] if "tasks" in p.get("properties", {}))
    assert plan["properties"]["steps"] == {"type": "array", "maxItems": 0}
    steps = outcome.plan.steps
    assert [s.tool for s in steps] == ["audio_splicer", "audio_to_image"]
    assert steps[0].args == {"audio": "${audio-1}", "audio_2": "${audio-2}"}
    assert steps[1].args == {"audio": "${s1.audio}"}
    # off: the model writes the steps, and the grammar asks for them
    written = {"tasks": ["audio splicer"], "steps": [{"in": ["audio-1", "audio-2"], "tool": "audio_splicer"}]}
    model = FakeBackend([written])
    outcome = Planner(model, bench.registry, examples_data=[example], options=PlannerOptions(graph_steps=False)).plan(
        AttachedSession(mentioned_files(request)), request)
    assert outcome.ok, outcome.errors
    assert all(p["properties"]["steps"] != {"type": "array", "maxItems": 0}
               for p in model.calls[0].json_schema["anyOf"] if "tasks" in p.get("properties", {}))


def test_a_subtask_naming_no_tool_gets_its_step_asked_for_from_its_shortlist(tmp_path: Path):
    """"join the two sounds" names no tool: the steps are asked for once more, one per subtask,
    each from its subtask's shortlist (the grammar's tools for step 1 are that shortlist)."""
    bench, example = _splicing(tmp_path)
    request = "Join example1.wav and example2.wav."
    fake = FakeBackend([{"tasks": ["join the two sounds"], "steps": []}, {"steps": [{"in": ["audio-1", "audio-2"], "tool": "audio_splicer"}]}])
    outcome = Planner(fake, bench.registry, examples_data=[example], options=PlannerOptions(shortlist=2)).plan(
        AttachedSession(mentioned_files(request)), request)
    assert outcome.ok, outcome.errors
    assert len(fake.calls) == 2 and "audio_splicer" in json.dumps(fake.calls[1].json_schema)
    assert [s.tool for s in outcome.plan.steps] == ["audio_splicer"]


def test_graph_steps_run_after_what_makes_their_inputs(tmp_path: Path):
    """Subtasks listed image stitcher, video to image, image colorizer for "stitch a still of
    example.mp4 to example.jpg, then colorize": the stitcher has one picture, and the still is
    the other, so video_to_image runs first; a transform (the colorizer turns a picture into a
    picture, adding none) would not be moved."""
    nodes = [{"id": "Video-to-Image", "desc": "Extracts a still image from a video.", "input-type": ["video"], "output-type": ["image"]},
             {"id": "Image Stitcher", "desc": "Stitches two images.", "input-type": ["image", "image"], "output-type": ["image"]},
             {"id": "Image Colorizer", "desc": "Adds color to a black and white image.", "input-type": ["image"], "output-type": ["image"]}]
    bench = _bench_of(tmp_path, nodes)
    example = _one_tool_example(bench, "Image Colorizer", "Colorize example.jpg.", "example.jpg")
    request = "Take a still of example.mp4, stitch it to example.jpg and colorize the panorama."
    fake = FakeBackend([{"tasks": ["image stitcher", "video to image", "image colorizer"], "steps": []}])
    outcome = Planner(fake, bench.registry, examples_data=[example]).plan(AttachedSession(mentioned_files(request)), request)
    assert outcome.ok, outcome.errors
    steps = outcome.plan.steps
    assert [s.tool for s in steps] == ["video_to_image", "image_stitcher", "image_colorizer"]
    assert steps[1].args == {"image": "${s1.image}", "image_2": "${image-1}"} and steps[2].args == {"image": "${s2.image}"}


def test_a_generator_inserted_for_a_missing_input_makes_from_the_text_the_plan_made(tmp_path: Path):
    """"Summarize this passage and give me a frame of a video about it", subtasks text summarizer
    and video to image: nothing makes the video, so text_to_video is inserted, and it makes the
    video from the summary (nothing else takes it) instead of a prompt written anew."""
    nodes = [{"id": "Text Summarizer", "desc": "Summarizes a text.", "input-type": ["text"], "output-type": ["text"]},
             {"id": "Text-to-Video", "desc": "Generates a video from text.", "input-type": ["text"], "output-type": ["video"]},
             {"id": "Video-to-Image", "desc": "Extracts a still image from a video.", "input-type": ["video"], "output-type": ["image"]}]
    bench = _bench_of(tmp_path, nodes)
    example = _one_tool_example(bench, "Text Summarizer", "Summarize 'a b c'.", "a b c")
    request = "Summarize 'the river ran fast through the old town all night' and give me a frame of a video about it."
    fake = FakeBackend([{"tasks": ["text summarizer", "video to image"], "steps": []}, _fill_every_parameter])
    outcome = Planner(fake, bench.registry, examples_data=[example]).plan(AttachedSession(mentioned_files(request)), request)
    assert outcome.ok, outcome.errors
    steps = outcome.plan.steps
    assert [s.tool for s in steps] == ["text_summarizer", "text_to_video", "video_to_image"]
    assert steps[1].args == {"text": "${s1.text}"} and len(fake.calls) == 1


def test_a_missing_input_is_converted_from_what_the_plan_made_and_nothing_takes(tmp_path: Path):
    """"Add reverb to example.wav, draw it and find similar images", subtasks audio effects and
    image search by image: the search needs a picture nothing makes, and the reverbed audio waits
    for a step to take it, so the tool graph's converter from audio (audio_to_image) makes the
    picture, not text_to_image from the request's words."""
    nodes = [{"id": "Audio Effects", "desc": "Applies effects to an audio file.", "input-type": ["audio", "text"], "output-type": ["audio"]},
             {"id": "Audio-to-Image", "desc": "Draws the waveform of an audio file.", "input-type": ["audio"], "output-type": ["image"]},
             {"id": "Text-to-Image", "desc": "Generates an image from text.", "input-type": ["text"], "output-type": ["image"]},
             {"id": "Image Search (by Image)", "desc": "Finds similar images.", "input-type": ["image"], "output-type": ["image"]}]
    bench = _bench_of(tmp_path, nodes)
    example = _one_tool_example(bench, "Text-to-Image", "Draw 'a red fox'.", "a red fox")
    request = "Add reverb to example.wav, then draw it and find similar images."
    fake = FakeBackend([{"tasks": ["audio effects", "image search by image"], "steps": []}, _fill_every_parameter])
    outcome = Planner(fake, bench.registry, examples_data=[example]).plan(AttachedSession(mentioned_files(request)), request)
    assert outcome.ok, outcome.errors
    steps = outcome.plan.steps
    assert [s.tool for s in steps] == ["audio_effects", "audio_to_image", "image_search_by_image"]
    assert steps[1].args == {"audio": "${s1.audio}"} and steps[2].args == {"image": f"${{{steps[1].id}.image}}"}


AUDIO_TEXT = [{"id": "Text Downloader", "desc": "Downloads the text of a web page.", "input-type": ["url"], "output-type": ["text"]},
              {"id": "Text-to-Audio", "desc": "Reads a text aloud.", "input-type": ["text"], "output-type": ["audio"]},
              {"id": "Audio-to-Text", "desc": "Transcribes speech.", "input-type": ["audio"], "output-type": ["text"]},
              {"id": "Audio Splicer", "desc": "Combines two audio files into one.", "input-type": ["audio", "audio"], "output-type": ["audio"]},
              {"id": "Audio Effects", "desc": "Applies effects to an audio file.", "input-type": ["audio", "text"], "output-type": ["audio"]},
              {"id": "Audio-to-Image", "desc": "Draws the waveform of an audio file.", "input-type": ["audio"], "output-type": ["image"]}]


def _planned(tmp_path: Path, request: str, tasks: list[str], options: PlannerOptions | None = None):
    bench = _bench_of(tmp_path, AUDIO_TEXT)
    example = _one_tool_example(bench, "Audio-to-Text", "Transcribe example.wav.", "example.wav")
    fake = FakeBackend([{"tasks": tasks, "steps": []}, _fill_every_parameter])
    outcome = Planner(fake, bench.registry, examples_data=[example], options=options).plan(AttachedSession(mentioned_files(request)), request)
    assert outcome.ok, outcome.errors
    return outcome


def test_a_converter_named_the_wrong_way_round_is_turned_where_that_joins_the_chain(tmp_path: Path):
    """"Download the article, read it aloud and splice it with example.wav", listed text
    downloader, audio to text, audio splicer: the download's text and the transcript are both
    left untaken; text_to_audio joins the download to the splice. Off, the plan is as listed."""
    request = "Download the article at https://x.org/a, read it aloud and splice it with example.wav."
    tasks = ["text downloader", "audio to text", "audio splicer"]
    outcome = _planned(tmp_path, request, tasks)
    steps = outcome.plan.steps
    assert [s.tool for s in steps] == ["text_downloader", "text_to_audio", "audio_splicer"]
    assert steps[1].args == {"text": "${s1.text}"} and steps[2].args == {"audio": "${s2.audio}", "audio_2": "${audio-1}"}
    assert outcome.by_type[0] == "s2 (audio_to_text) turned round: text_to_audio"
    kept = _planned(tmp_path, request, tasks, PlannerOptions(join_ends=False))
    assert [s.tool for s in kept.plan.steps][:3] == ["text_downloader", "audio_to_text", "audio_splicer"]


def test_decoding_stops_where_the_subtasks_list_closes(tmp_path: Path):
    """With the steps from the tool graph the rest of the structure answer is forced; the
    backend is asked to stop at ``"],`` and the answer is recorded whole. With ``stop_early`` off
    it is asked for all of it."""
    request = "Download the article at https://x.org/a and read it aloud."
    for stop_early, stop in ((True, ('"],',)), (False, ())):
        bench = _bench_of(tmp_path, AUDIO_TEXT)
        example = _one_tool_example(bench, "Audio-to-Text", "Transcribe example.wav.", "example.wav")
        fake = FakeBackend([{"tasks": ["text downloader", "text to audio"], "steps": []}, _fill_every_parameter])
        outcome = Planner(fake, bench.registry, examples_data=[example], options=PlannerOptions(stop_early=stop_early)).plan(
            AttachedSession(mentioned_files(request)), request)
        assert outcome.ok and [s.tool for s in outcome.plan.steps] == ["text_downloader", "text_to_audio"]
        assert [call.stop for call in fake.calls] == [stop]  # one answer: the url is the stated one, the text s1's
        assert json.loads(outcome.generations[0].text) == {"tasks": ["text downloader", "text to audio"], "steps": []}


def test_a_generator_of_what_the_request_gives_is_left_out_where_a_later_step_takes_the_file(tmp_path: Path):
    """"Add reverb to example.wav and draw its waveform", listed text to audio, audio effects,
    audio to image: the reverb takes the given file, and no new audio is made."""
    request = "Add reverb to example.wav and draw its waveform."
    outcome = _planned(tmp_path, request, ["text to audio", "audio effects", "audio to image"])
    assert [s.tool for s in outcome.plan.steps] == ["audio_effects", "audio_to_image"]
    assert outcome.plan.steps[0].args["audio"] == "${audio-1}"
    # a later step, not the next, takes the given files
    request = "Download the text at https://x.org/a, then splice example1.wav with example2.wav."
    outcome = _planned(tmp_path, request, ["text to audio", "text downloader", "audio splicer"])
    assert [s.tool for s in outcome.plan.steps] == ["text_downloader", "audio_splicer"]


def test_a_single_step_is_turned_round_only_where_the_request_quotes_no_words_to_make_from(tmp_path: Path):
    """The file a one-step request names is often where to save what it makes; with no words
    quoted to make from, it is what to work on."""
    request = "Read 'the rain in spain falls mainly on the plain' aloud and save it as example.wav."
    outcome = _planned(tmp_path, request, ["text to audio"])
    assert [s.tool for s in outcome.plan.steps] == ["text_to_audio"]
    outcome = _planned(tmp_path, "Please transcribe the speech of my example.wav into a text document.", ["text to audio"])
    assert [s.tool for s in outcome.plan.steps] == ["audio_to_text"]
    assert outcome.plan.steps[0].args["audio"] == "${audio-1}"


def test_a_word_only_one_tool_description_uses_names_that_tool_with_the_parts(tmp_path: Path):
    """"a unique text version of the speech" reads like no tool as a whole part; "unique" is
    a word of Article Spinner's description and no other's, so with ``cues`` the request message
    names article_spinner beside the parts' closest tools. Words every tool shares (text) name none."""
    from agent.retrieval import ToolRanker

    nodes = [{"id": "Article Spinner", "desc": "Rewrites a text with synonyms into a new, unique version.", "input-type": ["text"], "output-type": ["text"]},
             {"id": "Video-to-Text", "desc": "Transcribes a video into text.", "input-type": ["video"], "output-type": ["text"]},
             {"id": "Image Search", "desc": "Searches for images by a text query.", "input-type": ["text"], "output-type": ["image"]}]
    bench = _bench_of(tmp_path, nodes)
    request = "I have a video file 'example.mp4' with a speech. I would like a unique text version of the speech, then related images."
    assert ToolRanker(bench.registry).cued(request) == ["article_spinner"]
    assert ToolRanker(bench.registry).cued("Please look at this text for me.") == []
    example = _one_tool_example(bench, "Image Search", "Find images of 'cats'.", "cats")
    for cues in (True, False):
        fake = FakeBackend([{"tasks": ["video to text", "image search"], "steps": []}, _fill_every_parameter])
        Planner(fake, bench.registry, examples_data=[example], options=PlannerOptions(parts=True, cues=cues)).plan(
            AttachedSession(mentioned_files(request)), request)
        assert ("article_spinner" in fake.calls[0].messages[-1].content) is cues


def test_an_input_nothing_makes_is_downloaded_where_the_request_states_an_address(tmp_path: Path):
    """"Synchronize the audio file at https://... with example.mp4", listed video
    synchronization alone: the audio it lacks is fetched from the stated address, not read aloud
    from words, though text_to_audio's description reads closer to the request."""
    nodes = [{"id": "Video Synchronization", "desc": "Synchronizes a video with an audio file.", "input-type": ["video", "audio"], "output-type": ["video"]},
             {"id": "Text-to-Audio", "desc": "Generates an audio file to synchronize with the video.", "input-type": ["text"], "output-type": ["audio"]},
             {"id": "Audio Downloader", "desc": "Downloads an audio file from a URL.", "input-type": ["url"], "output-type": ["audio"]}]
    bench = _bench_of(tmp_path, nodes)
    example = _one_tool_example(bench, "Text-to-Audio", "Read 'hello' aloud.", "hello")
    request = "Please synchronize the audio file at https://example.com/audio.wav with the video example.mp4."
    fake = FakeBackend([{"tasks": ["video synchronization"], "steps": []}, _fill_every_parameter])
    outcome = Planner(fake, bench.registry, examples_data=[example]).plan(AttachedSession(mentioned_files(request)), request)
    assert outcome.ok, outcome.errors
    steps = outcome.plan.steps
    assert [s.tool for s in steps] == ["audio_downloader", "video_synchronization"]
    assert steps[0].args["url"] == "https://example.com/audio.wav"


TEXT_TOOLS = [{"id": "Keyword Extractor", "desc": "Extracts the most important keywords from a text.", "input-type": ["text"], "output-type": ["text"]},
              {"id": "Text Grammar Checker", "desc": "Finds grammatical errors in a text and corrects them.", "input-type": ["text"], "output-type": ["text"]},
              {"id": "Article Spinner", "desc": "Rewrites a given article with synonyms.", "input-type": ["text"], "output-type": ["text"]},
              {"id": "Text Search", "desc": "Looks a query up on the internet.", "input-type": ["text"], "output-type": ["text"]}]


def test_a_tool_the_request_calls_by_name_and_no_subtask_lists_is_added_where_it_joins_the_chain(tmp_path: Path):
    """"..., check their grammar, and search the web with them", listed keyword extractor, text
    search: "grammar" is a word of text_grammar_checker's name and of no other tool's name or
    description, so the checker is added, between the two steps it is said between. "article"
    names what the user has, not article_spinner. A one-step plan gets what it lacks too; off, as listed."""
    bench = _bench_of(tmp_path, TEXT_TOOLS)
    example = _one_tool_example(bench, "Text Search", "Search for 'cats'.", "cats")
    request = "Extract the keywords of my article, check their grammar, and search the web with them."

    def planned(tasks: list[str], called: bool = True) -> list[str]:
        fake = FakeBackend([{"tasks": tasks, "steps": []}, _fill_every_parameter])
        outcome = Planner(fake, bench.registry, examples_data=[example], options=PlannerOptions(called=called)).plan(
            AttachedSession(mentioned_files(request)), request)
        assert outcome.ok, outcome.errors
        if called:
            assert outcome.plan.steps[1].args["text"] == "${s1.text}" and outcome.plan.steps[2].args["text"] == "${s2.text}"
            assert outcome.by_type[0] == "text_grammar_checker added as step 2: the request calls it by name"
        return [s.tool for s in outcome.plan.steps]

    assert planned(["keyword extractor", "text search"]) == ["keyword_extractor", "text_grammar_checker", "text_search"]
    assert planned(["keyword extractor", "text search"], called=False) == ["keyword_extractor", "text_search"]
    assert planned(["keyword extractor"]) == ["keyword_extractor", "text_grammar_checker", "text_search"]


def test_a_page_the_request_states_is_downloaded_before_a_first_step_that_takes_words(tmp_path: Path):
    """"Extract the keywords of the blog article at https://...", listed keyword extractor
    alone: the page's words are fetched first. The address of a sound file is no page, and with
    ``pages`` off the plan is as listed."""
    nodes = [*TEXT_TOOLS, {"id": "Text Downloader", "desc": "Downloads the text of a web page.", "input-type": ["url"], "output-type": ["text"]}]
    bench = _bench_of(tmp_path, nodes)
    example = _one_tool_example(bench, "Text Search", "Search for 'cats'.", "cats")

    def planned(request: str, pages: bool = True) -> list[str]:
        fake = FakeBackend([{"tasks": ["keyword extractor"], "steps": []}, _fill_every_parameter])
        outcome = Planner(fake, bench.registry, examples_data=[example], options=PlannerOptions(pages=pages)).plan(
            AttachedSession(mentioned_files(request)), request)
        assert outcome.ok, outcome.errors
        if outcome.plan.steps[0].tool == "text_downloader":
            assert outcome.plan.steps[0].args["url"] == "https://www.example.com/blog/post-1"
            assert outcome.plan.steps[1].args["text"] == "${s1.text}"
        return [s.tool for s in outcome.plan.steps]

    request = "Extract the main keywords of the blog article at https://www.example.com/blog/post-1."
    assert planned(request) == ["text_downloader", "keyword_extractor"]
    assert planned(request, pages=False) == ["keyword_extractor"]
    assert planned("Extract the keywords of the song at https://example.com/song.wav.") == ["keyword_extractor"]


def test_a_downloader_that_would_read_its_address_from_prose_gets_the_address_extractor(tmp_path: Path):
    """"Download the page, translate it, then download the image it links", listed text
    downloader, text translator, image downloader: the translation is prose, and the one tool
    that makes an address from words goes between. "Download the video in this text: '...'"
    gets it first, on the quoted passage. With ``pages`` off, as listed."""
    nodes = [{"id": "Text Downloader", "desc": "Downloads the text of a web page.", "input-type": ["url"], "output-type": ["text"]},
             {"id": "Text Translator", "desc": "Translates a text into English.", "input-type": ["text"], "output-type": ["text"]},
             {"id": "URL Extractor", "desc": "Extracts the web addresses a text holds.", "input-type": ["text"], "output-type": ["url"]},
             {"id": "Image Downloader", "desc": "Downloads an image from a URL.", "input-type": ["url"], "output-type": ["image"]},
             {"id": "Video Downloader", "desc": "Downloads a video from a URL.", "input-type": ["url"], "output-type": ["video"]}]
    bench = _bench_of(tmp_path, nodes)
    example = _one_tool_example(bench, "Text Translator", "Translate 'hola'.", "hola")

    def planned(request: str, tasks: list[str], pages: bool = True):
        fake = FakeBackend([{"tasks": tasks, "steps": []}, _fill_every_parameter])
        outcome = Planner(fake, bench.registry, examples_data=[example], options=PlannerOptions(pages=pages)).plan(
            AttachedSession(mentioned_files(request)), request)
        assert outcome.ok, outcome.errors
        return outcome.plan.steps

    request = "Download the page at https://example.com/news, translate it, then download the image it links."
    tasks = ["text downloader", "text translator", "image downloader"]
    steps = planned(request, tasks)
    assert [s.tool for s in steps] == ["text_downloader", "text_translator", "url_extractor", "image_downloader"]
    assert steps[2].args["text"] == "${s2.text}" and steps[3].args["url"] == "${s3.url}"
    assert [s.tool for s in planned(request, tasks, pages=False)] == ["text_downloader", "text_translator", "image_downloader"]
    request = "Download the video in this text: 'Check out this amazing video of mine: https://example.com/v.mp4'."
    assert [s.tool for s in planned(request, ["video downloader"])] == ["url_extractor", "video_downloader"]


def test_neighbour_steps_listed_against_the_order_the_request_says_them_change_places(tmp_path: Path):
    """"Expand this text, summarize it, translate it, then search", listed expander, translator,
    summarizer, search: all four take and make text, so the types cannot order them; the request
    says "summarize" before "translate". A word says a tool by the root of a word only that
    tool's name has: "voice" is voice_changer's, no form of "voiceover". Off, as listed."""
    from agent.retrieval import ToolRanker

    said = [{"id": name, "desc": f"{name} of a given text.", "input-type": ["text"], "output-type": ["text"]}
            for name in ("Text Expander", "Text Summarizer", "Text Translator", "Text Search")]
    voices = [{"id": "Voice Changer", "desc": "Changes a voice.", "input-type": ["audio"], "output-type": ["audio"]},
              {"id": "Video Voiceover", "desc": "Adds a voiceover to a video.", "input-type": ["video", "text"], "output-type": ["video"]}]
    bench = _bench_of(tmp_path, [*said, *voices])
    example = _one_tool_example(bench, "Text Search", "Search for 'cats'.", "cats")
    request = "I want to expand the text 'Voyage a Paris', summarize it, translate it to English, and search for more about it."

    def planned(said_order: bool = True) -> list[str]:
        fake = FakeBackend([{"tasks": ["text expander", "text translator", "text summarizer", "text search"], "steps": []},
                            _fill_every_parameter])
        outcome = Planner(fake, bench.registry, examples_data=[example], options=PlannerOptions(said_order=said_order)).plan(
            AttachedSession(mentioned_files(request)), request)
        assert outcome.ok, outcome.errors
        assert [s.args["text"] for s in outcome.plan.steps[1:]] == ["${s1.text}", "${s2.text}", "${s3.text}"]
        return [s.tool for s in outcome.plan.steps]

    assert planned() == ["text_expander", "text_summarizer", "text_translator", "text_search"]
    assert planned(said_order=False) == ["text_expander", "text_translator", "text_summarizer", "text_search"]
    ranker = ToolRanker(bench.registry)
    assert ranker.said_at("make a short summary", "text_summarizer") == 13
    assert ranker.said_at("add my voiceover", "voice_changer") is None
    assert ranker.said_at("make the voice deeper", "video_voiceover") is None and ranker.said_at("make the voice deeper", "voice_changer") == 9


def test_with_graph_steps_the_examples_show_the_answer_as_it_is_written(tmp_path: Path):
    """The examples' structure is ``"steps":[]`` like the answer the grammar allows (the steps
    come from the tool graph); with ``shown_steps`` they show the steps they were planned with."""
    bench, example = _splicing(tmp_path)
    shown = '{"tasks":["text summarizer"],"steps":[{"tool":"text_summarizer"}]}'
    assert '{"tasks":["text summarizer"],"steps":[]}' in Planner(FakeBackend([]), bench.registry, examples_data=[example]).system
    assert shown in Planner(FakeBackend([]), bench.registry, examples_data=[example], options=PlannerOptions(shown_steps=True)).system
    assert shown in Planner(FakeBackend([]), bench.registry, examples_data=[example], options=PlannerOptions(graph_steps=False)).system


def _controlllm_tool(name: str, args: dict[str, str], returns: dict[str, str], description: str) -> dict:
    return {"name": name, "description": description, "domain": "image-perception",
            "args": [{"name": n, "type": t, "description": n} for n, t in args.items()],
            "returns": [{"name": n, "type": t, "description": n} for n, t in returns.items()]}


def test_a_box_or_mask_nothing_makes_is_found_in_the_picture_the_step_works_on(tmp_path: Path):
    """"Crop out the baseball glove in x.png", answered image_cropping alone: the crop lacks the
    glove's box, and the converter from its own picture to a box (object_detection) runs on that
    picture first. What is no fact of the picture is not looked for in it: a sound a video lacks
    is not the video's own. With ``make_missing`` off the problem goes back to the model."""
    from agent.planner import Planner, PlannerOptions

    tools = [_controlllm_tool("image_cropping", {"image": "image", "object": "bbox"}, {"image": "image"}, "Crop the image to a box."),
             _controlllm_tool("object_detection", {"image": "image"}, {"object": "bbox"}, "Detect all the objects in the image."),
             _controlllm_tool("image_captioning", {"image": "image"}, {"text": "text"}, "Caption the image."),
             _controlllm_tool("dub_video", {"video": "video", "audio": "audio"}, {"video": "video"}, "Dub a video with an audio."),
             _controlllm_tool("video_to_audio", {"video": "video"}, {"audio": "audio"}, "The sound track of a video.")]
    (tmp_path / "tools.json").write_text(json.dumps(tools))
    registry = controlllm_registry(tmp_path / "tools.json")

    def planned(request: str, tool: str, source: str, options: PlannerOptions | None = None):
        answer = {"tasks": ["do it"], "steps": [{"in": [source], "tool": tool}]}

        def reply(messages, schema) -> dict:  # the same structure every time it is asked for one
            return _fill_every_parameter(messages, schema) if "properties" in schema else answer

        fake = FakeBackend([reply] * 6)
        return Planner(fake, registry, examples_text="", options=options).plan(AttachedSession(mentioned_files(request)), request)

    outcome = planned("Crop out the baseball glove in x.png", "image_cropping", "image-1")
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["object_detection", "image_cropping"]
    detect, crop = outcome.plan.steps
    assert detect.args["image"] == "${image-1}" and crop.args["image"] == "${image-1}"
    assert crop.args["object"] == f"${{{detect.id}.object}}"
    dubbed = planned("Dub my clip.mp4 with a new voice", "dub_video", "video-1")
    assert not dubbed.ok and "dub_video) needs an audio" in dubbed.errors[-1]  # back to the model, not the clip's own sound
    kept = planned("Crop out the baseball glove in x.png", "image_cropping", "image-1", PlannerOptions(make_missing=False))
    assert not kept.ok
