"""TaskBench metrics on hand-made cases, including evaluate.py's edge cases."""

from __future__ import annotations

import pytest

from bench.metrics import (
    Counts,
    content_type,
    detect_base,
    micro,
    normalise_gold,
    percentile,
    score_request,
    set_counts,
    task_graph,
)

OUT = {"Text Summarizer": "text", "Text Translator": "text", "Image Search": "Image", "Text-to-Image": "image", "Image Colorizer": "image"}
NAMES = set(OUT)


def node(task, *arguments):
    return {"task": task, "arguments": list(arguments)}


def test_counts_f1_and_empty():
    assert Counts(2, 1, 1).f1 == pytest.approx(2 / 3 * 100)
    assert Counts().f1 == 0.0 and Counts(0, 3, 0).precision == 0.0


def test_set_counts_uses_sets_and_ignores_names_outside_the_list():
    assert set_counts(["a", "a", "b"], ["a"]) == Counts(1, 0, 1)
    # evaluate.py's flatten(types=...): an unknown name counts for nothing, gold or predicted
    assert set_counts(["a", "zzz"], ["a", "yyy"], allowed={"a"}) == Counts(1, 0, 0)


def test_content_type_by_extension():
    assert content_type("'photo.JPG'") == "text"  # evaluate.py is case-sensitive
    assert content_type("example.jpg") == "image"
    assert content_type("clip.wav") == "audio"
    assert content_type("movie.mp4") == "video"
    assert content_type("https://example.com/page") == "text"


def test_links_and_typed_arguments_from_node_references():
    graph = task_graph([node("Image Search", "cats"), node("Image Colorizer", "<node-0>")], OUT)
    assert graph.nodes == ["Image Search", "Image Colorizer"]
    assert graph.links == [("Image Search", "Image Colorizer")]
    # a reference's type is the source tool's first output type, its value the source's name
    assert graph.arg_names == ["Image Search-text", "Image Colorizer-Image"]
    assert graph.arg_values == ["Image Search-text-cats", "Image Colorizer-Image-Image Search"]


def test_self_reference_is_skipped_and_underscores_read_as_spaces():
    graph = task_graph([node("Text_Summarizer", "<node-0>", "hello")], OUT)
    assert graph.nodes == ["Text Summarizer"] and graph.links == [] and graph.arg_names == ["Text Summarizer-text"]


def test_reference_outside_the_plan_is_dropped():
    graph = task_graph([node("Text Summarizer", "<node-7>")], OUT)
    assert graph.links == [] and graph.arg_names == []


def test_fallback_links_only_without_any_reference():
    links = [{"source": "Text Summarizer", "target": "Text Translator"}]
    free_text = task_graph([node("Text Summarizer", "x"), node("Text Translator", "<output of Text Summarizer>")], OUT, links)
    assert free_text.links == [("Text Summarizer", "Text Translator")]
    with_ref = task_graph([node("Text Summarizer", "x"), node("Text Translator", "x")], OUT, [])
    assert with_ref.links == []


def test_detect_base_zero_and_one_and_impossible_readings():
    chain = [node("Text Summarizer", "t"), node("Text Translator", "<node-0>")]
    links = [{"source": "Text Summarizer", "target": "Text Translator"}]
    assert detect_base(chain, links) == 0
    one_based = [node("Text Summarizer", "t"), node("Text Translator", "<node-1>")]
    assert detect_base(one_based, links) == 1
    # <node-2> in a two-node plan can only be 1-based, whatever task_links says
    last = [node("Text Summarizer", "t"), node("Text Translator", "<node-2>")]
    assert detect_base(last, []) == 1
    # no references: 0 (ties go to evaluate.py's own reading)
    assert detect_base([node("Text Summarizer", "t")], []) == 0


def test_normalise_gold_rewrites_one_based_references():
    record = {
        "task_nodes": [node("Text Summarizer", "t"), node("Text Translator", "<node-1>")],
        "task_links": [{"source": "Text Summarizer", "target": "Text Translator"}],
    }
    assert normalise_gold(record)[1]["arguments"] == ["<node-0>"]


def test_bare_string_arguments_are_one_argument():
    record = {"task_nodes": [{"task": "Text Summarizer", "arguments": "a long text"}], "task_links": []}
    graph = task_graph(normalise_gold(record), OUT)
    assert graph.arg_values == ["Text Summarizer-text-a long text"]


def test_score_request_and_micro_average():
    gold = task_graph([node("Text Summarizer", "t"), node("Text Translator", "<node-0>")], OUT)
    perfect = score_request(gold, gold, NAMES)
    assert all(c.fp == 0 and c.fn == 0 for c in perfect.counts.values())
    wrong = task_graph([node("Text Translator", "t"), node("Made Up Tool", "<node-0>")], OUT)
    partial = score_request(gold, wrong, NAMES)
    assert partial.counts["node"] == Counts(1, 0, 1)  # the made-up tool is not a false positive
    assert partial.counts["edge"] == Counts(0, 1, 1)
    total = micro([perfect, partial])
    assert total["node"] == Counts(3, 0, 1)
    assert total["node"].f1 == pytest.approx(2 * 1.0 * 0.75 / 1.75 * 100)


def test_percentile():
    assert percentile([], 50) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile(list(map(float, range(11))), 90) == pytest.approx(9.0)
