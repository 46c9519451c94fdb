"""LayoutGPT's scoring rules: name containment for counting, difflib + 45 degrees for spatial."""

from __future__ import annotations

from bench.nsr1k import layoutgpt_counting, layoutgpt_spatial
from tools.llm.layout import LayoutPlan


def _plan(*boxes):
    objects = {}
    for phrase, *_ in boxes:
        objects[phrase] = objects.get(phrase, 0) + 1
    return LayoutPlan.model_validate({
        "objects": [{"name": n, "count": c} for n, c in objects.items()], "relations": [],
        "boxes": [{"phrase": p, "instance": 1, "x0": x0, "y0": y0, "x1": x1, "y1": y1} for p, x0, y0, x1, y1 in boxes]})


def test_counting_maps_names_by_containment_and_ignores_other_categories():
    record = {"num_object": [["potted plant", 2]], "prompt": "two potted plants"}
    assert layoutgpt_counting(record, _plan(("plant", 0, 0, 10, 10), ("potted plant", 20, 0, 30, 10), ("table", 0, 30, 60, 60)))
    assert not layoutgpt_counting(record, _plan(("plant", 0, 0, 10, 10)))


def test_comparison_prompts_use_the_relative_rule():
    record = {"num_object": [["bed", 1], ["cat", 2]], "sub-type": "comparison",
              "prompt": "one bed and a few cats, the number of bed is less than that of cats"}
    bed, cat = ("bed", 0, 30, 60, 60), ("cat", 0, 0, 10, 10)
    assert layoutgpt_counting(record, _plan(bed, cat, cat))
    assert layoutgpt_counting(record, _plan(bed, cat, cat, cat)), "any count on the gold's side of the first"
    assert not layoutgpt_counting(record, _plan(bed, cat))
    assert not layoutgpt_counting(record, _plan(bed, bed, cat, cat, cat)), "the first object's count is exact"


def test_equal_comparisons_need_both_counts_equal_to_the_stated_one():
    # LayoutGPT's eval_counting_layout.py: "equal cases" need gold and planned counts all equal
    record = {"num_object": [["bed", 1], ["dog", 1]], "sub-type": "comparison",
              "prompt": "there are one bed along with the equal number of dog"}
    bed, dog = ("bed", 0, 30, 60, 60), ("dog", 0, 0, 10, 10)
    assert layoutgpt_counting(record, _plan(bed, dog))
    assert not layoutgpt_counting(record, _plan(bed, dog, dog))


def test_counting_strips_leading_characters_as_layoutgpt_does():
    # lstrip("the ") strips characters: "hat" becomes "at", which is inside "cat"; kept for comparability
    record = {"num_object": [["cat", 1]], "prompt": "one cat"}
    assert layoutgpt_counting(record, _plan(("hat", 0, 0, 10, 10)))
    assert not layoutgpt_counting(record, _plan(("dog", 0, 0, 10, 10)))


def test_spatial_needs_the_offset_within_45_degrees_and_sign_only_is_lenient():
    record = {"obj1": ["dog", [0, 0, 0, 0]], "obj2": ["toilet", [0, 0, 0, 0]], "relation": "left"}
    beside = _plan(("dog", 0, 20, 10, 30), ("toilet", 40, 22, 50, 32))
    diagonal = _plan(("dog", 0, 0, 10, 10), ("toilet", 20, 40, 30, 50))
    assert layoutgpt_spatial(record, beside) and not layoutgpt_spatial(record, diagonal)
    assert layoutgpt_spatial(record, diagonal, rule="sign")
    assert layoutgpt_spatial({**record, "relation": "next to"}, beside)
    assert not layoutgpt_spatial(record, _plan(("cat", 0, 20, 10, 30), ("toilet", 40, 22, 50, 32)))
