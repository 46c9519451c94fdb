"""The <gen_image> parser: examples from LLMGA-style answers, then hypothesis fuzzing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tools.llm.tags import extract_gen_image_prompts, find_gen_image_prompts, normalize_prompt, strip_gen_image


def test_single_tag_with_surrounding_prose() -> None:
    text = "Sure! Here is a detailed prompt: <gen_image>A red car on a wet road at dusk, cinematic</gen_image> Enjoy.</s>"
    assert extract_gen_image_prompts(text) == ["A red car on a wet road at dusk, cinematic"]
    assert strip_gen_image(text) == "Sure! Here is a detailed prompt: Enjoy."


def test_several_tags_in_order_and_whitespace() -> None:
    text = "<gen_image>\n  first   scene,\n\tforest </gen_image> then <GEN_IMAGE>second scene</ gen_image >"
    found = find_gen_image_prompts(text)
    assert [f.prompt for f in found] == ["first scene, forest", "second scene"]
    assert all(f.closed for f in found)
    assert text[found[1].start : found[1].end] == "<GEN_IMAGE>second scene</ gen_image >"


def test_unclosed_tag_runs_to_end_or_stop_token() -> None:
    assert extract_gen_image_prompts("text <gen_image>a blue truck, highly detailed") == ["a blue truck, highly detailed"]
    found = find_gen_image_prompts("x <gen_image>a blue truck<|im_end|> trailing")
    assert [(f.prompt, f.closed) for f in found] == [("a blue truck", False)]


def test_reopened_tag_closes_the_previous_one() -> None:
    text = "<gen_image>one<gen_image>two</gen_image>"
    assert extract_gen_image_prompts(text) == ["one", "two"]


def test_stray_close_and_empty_tags_are_ignored() -> None:
    assert extract_gen_image_prompts("</gen_image> no prompt <gen_image>   </gen_image>") == []
    assert strip_gen_image("</gen_image> no prompt <gen_image>   </gen_image>") == "no prompt"


def test_no_tags() -> None:
    assert extract_gen_image_prompts("just chatting") == []
    assert strip_gen_image("just chatting") == "just chatting"


# Prompt text that cannot itself contain a tag or a stop marker ('<' excluded).
prompt_text = st.text(alphabet=st.characters(blacklist_characters="<", blacklist_categories=("Cs",)), min_size=1, max_size=60).filter(
    lambda s: normalize_prompt(s) != ""
)
filler = st.text(alphabet=st.characters(blacklist_characters="<", blacklist_categories=("Cs",)), max_size=40)
open_tags = st.sampled_from(["<gen_image>", "<GEN_IMAGE>", "< gen_image >", "<Gen_Image >"])
close_tags = st.sampled_from(["</gen_image>", "</ gen_image>", "< / GEN_IMAGE >"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(filler, prompt_text, open_tags, close_tags), max_size=6), filler, st.booleans())
def test_fuzz_every_prompt_is_recovered(parts, tail, leave_last_open) -> None:
    text = ""
    for i, (before, prompt, opening, closing) in enumerate(parts):
        last = i == len(parts) - 1
        text += before + opening + prompt + ("" if (last and leave_last_open) else closing)
    if not (parts and leave_last_open):
        text += tail
    expected = [normalize_prompt(p) for _, p, _, _ in parts]
    found = find_gen_image_prompts(text)
    assert [f.prompt for f in found] == expected
    assert all(f.closed for f in found[:-1])
    if parts:
        assert found[-1].closed is not leave_last_open
    # spans are ordered, disjoint and start at an opening tag
    for a, b in zip(found, found[1:]):
        assert a.end <= b.start
    for f in found:
        assert text[f.start] == "<"
    # fillers and prompts hold no '<', so every '<' left would be a tag the parser missed
    assert "<" not in strip_gen_image(text)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(list("<>/ gen_imageGEN_IMAGEabc|s\n") + ["<gen_image>", "</gen_image>", "</s>", "<|im_end|>"]), max_size=80))
def test_fuzz_arbitrary_text_never_crashes_and_prompts_are_clean(tokens) -> None:
    text = "".join(tokens)
    found = find_gen_image_prompts(text)
    for f in found:
        assert f.prompt and f.prompt == f.prompt.strip()
        assert "<gen_image>" not in f.prompt.lower() and "</gen_image>" not in f.prompt.lower()
        assert "</s>" not in f.prompt and "<|im_end|>" not in f.prompt
        assert 0 <= f.start < f.end <= len(text)
    strip_gen_image(text)
