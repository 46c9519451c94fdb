"""The two-part planner with a scripted model: structure (tools + sources), wiring by the tool
graph, arguments, refusals, retries, and the per-request grammar it hands the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from agent.catalogue import structure_of, structure_schema
from agent.llm.embedded import compact_json_grammar
from agent.llm.fake import FakeBackend
from agent.planner import Planner, PlannerOptions
from bench.common import AttachedSession
from graphs.plan import Plan, Step, bind
from tools.artifacts import Kind, Session
from tools.registry import load_registry


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture
def session(tmp_path: Path) -> Session:
    (tmp_path / "s").mkdir()
    return Session(tmp_path / "s")


TOOL_NAMED_EXAMPLES = [{"artifacts": [], "request": "paint a fox", "plan": {"steps": [{"id": "s1", "tool": "text_to_image", "args": {"prompt": "a fox"}}]}}]
"""Examples without written subtasks (as TaskBench's): each shows its tool's name as the subtask."""


def _image(session: Session, prompt: str = "a cat") -> str:
    return session.add(Kind.IMAGE, Image.new("RGB", (64, 64)), tool="text_to_image", args={"prompt": prompt}).id


def test_structure_then_arguments_gives_a_bound_plan(registry, session):
    fake = FakeBackend([{"steps": [{"tool": "text_to_image"}, {"tool": "upscale", "in": ["s1"]}]},
                        {"s1": {"prompt": "a red fox in snow"}, "s2": {"scale": 2}}])
    seen = []
    outcome = Planner(fake, registry).plan(session, "a fox, twice as big", on_structure=seen.append)
    assert outcome.ok and outcome.attempts == 2 and outcome.errors == []
    steps = outcome.plan.steps
    assert [(s.id, s.tool) for s in steps] == [("s1", "text_to_image"), ("s2", "upscale")]
    assert steps[1].args == {"scale": 2, "image": "${s1.image}"}
    assert outcome.plan.outputs == {"s2.image": "${s2.image}"}
    assert seen == [[("s1", "text_to_image", []), ("s2", "upscale", ["${s1.image}"])]]
    assert outcome.structure_seconds is not None
    # the arguments grammar holds exactly the parameters still open: no image input, no seed
    args_schema = fake.calls[1].json_schema
    assert set(args_schema["properties"]) == {"s1", "s2"} and args_schema["required"] == ["s1"]
    assert "image" not in args_schema["properties"]["s2"]["properties"] and "seed" not in args_schema["properties"]["s1"]["properties"]


def test_sampler_settings_are_offered_only_where_the_request_names_them(registry, session):
    """The model wrote steps/guidance/negative_prompt back at their defaults in half of its argument
    characters: they are out of the arguments grammar and its prompt unless the request names them."""
    replies = [{"steps": [{"tool": "text_to_image"}]}, {"s1": {"prompt": "a lighthouse"}}]
    fake = FakeBackend(replies)
    assert Planner(fake, registry).plan(session, "paint a lighthouse at sunset").ok
    offered = fake.calls[1].json_schema["properties"]["s1"]["properties"]
    assert set(offered) == {"prompt", "width", "height"} and "guidance" not in fake.calls[1].last_text
    fake = FakeBackend(replies)
    assert Planner(fake, registry).plan(session, "paint a lighthouse at sunset, 40 steps, no people (negative prompt)").ok
    assert {"steps", "negative_prompt"} <= set(fake.calls[1].json_schema["properties"]["s1"]["properties"])
    fake = FakeBackend(replies)
    assert Planner(fake, registry, options=PlannerOptions(knobs_named=False)).plan(session, "paint a lighthouse at sunset").ok
    assert "guidance" in fake.calls[1].json_schema["properties"]["s1"]["properties"]


def test_unnamed_inputs_are_wired_by_type_from_the_tool_graph(registry, session):
    fake = FakeBackend([{"steps": [{"tool": "text_to_video"}, {"tool": "sound_effect"}, {"tool": "add_audio_to_video"}]},
                        {"s1": {"prompt": "a dog on a beach"}, "s2": {"prompt": "waves"}}])
    outcome = Planner(fake, registry).plan(session, "a video of a dog on a beach with wave sounds")
    assert outcome.ok
    assert outcome.plan.steps[2].args == {"video": "${s1.video}", "audio": "${s2.audio}"}
    assert outcome.by_type == ["s3.video <- s1", "s3.audio <- s2"]


def test_without_wiring_an_unnamed_input_goes_back_to_the_model(registry, session):
    fake = FakeBackend([{"steps": [{"tool": "text_to_video"}, {"tool": "sound_effect"}, {"tool": "add_audio_to_video"}]},
                        {"steps": [{"tool": "text_to_video"}, {"tool": "sound_effect"}, {"tool": "add_audio_to_video", "in": ["s1", "s2"]}]},
                        {"s1": {"prompt": "a dog"}, "s2": {"prompt": "waves"}}])
    outcome = Planner(fake, registry, options=PlannerOptions(wire_by_type=False)).plan(session, "a video of a dog with wave sounds")
    assert outcome.ok and outcome.attempts == 3
    assert "needs a video for 'video'" in outcome.errors[0]


def test_one_source_with_an_image_and_a_mask_feeds_both_inputs(registry, session):
    image = _image(session)
    fake = FakeBackend([{"steps": [{"tool": "outpaint", "in": [image]}, {"tool": "harmonize", "in": ["s1"]}]},
                        {"s1": {"left": 64, "prompt": "more sofa"}}])
    outcome = Planner(fake, registry).plan(session, "make it wider and hide the seam")
    assert outcome.ok
    assert outcome.plan.steps[1].args == {"image": "${s1.image}", "mask": "${s1.mask}"}


def test_a_missing_kind_is_sent_back_with_the_chains_that_make_it(registry, session):
    """With ``make_missing`` off the tool graph fills nothing in: the problem goes back to the
    model with the chains that make what is missing."""
    image = _image(session)
    fake = FakeBackend([{"steps": [{"tool": "inpaint", "in": [image]}]},
                        {"steps": [{"tool": "mask_from_words", "in": [image]}, {"tool": "inpaint", "in": [image, "s1"]}]},
                        {"s1": {"phrase": "the cat"}, "s2": {"prompt": "a dog"}}])
    outcome = Planner(fake, registry, options=PlannerOptions(make_missing=False)).plan(session, "replace the cat by a dog")
    assert outcome.ok and outcome.attempts == 3
    problem = fake.calls[1].last_text
    assert "needs a mask" in problem and "mask_from_words" in problem


def test_a_missing_mask_is_found_in_the_picture_the_step_edits(registry, session):
    """"Replace the cat by a dog", answered inpaint on the picture and no mask: the mask is a fact
    of that picture, so the tool graph's converter from it (mask_from_words) runs on the same
    picture first, in the first answer, and the arguments answer names the cat."""
    image = _image(session)

    def fill(messages, schema) -> dict:
        return {label: {"phrase": "the cat"} if "phrase" in step["properties"] else {"prompt": "a dog"}
                for label, step in schema["properties"].items()}

    fake = FakeBackend([{"steps": [{"tool": "inpaint", "in": [image]}]}, fill])
    outcome = Planner(fake, registry).plan(session, "replace the cat by a dog")
    assert outcome.ok and len(fake.calls) == 2, outcome.errors  # one structure answer, one arguments answer
    find, paint = outcome.plan.steps
    assert (find.tool, paint.tool) == ("mask_from_words", "inpaint")
    assert find.args["image"] == f"${{{image}}}" and paint.args["image"] == f"${{{image}}}"
    assert paint.args["mask"] == f"${{{find.id}.mask}}" and find.args["phrase"] == "the cat"


def test_a_source_of_the_wrong_kind_is_a_model_mistake(registry, session):
    fake = FakeBackend([{"steps": [{"tool": "music"}, {"tool": "upscale", "in": ["s1"]}]}, {"cannot": "no"}])
    outcome = Planner(fake, registry).plan(session, "some music, then upscale it")
    assert not outcome.ok and "upscale) takes image, but s1 is audio" in outcome.errors[0]


def test_an_impossible_request_gets_one_sentence_and_no_steps(registry, session):
    fake = FakeBackend([{"cannot": "I can't send e-mail; I can make the picture for you to send."}])
    outcome = Planner(fake, registry, options=PlannerOptions(outside=False)).plan(session, "e-mail it to my aunt")
    assert outcome.plan is None and outcome.attempts == 1 and len(fake.calls) == 1
    assert outcome.reply == "I can't send e-mail; I can make the picture for you to send."


def test_a_plan_without_parameters_needs_no_second_answer(registry, session):
    fake = FakeBackend([{"steps": [{"tool": "text_to_video"}, {"tool": "video_info", "in": ["s1"]}]}, {"s1": {"prompt": "a dog"}}])
    outcome = Planner(fake, registry).plan(session, "a clip of a dog and its file details")
    assert outcome.ok and len(fake.calls) == 2 and set(fake.calls[1].json_schema["properties"]) == {"s1"}
    only_info = FakeBackend([{"steps": [{"tool": "video_info"}]}])
    outcome = Planner(only_info, registry).plan(session, "details of the clip")
    assert not outcome.ok and len(only_info.calls) == 2  # nothing makes a video: sent back, script ends


def test_bad_arguments_are_retried(registry, session):
    fake = FakeBackend([{"steps": [{"tool": "text_to_image"}]}, {"s1": {"prompt": "x", "bogus": 1}}, {"s1": {"prompt": "a fox"}}])
    outcome = Planner(fake, registry).plan(session, "a fox")
    assert outcome.ok and outcome.attempts == 3 and "bogus" in outcome.errors[0]


def test_a_full_plan_in_one_answer_is_still_read(registry, session):
    plan = {"reply": "ok", "steps": [{"tool": "text_to_image", "id": "g", "args": {"prompt": "a fox"}}]}
    outcome = Planner(FakeBackend([plan]), registry).plan(session, "a fox")
    assert outcome.ok and outcome.reply == "ok" and outcome.plan.steps[0].id == "g"


def test_single_answer_mode_is_the_earlier_planner(registry, session):
    plan = {"reply": "ok", "steps": [{"tool": "text_to_image", "id": "g", "args": {"prompt": "a fox"}}]}
    fake = FakeBackend([plan])
    outcome = Planner(fake, registry, options=PlannerOptions(two_part=False)).plan(session, "a fox")
    assert outcome.ok and "steps" in fake.calls[0].json_schema["properties"]


def test_structure_grammar_lets_a_step_name_only_earlier_steps_and_existing_artifacts():
    schema = structure_schema(["a", "b"], ["image-1"], max_steps=3, tasks=False)
    plan, cannot = schema["anyOf"]
    tuples = plan["properties"]["steps"]["anyOf"]
    assert [t["minItems"] for t in tuples] == [1, 2, 3]
    third = tuples[2]["prefixItems"]
    assert third[0]["properties"]["in"]["items"]["enum"] == ["image-1"]
    assert third[2]["properties"]["in"]["items"]["enum"] == ["s1", "s2", "image-1"]
    one = structure_schema(["a"], [], max_steps=1, tasks=False)
    assert "in" not in one["anyOf"][0]["properties"]["steps"]["anyOf"][0]["prefixItems"][0]["properties"]
    assert cannot["required"] == ["cannot"] and schema["x-guidance"]["whitespace_flexible"] is False
    assert "anyOf" not in structure_schema(["a"], [], refusal=False, tasks=False)


def test_structure_grammar_opens_with_the_subtasks_and_allows_one_helper_step():
    plan, _ = structure_schema(["a", "b"], [], max_steps=3)["anyOf"]
    for n, alternative in enumerate(plan["anyOf"], 1):
        assert list(alternative["properties"]) == ["tasks", "steps"]  # the words come before any tool
        assert alternative["properties"]["tasks"]["minItems"] == alternative["properties"]["tasks"]["maxItems"] == n
        lengths = [t["minItems"] for t in alternative["properties"]["steps"]["anyOf"]]
        assert lengths == ([n, n + 1] if n < 3 else [3])  # one helper step at most, never past max_steps


def test_examples_convert_to_the_two_part_form(registry):
    plan = {"steps": [{"tool": "text_to_video", "id": "clip", "args": {"prompt": "a dog"}},
                      {"tool": "sound_effect", "id": "waves", "args": {"prompt": "waves"}},
                      {"tool": "add_audio_to_video", "id": "final", "args": {"video": "${clip.video}", "audio": "${waves.audio}"}}]}
    structure, arguments = structure_of({"tasks": ["film it", "make waves", "join them"], **plan}, registry)
    assert structure == {"tasks": ["film it", "make waves", "join them"],
                         "steps": [{"tool": "text_to_video"}, {"tool": "sound_effect"}, {"in": ["s1", "s2"], "tool": "add_audio_to_video"}]}
    assert list(structure) == ["tasks", "steps"] and list(structure["steps"][2]) == ["in", "tool"]
    assert arguments == {"s1": {"prompt": "a dog"}, "s2": {"prompt": "waves"}}
    # without its own subtasks an example shows each tool's name as the subtask
    assert structure_of(plan, registry)[0]["tasks"] == ["text to video", "sound effect", "add audio to video"]


def test_the_embedded_grammar_decodes_compact_json(monkeypatch):
    from agent.llm import embedded

    monkeypatch.setattr(embedded, "_has_llguidance", lambda: True)  # the prebuilt xllamacpp
    grammar = compact_json_grammar({"type": "object", "x-guidance": {"lenient": True}})
    head, body = grammar.split("%json ", 1)
    assert head.startswith("%llguidance {}")
    options = json.loads(body)["x-guidance"]
    assert options == {"whitespace_flexible": False, "item_separator": ",", "key_separator": ":", "lenient": True}


def test_without_llguidance_the_grammar_is_gbnf_with_no_blanks():
    pytest.importorskip("xllamacpp")
    from agent.llm import embedded

    if embedded._has_llguidance():
        pytest.skip("the installed xllamacpp is the prebuilt one (llguidance); setup.sh's AVX-512 build has none")
    grammar = compact_json_grammar({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
                                    "x-guidance": {"lenient": True}})
    assert 'space ::= ""' in grammar.splitlines() and "x-guidance" not in grammar and "root ::=" in grammar


def test_warm_reads_the_same_system_prompt_a_request_starts_with(registry, session):
    from agent.planner import warm

    fake = FakeBackend(["{", {"cannot": "no"}])
    warm(fake, registry)
    Planner(fake, registry).plan(session, "x")
    assert fake.calls[0].max_tokens == 1
    assert fake.calls[0].messages[0].content == fake.calls[1].messages[0].content


def test_sources_come_first_and_only_tools_that_take_them_remain(registry, session):
    from agent.catalogue import accepted_artifacts

    image = _image(session)
    accepts = accepted_artifacts(registry, session.artifacts())
    assert image in accepts["upscale"] and image not in accepts["music"] and image not in accepts["video_edit"]
    schema = structure_schema(["upscale", "music"], [image], max_steps=2, accepts=accepts, tasks=False)
    first = schema["anyOf"][0]["properties"]["steps"]["anyOf"][1]["prefixItems"]
    upscale, music = first[0]["anyOf"]
    assert list(upscale["properties"]) == ["in", "tool"] and upscale["properties"]["in"]["items"]["enum"] == [image]
    assert list(music["properties"]) == ["tool"]
    assert first[1]["anyOf"][1]["properties"]["in"]["items"]["enum"] == ["s1"]


def test_tool_first_names_the_tool_and_then_only_the_sources_it_takes(registry, session):
    from agent.catalogue import accepted_artifacts

    image = _image(session)
    schema = structure_schema(["upscale", "music"], [image], max_steps=2, accepts=accepted_artifacts(registry, session.artifacts()),
                              tasks=False, tool_first=True)
    upscale, music = schema["anyOf"][0]["properties"]["steps"]["anyOf"][1]["prefixItems"][0]["anyOf"]
    assert list(upscale["properties"]) == ["tool", "in"] and upscale["properties"]["in"]["items"]["enum"] == [image]
    assert list(music["properties"]) == ["tool"]
    # the examples and the prompt show the same order the grammar makes the model write
    fake = FakeBackend([{"tasks": ["upscale it"], "steps": [{"tool": "upscale", "in": [image]}]}, {"s1": {"scale": 2}}])
    planner = Planner(fake, registry, options=PlannerOptions(tool_first=True))
    assert '{"tool":"...","in":[...]}' in planner.system and '{"tool":"remove_object","in":[' in planner.system
    assert '{"in":[' not in planner.system
    outcome = planner.plan(session, "make it bigger")
    assert outcome.ok and outcome.plan.steps[0].args["image"] == f"${{{image}}}"


def test_a_source_of_the_wrong_kind_is_answered_with_the_tools_that_take_it(registry, session):
    image = _image(session)
    fake = FakeBackend([{"steps": [{"in": [image], "tool": "video_edit"}]}, {"cannot": "no"}])
    outcome = Planner(fake, registry).plan(session, "x")
    assert "a tool that takes image and makes video: image_to_video" in fake.calls[1].last_text
    assert not outcome.ok


def test_a_source_named_twice_counts_once_and_one_too_many_is_left_out(registry, session):
    image = _image(session)
    fake = FakeBackend([{"steps": [{"in": [image, image], "tool": "upscale"}]}, {"s1": {}}])
    assert Planner(fake, registry).plan(session, "bigger").ok
    # one image more than the tool takes is left out (the plan says so), not a failed answer;
    # the newest is kept ("it" is the newest), whichever order the model named them in
    other = _image(session, "a dog")
    fake = FakeBackend([{"steps": [{"in": [image, other], "tool": "upscale"}]}, {"s1": {}}])
    outcome = Planner(fake, registry).plan(session, "bigger")
    assert outcome.ok and outcome.plan.steps[0].args["image"] == f"${{{other}}}"
    assert outcome.by_type == [f"s1 (upscale) has no free input for {image} (image <- {other}): left out"]
    fake = FakeBackend([{"steps": [{"in": [image, other], "tool": "upscale"}]}, {"s1": {}}])
    outcome = Planner(fake, registry, options=PlannerOptions(provenance=False)).plan(session, "bigger")
    assert outcome.plan.steps[0].args["image"] == f"${{{image}}}"


def _widened(session: Session) -> tuple[str, str, str]:
    """A photo, the photo cleaned, and the cleaned photo widened: outpaint stores its picture and
    the mask of the new area together, as the executor does."""
    photo = _image(session, "a street")
    cleaned = session.add(Kind.IMAGE, Image.new("RGB", (64, 64)), tool="remove_object", meta={"output": "image"}).id
    wide, area = session.add_many([(Kind.IMAGE, Image.new("RGB", (96, 64)), {"output": "image"}),
                                   (Kind.MASK, Image.new("L", (96, 64)), {"output": "mask"})], tool="outpaint")
    assert photo and wide.siblings == [area.id]
    return cleaned, wide.id, area.id


def test_a_picture_to_go_with_the_stored_speech_does_not_make_the_speech_again(registry):
    """speech#2 of our own requests: the model re-planned the previous turn's speech before the
    picture. "it" is the stored speech, so the new speech step is left out, and the picture,
    which has no input for audio, is drawn from its prompt."""
    from bench.product import ListedSession

    session = ListedSession(["audio-1 speech: welcome to our little bakery"])
    answer = {"tasks": ["read the sentence aloud", "make a picture of a cosy bakery"],
              "steps": [{"tool": "speech"}, {"in": ["s1"], "tool": "text_to_image"}]}
    fake = FakeBackend([answer, {"s2": {"prompt": "a cosy bakery"}}])
    # (speech is offered for sound words only: the rule is tested with every tool offered)
    outcome = Planner(fake, registry, options=PlannerOptions(offered=False)).plan(session, "and make a picture of a cosy bakery to go with it")
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["text_to_image"] and outcome.plan.steps[0].args == {"prompt": "a cosy bakery"}
    assert "s1 (speech) left out: the request means audio-1" in outcome.by_type


def test_a_required_input_nothing_makes_gets_the_closest_generator(registry):
    """music#2 of our own requests: "make a video of rain on a window and put this music on it",
    answered with new music (the stored one is used) and add_audio_to_video, but no video. The
    tool graph's closest maker of a video from nothing runs before it; off, the answer goes back."""
    from bench.product import ListedSession

    session = ListedSession(["audio-1 music: calm piano"])
    request = "make a video of rain on a window and put this music on it"
    answer = {"tasks": ["compose the music", "put the music on the video"],
              "steps": [{"tool": "music"}, {"in": ["s1"], "tool": "add_audio_to_video"}]}

    def fill(messages, schema):
        return {label: {n: "rain on a window" for n in step.get("required", [])} for label, step in schema["properties"].items()}

    outcome = Planner(FakeBackend([answer, fill]), registry).plan(session, request)
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["text_to_video", "add_audio_to_video"]
    assert outcome.plan.steps[1].args["audio"] == "${audio-1}" and outcome.plan.steps[1].args["video"].startswith("${s2_text_to_video.")
    assert "make the video s2 needs" in outcome.reply
    fake = FakeBackend([answer] * 3)
    outcome = Planner(fake, registry, options=PlannerOptions(make_missing=False)).plan(session, request)
    assert not outcome.ok and "nothing before it makes one" in outcome.errors[0]


def test_new_music_for_a_request_that_points_at_stored_music_is_the_stored_music(registry, tmp_path):
    from bench.product import ListedSession

    session = ListedSession(["audio-1 music: calm piano"])
    request = "make a video of rain on a window and put this music on it"
    answer = {"steps": [{"tool": "text_to_video"}, {"tool": "music"}, {"in": ["s1", "s2"], "tool": "add_audio_to_video"}]}
    fake = FakeBackend([answer, {"s1": {"prompt": "rain on a window"}, "s3": {}}])
    outcome = Planner(fake, registry).plan(session, request)
    assert outcome.ok and [s.tool for s in outcome.plan.steps] == ["text_to_video", "add_audio_to_video"]
    assert outcome.plan.steps[1].args == {"video": "${s1.video}", "audio": "${audio-1}"}
    assert "s2 (music) left out: the request means audio-1" in outcome.by_type
    # music made for its own sake (nothing takes it) is what was asked for
    fake = FakeBackend([{"steps": [{"tool": "music"}]}, {"s1": {"prompt": "like this music, faster"}}])
    assert [s.tool for s in Planner(fake, registry).plan(session, "compose more like this music").plan.steps] == ["music"]


def test_a_stored_mask_gets_the_picture_it_was_made_with(registry, session):
    cleaned, wide, area = _widened(session)
    fake = FakeBackend([{"steps": [{"in": [cleaned, area], "tool": "harmonize"}]}, {"s1": {}}])
    outcome = Planner(fake, registry).plan(session, "the new part looks darker, fix that")
    assert outcome.ok and outcome.plan.steps[0].args == {"image": f"${{{wide}}}", "mask": f"${{{area}}}"}
    assert f"s1.image <- {wide}, not {cleaned}: {area} was made with {wide}" in outcome.by_type
    # a picture the user names by its id is theirs to choose
    fake = FakeBackend([{"steps": [{"in": [cleaned, area], "tool": "harmonize"}]}, {"s1": {}}])
    outcome = Planner(fake, registry).plan(session, f"blend {cleaned} with {area}")
    assert outcome.plan.steps[0].args["image"] == f"${{{cleaned}}}"


def test_a_tool_that_needs_an_input_must_name_it_and_is_not_offered_where_nothing_feeds_it(registry):
    from agent.catalogue import needing_input

    needs = needing_input(registry)
    assert "upscale" in needs and "text_to_image" not in needs
    schema = structure_schema(["upscale", "text_to_image"], [], max_steps=2, accepts={"upscale": set(), "text_to_image": set()},
                              needs_input=needs, tasks=False)
    first, second = schema["anyOf"][0]["properties"]["steps"]["anyOf"][1]["prefixItems"]
    assert [o["properties"]["tool"]["const"] for o in first["anyOf"]] == ["text_to_image"]
    upscale = second["anyOf"][0]
    assert upscale["properties"]["tool"]["const"] == "upscale" and upscale["required"] == ["in", "tool"]


POOL = [
    {"artifacts": [], "request": "compose calm piano music for a rainy evening",
     "plan": {"reply": "", "steps": [{"tool": "music", "id": "m", "args": {"prompt": "calm piano, rain"}}]}},
    {"artifacts": [], "request": "paint a watercolor fox in the snow",
     "plan": {"reply": "", "steps": [{"tool": "text_to_image", "id": "f", "args": {"prompt": "a watercolor fox in snow"}}]}},
    {"artifacts": ["image-1 (image 64x64) by text_to_image: a cat"], "request": "make the picture four times larger",
     "plan": {"reply": "", "steps": [{"tool": "upscale", "id": "u", "args": {"image": "${image-1}", "scale": 4}}]}},
]


def test_example_index_returns_the_closest_requests_closest_last():
    from agent.retrieval import ExampleIndex

    index = ExampleIndex(POOL)
    assert index.nearest("write a slow song on the piano", 1)[0]["request"] == POOL[0]["request"]
    two = index.nearest("enlarge my image 4x", 2)
    assert len(two) == 2 and two[-1]["request"] == POOL[2]["request"]


def test_similar_examples_travel_with_the_request_and_the_system_prompt_stays_fixed(registry, session):
    """The cached part (the system prompt) is the same for every request; each request brings its
    own nearest examples, and only those."""
    fake = FakeBackend([{"steps": [{"tool": "music"}]}, {"s1": {"prompt": "soft piano"}},
                        {"steps": [{"tool": "text_to_image"}]}, {"s1": {"prompt": "a fox"}}])
    planner = Planner(fake, registry, examples_data=POOL, options=PlannerOptions(similar=1))
    assert "Example." not in planner.system
    assert planner.plan(session, "a quiet piano tune").ok
    assert planner.plan(session, "a painting of a red fox").ok
    first, second = fake.calls[0].messages, fake.calls[2].messages
    assert first[0].content == second[0].content
    assert "compose calm piano music" in first[-1].content and "watercolor fox" not in first[-1].content
    assert "watercolor fox" in second[-1].content and "compose calm piano music" not in second[-1].content
    assert second[-1].content.index("Example.") < second[-1].content.index("Request: a painting of a red fox")


def test_packaged_examples_bind_in_the_sessions_they_list(registry):
    from agent.catalogue import packaged_examples, render_two_part_examples

    examples = packaged_examples()
    assert len(examples) >= 25
    for example in examples:
        assert render_two_part_examples([example], registry), example["request"]
        if example["plan"].get("cannot"):
            continue
        # the artifacts an example lists are the session its plan binds in (ids in listing order)
        attached = AttachedSession([(line, Kind(line.split(" (")[1].split()[0].rstrip(")"))) for line in example["artifacts"]])
        assert [a.id for a in attached.artifacts()] == [line.split(" ")[0] for line in example["artifacts"]]
        bind(Plan(steps=[Step(**s) for s in example["plan"]["steps"]]), registry, attached)


def test_a_tool_no_example_uses_gets_an_example_written_from_its_description(registry, session):
    """With ``describe_unshown`` every tool is shown once: upscale, which TOOL_NAMED_EXAMPLES never
    uses, gets "Upscale ..." with its picture attached and wired; the pool's own example stays."""
    from agent.catalogue import described_example, imperative

    assert imperative("Searches for a text") == "Search for a text" and imperative("Stitches two") == "Stitch two"
    assert imperative("Analyzes the tone") == "Analyze the tone" and imperative("Process it") == "Process it"
    from agent.catalogue import artifact_line

    example = described_example(registry.get("upscale"))
    attached = AttachedSession([("example.png", Kind.IMAGE)])
    # the artifact list reads as a session's would: the line artifact_line writes for that file
    assert example["artifacts"] == [artifact_line(a).removeprefix("- ") for a in attached.artifacts()]
    assert example["request"].startswith(imperative(registry.get("upscale").summary())) and example["request"].endswith("Files: example.png.")
    bind(Plan(steps=[Step(**s) for s in example["plan"]["steps"]]), registry, attached)
    described = Planner(FakeBackend([]), registry, examples_data=TOOL_NAMED_EXAMPLES, options=PlannerOptions(describe_unshown=True))
    plain = Planner(FakeBackend([]), registry, examples_data=TOOL_NAMED_EXAMPLES)
    assert "Request: paint a fox" in described.system and example["request"] in described.system
    assert example["request"] not in plain.system
    assert described.system.count("Example.") == len(registry)  # one per tool: the fox for text_to_image


def test_a_source_of_the_wrong_kind_is_joined_through_one_converter_from_the_tool_graph(registry, session):
    """text_to_video then upscale: upscale takes an image, s1 is a video; the tool graph has the
    one tool that takes a video and makes an image (extract_frames), so it runs between them."""
    fake = FakeBackend([{"tasks": ["film a cat", "make it bigger"], "steps": [{"tool": "text_to_video"}, {"in": ["s1"], "tool": "upscale"}]},
                        {"s1": {"prompt": "a cat"}}])
    outcome = Planner(fake, registry).plan(session, "a video of a cat, then a big picture of it")
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["text_to_video", "extract_frames", "upscale"]
    assert outcome.plan.steps[1].args == {"video": "${s1.video}"} and outcome.plan.steps[2].args["image"].startswith("${s2_extract_frames.")
    assert any("inserted: extract_frames between s1.video and s2" in note for note in outcome.by_type)
    assert "turn s1.video into what s2 takes" in outcome.reply
    # switched off, the same answer goes back to the model with the problem
    fake = FakeBackend([{"steps": [{"tool": "text_to_video"}, {"in": ["s1"], "tool": "upscale"}]}] * 3)
    outcome = Planner(fake, registry, options=PlannerOptions(bridge=False)).plan(session, "a video of a cat, then a big picture of it")
    assert not outcome.ok and "takes image, but s1 is video" in outcome.errors[0]


def test_a_plugin_tool_beside_the_packaged_examples_gets_its_described_example_when_asked(registry):
    """With ``describe_plugins`` each plugin tool gets its one-step example and our own tools get
    none; by default (it cost our own turns, see the option) the system prompt shows no example
    for it, only its catalogue line."""
    from agent.catalogue import described_example
    from tools.base import Input, Tool
    from tools.registry import Registry

    class Sepia(Tool):
        """Tints a picture in warm brown tones, like an old photograph."""

        name = "sepia_tint"
        inputs = {"image": Input(Kind.IMAGE)}  # noqa: RUF012
        outputs = {"image": Kind.IMAGE}  # noqa: RUF012

        def run(self, ctx, params, *, image):
            return {"image": image}

    with_plugin = Registry()
    for tool in [*registry, Sepia]:
        with_plugin.register(tool, origin="sepia")
    described = PlannerOptions(describe_plugins=True)
    ours, theirs = Planner(FakeBackend([]), registry, options=described).system, Planner(FakeBackend([]), with_plugin, options=described).system
    request = described_example(Sepia)["request"]
    assert request == "Tint a picture in warm brown tones, like an old photograph. Files: example.png."
    assert f"Request: {request}" in theirs and "Request: Tint" not in ours
    assert theirs.count("Example.") == ours.count("Example.") + 1
    plain = Planner(FakeBackend([]), with_plugin).system
    assert "Request: Tint" not in plain and "- sepia_tint(image: image) -> image" in plain
    assert plain.count("Example.") == Planner(FakeBackend([]), registry).system.count("Example.")


def test_an_extra_source_for_the_words_of_a_step_fed_already_is_left_out_not_converted(registry, session):
    """image_to_image of s2 with the video s1 as well: its picture comes from s2 and its prompt is
    the request's to say, so s1 is left out rather than captioned into the prompt (the model's
    habit of naming the step before last too; TaskBench's answers replay better without it)."""
    fake = FakeBackend([{"steps": [{"tool": "text_to_video"}, {"tool": "text_to_image"}, {"in": ["s2", "s1"], "tool": "image_to_image"}]},
                        {"s1": {"prompt": "a fox"}, "s2": {"prompt": "a hen"}, "s3": {"prompt": "as ink"}}])
    outcome = Planner(fake, registry).plan(session, "a fox clip, a hen, then the hen as ink")
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["text_to_video", "text_to_image", "image_to_image"]
    assert outcome.plan.steps[2].args["image"].startswith("${s2.")
    assert any("s3 (image_to_image) has no input for s1" in note for note in outcome.by_type), outcome.by_type


def test_two_text_sources_for_two_media_inputs_get_a_converter_each(registry, session):
    fake = FakeBackend([{"steps": [{"tool": "plan_story"}, {"tool": "refine_prompt"}, {"in": ["s1", "s2"], "tool": "add_audio_to_video"}]},
                        {"s1": {"story": "a fox"}, "s2": {"request": "a lantern"}}])
    outcome = Planner(fake, registry).plan(session, "a fox story video with a narrator's voice")
    # s1, s2 are text; add_audio_to_video takes a video and an audio: one converter each
    assert outcome.ok, outcome.errors
    tools = [s.tool for s in outcome.plan.steps]
    assert tools[:2] == ["plan_story", "refine_prompt"] and tools[-1] == "add_audio_to_video" and len(tools) == 5
    assert len({s.id for s in outcome.plan.steps}) == 5


def test_the_same_converter_twice_gets_two_step_ids(registry, session):
    fake = FakeBackend([{"steps": [{"tool": "plan_story"}, {"tool": "refine_prompt"}, {"in": ["s1", "s2"], "tool": "composite"}]},
                        {"s1": {"story": "a fox"}, "s2": {"request": "a lantern"}}])
    outcome = Planner(fake, registry).plan(session, "a fox story picture")
    assert outcome.ok, outcome.errors
    inserted = [s for s in outcome.plan.steps if s.id.startswith("s3_")]
    assert len(inserted) == 2 and inserted[0].tool == inserted[1].tool and inserted[0].id != inserted[1].id


def test_a_source_nothing_converts_is_left_out_when_the_tool_runs_without_it(registry, session):
    fake = FakeBackend([{"steps": [{"tool": "speech"}, {"in": ["s1"], "tool": "text_to_image"}]},
                        {"s1": {"text": "welcome"}, "s2": {"prompt": "a cosy bakery"}}])
    outcome = Planner(fake, registry).plan(session, "read it aloud and make a picture to go with it")
    assert outcome.ok and outcome.plan.steps[1].args == {"prompt": "a cosy bakery"}
    assert outcome.by_type == ["s2 (text_to_image) has no input for s1 (audio): left out"]


def test_the_same_tool_again_on_its_own_output_is_left_out(registry, session):
    image = _image(session)
    fake = FakeBackend([{"tasks": ["upscale it", "posterize it"], "steps": [{"in": [image], "tool": "upscale"}, {"in": ["s1"], "tool": "upscale"},
                                                             {"in": ["s2"], "tool": "posterize"}]},
                        {"s1": {"scale": 2}, "s3": {}}])
    outcome = Planner(fake, registry).plan(session, "bigger, then posterize")
    assert outcome.ok, outcome.errors
    assert [(s.id, s.tool) for s in outcome.plan.steps] == [("s1", "upscale"), ("s3", "posterize")]
    assert outcome.plan.steps[1].args == {"image": "${s1.image}"}
    assert outcome.by_type == ["s2 (upscale) repeats s1 on its output: left out"]


def test_steps_that_drift_from_their_subtasks_are_asked_again_from_each_subtasks_shortlist(registry, session):
    image = _image(session)
    fake = FakeBackend([{"tasks": ["make it twice as big", "make it look like a poster"], "steps": [{"in": [image], "tool": "caption"}, {"in": [image], "tool": "caption"}]},
                        {"steps": [{"in": [image], "tool": "upscale"}, {"in": ["s1"], "tool": "posterize"}]},
                        {"s1": {"scale": 2}}])
    outcome = Planner(fake, registry).plan(session, "make it twice as big and look like a poster")
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["upscale", "posterize"]
    assert outcome.attempts == 3 and len(fake.calls) == 3
    # the second call sees the subtasks as its own earlier answer, each with the tools that fit it
    follow = fake.calls[1].messages
    assert json.loads(follow[-2].content) == {"tasks": ["make it twice as big", "make it look like a poster"]}
    assert "1. make it twice as big: " in follow[-1].content and "2. make it look like a poster: " in follow[-1].content
    items = fake.calls[1].json_schema["anyOf"][0]["properties"]["steps"]["prefixItems"]
    tools_at = [{o["properties"]["tool"]["const"] for o in item["anyOf"]} for item in items]
    assert len(tools_at) == 2 and "upscale" in tools_at[0] and "posterize" in tools_at[1]
    assert "caption" not in tools_at[0] | tools_at[1]


def test_steps_that_drift_from_subtasks_naming_their_tools_become_those_tools(registry, session):
    image = _image(session)
    fake = FakeBackend([{"tasks": ["upscale", "posterize"], "steps": [{"in": [image], "tool": "caption"}, {"in": ["s1"], "tool": "caption"}]},
                        {"s1": {"scale": 2}, "s2": {}}])
    outcome = Planner(fake, registry).plan(session, "bigger, then posterize")
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["upscale", "posterize"] and len(fake.calls) == 2
    assert outcome.plan.steps[1].args["image"] == "${s1.image}"  # the source the model wrote at that position
    assert "each subtask's own tool was taken" in outcome.by_type[0]


def test_one_step_off_its_subtask_is_mended_even_without_a_repeat(registry, session):
    """Sources first, the model can land on the one tool left that takes them (TaskBench's
    ``image_to_video`` under "image downloader"): a step off its subtask's shortlist is mended
    though no tool repeats; ``off_task=False`` keeps the old rule (repeats only)."""
    image = _image(session)
    answer = {"tasks": ["upscale"], "steps": [{"in": [image], "tool": "caption"}]}
    fake = FakeBackend([answer, {"s1": {"scale": 2}}])
    model_steps = PlannerOptions(graph_steps=False)  # the steps as the model wrote them, then mended
    outcome = Planner(fake, registry, examples_data=TOOL_NAMED_EXAMPLES, options=model_steps).plan(session, "make it bigger")
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["upscale"]
    assert outcome.plan.steps[0].args["image"] == f"${{{image}}}"
    assert "each subtask's own tool was taken" in outcome.by_type[0]
    for options, examples in ((PlannerOptions(off_task=False, graph_steps=False), TOOL_NAMED_EXAMPLES), (None, None)):
        # off, or with examples whose subtasks are words (the packaged ones): the step is the choice
        fake = FakeBackend([answer, {}])
        outcome = Planner(fake, registry, options=options, examples_data=examples).plan(session, "make it bigger")
        assert outcome.ok and [s.tool for s in outcome.plan.steps] == ["caption"]
    # a step on its subtask's shortlist, but the subtask names another tool: the named one
    fake = FakeBackend([{"tasks": ["upscale"], "steps": [{"in": [image], "tool": "hires_refine"}]}, {"s1": {"scale": 2}}])
    planner = Planner(fake, registry, examples_data=TOOL_NAMED_EXAMPLES, options=model_steps)
    assert "hires_refine" in planner._tool_ranker().shortlist("upscale", 6)
    outcome = planner.plan(session, "make it bigger")
    assert outcome.ok and [s.tool for s in outcome.plan.steps] == ["upscale"]


def test_steps_asked_again_may_still_be_a_refusal(registry, session):
    image = _image(session)
    fake = FakeBackend([{"tasks": ["post the picture on instagram"], "steps": [{"in": [image], "tool": "image_to_video"}]},
                        {"cannot": "I cannot post to instagram; I can edit or enlarge the picture."}])
    outcome = Planner(fake, registry, examples_data=TOOL_NAMED_EXAMPLES, options=PlannerOptions(outside=False)).plan(
        session, "post my last picture on instagram")
    assert outcome.plan is None and outcome.reply.startswith("I cannot post") and len(fake.calls) == 2
    assert {"cannot"} <= set(fake.calls[1].json_schema["anyOf"][1]["properties"])


def test_step_choices_take_n_steps_or_n_plus_one_with_a_helper_anywhere():
    from agent.catalogue import step_choices

    assert step_choices([["a"], ["b"]], ["h"], 2) == [["a"], ["b"]]
    assert step_choices([["a"], ["b"]], ["h"], 3) == [["a", "h"], ["b", "a", "h"], ["b", "h"]]
    assert step_choices([["a"], ["b"]], ["h"], 4) is None
    # after a step before it, the first subtask's own tool that needs an input is back on its list
    # ("audio_to_image" under "audio_to_image", an audio download first: 24042503 of TaskBench's dev split)
    assert step_choices([["d"], ["b"]], [], 3, first_later=["a2i", "d"]) == [["d"], ["b", "a2i", "d"], ["b"]]


def test_a_subtask_that_names_a_tool_gets_that_tool_first(registry):
    from agent.retrieval import ToolRanker

    ranker = ToolRanker(registry)
    assert ranker.shortlist("add audio to video", 3)[0] == "add_audio_to_video"
    assert len(ranker.shortlist("paint a fox", 4)) == 4


def test_steps_that_follow_their_subtasks_need_no_second_answer(registry, session):
    fake = FakeBackend([{"tasks": ["paint a fox"], "steps": [{"tool": "text_to_image"}]}, {"s1": {"prompt": "a red fox"}}])
    outcome = Planner(fake, registry).plan(session, "paint a fox")
    assert outcome.ok and len(fake.calls) == 2 and [s.tool for s in outcome.plan.steps] == ["text_to_image"]
    assert "steps" in fake.calls[0].json_schema["anyOf"][0]["anyOf"][0]["properties"]  # one grammar: subtasks, then steps


def test_the_same_tool_again_on_its_output_named_twice_is_left_out_too(registry, session):
    image = _image(session)
    fake = FakeBackend([{"tasks": ["upscale it"], "steps": [{"in": [image], "tool": "upscale"}, {"in": ["s1", "s1"], "tool": "upscale"}]},
                        {"s1": {"scale": 2}}])
    outcome = Planner(fake, registry).plan(session, "bigger")
    assert outcome.ok, outcome.errors
    assert [s.tool for s in outcome.plan.steps] == ["upscale"]


def test_the_first_subtasks_shortlist_holds_only_tools_that_can_start_a_plan(registry, session):
    """In an empty session the first step has nothing to take from: a shortlist of tools that all
    need an input would be a grammar with no choice at all."""
    fake = FakeBackend([{"tasks": ["paint the lighthouse on a rocky cliff at sunset", "restyle the oil painting"],
                         "steps": [{"tool": "music"}, {"tool": "music"}]},
                        {"steps": [{"tool": "text_to_image"}, {"in": ["s1"], "tool": "image_to_image"}]},
                        {"s1": {"prompt": "a lighthouse"}, "s2": {"prompt": "an oil painting of a lighthouse"}}])
    outcome = Planner(fake, registry).plan(session, "paint a lighthouse on a cliff at sunset, then make it an oil painting")
    assert outcome.ok, outcome.errors
    first = fake.calls[1].json_schema["anyOf"][0]["properties"]["steps"]["prefixItems"][0]["anyOf"]
    assert first and "text_to_image" in {o["properties"]["tool"]["const"] for o in first}


def test_a_step_no_listed_tool_can_take_still_has_a_choice_in_the_grammar(registry):
    """llama.cpp drops a grammar with an empty choice and decodes with none; the step offers its
    tools without sources instead, and reading the answer names what is missing."""
    from agent.catalogue import accepted_artifacts, needing_input, steps_schema

    schema = steps_schema([["upscale", "inpaint"]], [], accepts=accepted_artifacts(registry, []), needs_input=needing_input(registry))
    (only,) = schema["anyOf"][0]["properties"]["steps"]["prefixItems"][0]["anyOf"]
    assert only["properties"]["tool"]["enum"] == ["upscale", "inpaint"]


def test_sources_that_do_not_fit_the_subtasks_tools_give_way_to_wiring_by_type(registry, session):
    image = _image(session)
    fake = FakeBackend([{"tasks": ["upscale", "posterize"], "steps": [{"tool": "music"}, {"in": ["s3"], "tool": "music"}]},
                        {"s1": {"scale": 2}, "s2": {}}])
    outcome = Planner(fake, registry).plan(session, "bigger, then posterize")
    assert outcome.ok, outcome.errors
    assert [(s.tool, s.args.get("image")) for s in outcome.plan.steps] == [("upscale", f"${{{image}}}"), ("posterize", "${s1.image}")]


def test_a_request_only_for_effects_outside_the_session_is_refused_before_the_model_is_asked(registry):
    """impossible#2 of our own requests: "post my last picture on instagram" was planned as
    ``posterize`` (the verb's look-alike). No tool posts: one sentence, no steps, no model call."""
    from bench.product import ListedSession

    session = ListedSession(["image-1 text_to_image: a sunset over the sea"])
    fake = FakeBackend([])
    outcome = Planner(fake, registry).plan(session, "post my last picture on instagram")
    assert outcome.plan is None and fake.calls == []
    assert outcome.reply.startswith("I can't post anything")
    answer = {"tasks": ["post the last picture"], "steps": [{"in": ["image-1"], "tool": "posterize"}]}
    off = Planner(FakeBackend([answer, {"s1": {"bits": 3}}]), registry, options=PlannerOptions(outside=False))
    assert [s.tool for s in off.plan(session, "post my last picture on instagram").plan.steps] == ["posterize"]
    # a part no tool can do among parts they can: planned without it, and the reply says so
    fake = FakeBackend([{"tasks": ["paint the cat"], "steps": [{"tool": "text_to_image"}]}, {"s1": {"prompt": "a cat"}}])
    outcome = Planner(fake, registry).plan(session, "paint a cat and post it on instagram")
    assert [s.tool for s in outcome.plan.steps] == ["text_to_image"] and outcome.reply.endswith("I can't post it for you: the files are yours to post.")
    assert "No tool can post: plan the rest and leave that part out." in fake.calls[0].messages[-1].content


def test_layout_tools_are_offered_only_where_the_request_places_things(registry, session):
    """poster#1: "a poster of a jazz festival with a saxophone player under neon lights" was
    planned as make_layout + layout_to_image; with no placement word they are not in the grammar."""
    from bench.product import ListedSession

    def offered_tools(planner_session, request):
        fake = FakeBackend([{"cannot": "no"}])
        Planner(fake, registry).plan(planner_session, request)
        text = json.dumps(fake.calls[0].json_schema)
        return {name for name in ("make_layout", "plan_layout", "layout_to_image", "text_to_image") if f'"{name}"' in text}

    assert offered_tools(session, "design a poster of a jazz festival with a saxophone player under neon lights") == {"text_to_image"}
    assert offered_tools(session, "three elephants standing beside a pool of water") == {"make_layout", "plan_layout", "layout_to_image", "text_to_image"}
    stored = ListedSession(["layout-1 plan_layout: three elephants beside a pool"])
    assert offered_tools(stored, "turn the layout into a picture") >= {"layout_to_image"}
    fake = FakeBackend([{"cannot": "no"}])
    Planner(fake, registry, options=PlannerOptions(offered=False)).plan(session, "a jazz poster")
    assert '"make_layout"' in json.dumps(fake.calls[0].json_schema)


def test_structure_finding_and_story_tools_are_offered_only_where_the_request_asks(registry, session):
    """Fresh phrasings: "a red fox in fresh snow, watercolor style" was planned with canny (no
    valid plan), "a rainy city street in anime style" with controlnet, "a cat to the left of a
    dog" gained detect_objects, "a poster for a summer sale" plan_story. A photo in the session
    keeps what takes it."""
    from bench.product import ListedSession

    busy = ("canny", "controlnet", "pose_map", "detect_objects", "plan_story", "story_to_video")

    def offered_tools(planner_session, request):
        fake = FakeBackend([{"cannot": "no"}])
        Planner(fake, registry).plan(planner_session, request)
        text = json.dumps(fake.calls[0].json_schema)
        return {name for name in busy if f'"{name}"' in text}

    for plain in ("a red fox in fresh snow, watercolor style", "generate a rainy city street at night in anime style",
                  "paint a castle on a hill, then make a pencil sketch version of it", "make a poster for a summer sale"):
        assert offered_tools(session, plain) == set(), plain
    assert offered_tools(session, "draw a dancer, then a robot in the same pose") == {"canny", "controlnet", "pose_map"}
    assert offered_tools(session, "a street scene; then find the cars in it") == {"detect_objects", "plan_story", "story_to_video"}
    photo = ListedSession(["image-1 import: pencil sketch of a castle"])
    assert offered_tools(photo, "turn this into a realistic photo") == {"canny", "controlnet", "pose_map", "detect_objects"}


def test_video_and_sound_tools_are_offered_where_the_request_asks_for_them(registry, session):
    """watercolor_fox: "a red fox in fresh snow, watercolor style" got add_audio_to_video, then
    text_to_video for a subtask the retry made up. With no word for moving pictures or sound, the
    generators of video and audio are not offered, and so neither is what takes their output."""
    from bench.product import ListedSession

    media = ("text_to_video", "image_to_video", "music", "speech", "sound_effect", "add_audio_to_video", "video_to_audio", "video_edit")

    def offered_tools(planner_session, request):
        fake = FakeBackend([{"cannot": "no"}])
        Planner(fake, registry).plan(planner_session, request)
        text = json.dumps(fake.calls[0].json_schema)
        return {name for name in media if f'"{name}"' in text}

    assert offered_tools(session, "a red fox in fresh snow, watercolor style") == set()
    assert offered_tools(session, "make a short video of a red car on a coastal road, with the sound of its engine") == set(media)
    assert offered_tools(session, "read this sentence aloud - welcome to our bakery") == {"music", "speech", "sound_effect"}
    clip = ListedSession(["video-1 text_to_video: waves on a beach"])
    assert {"add_audio_to_video", "video_to_audio", "video_edit"} <= offered_tools(clip, "make it brighter")


def test_a_tool_that_made_an_artifact_of_the_conversation_stays_offered(registry):
    """speech#2: "and make a picture of a cosy bakery to go with it" after a speech turn has no
    sound word; the model re-planned the speech, and with speech not offered wrote caption instead."""
    from agent.catalogue import offered
    from bench.product import ListedSession

    session = ListedSession(["audio-1 speech: welcome to our little bakery"])
    request = "and make a picture of a cosy bakery to go with it"
    assert offered(registry.get("speech"), request, session.artifacts())
    assert not offered(registry.get("music"), request, session.artifacts())


def test_a_shortlist_keeps_its_closest_tools_that_are_offered_and_takes_no_further_ones(registry):
    """car_video#2: with the video generators not offered, "turn the car into a big blue truck"
    took the next closest tools into its shortlist, add_audio_to_video among them, and the model chose it."""
    from bench.product import ListedSession

    session = ListedSession(["video-1 text_to_video: a red car on a coastal road", "audio-1 sound_effect: an engine"])
    planner = Planner(FakeBackend([]), registry)
    every = {t.name for t in registry}
    task = "turn the car into a big blue truck"
    full = planner._shortlists(["make a picture", task], every, session.artifacts())[1]
    fewer = every - {"text_to_video", "image_to_video", "music", "speech", "sound_effect"}
    shown = planner._shortlists(["make a picture", task], fewer, session.artifacts())[1]
    assert shown == [n for n in full if n in fewer] and len(shown) < len(full)


def test_subtasks_copied_from_an_example_for_another_request_go_back_to_the_model(registry, session):
    """story#1: "a three-scene story video ..." was answered with the layout example's subtasks."""
    request = "a three-scene story video about a fox who finds a lantern in the forest, with calm music"
    copied = {"tasks": ["plan the boxes", "draw the scene from them"], "steps": [{"tool": "plan_story"}, {"in": ["s1"], "tool": "plan_story"}]}
    own = {"tasks": ["make the story video", "compose the music", "put the music on the video"],
           "steps": [{"tool": "story_to_video"}, {"tool": "music"}, {"in": ["s1", "s2"], "tool": "add_audio_to_video"}]}
    fake = FakeBackend([copied, own, {"s1": {"story": "a fox finds a lantern"}, "s2": {"prompt": "calm music"}}])
    outcome = Planner(fake, registry).plan(session, request)
    assert outcome.ok and [s.tool for s in outcome.plan.steps] == ["story_to_video", "music", "add_audio_to_video"]
    assert "are an example's (for 'four balloons" in outcome.errors[0]
    # the example's own kind of request may share its subtasks
    alike = {"tasks": ["plan the boxes", "draw the scene from them"], "steps": [{"tool": "plan_layout"}, {"in": ["s1"], "tool": "layout_to_image"}]}
    fake = FakeBackend([alike, {"s1": {"request": "four balloons above two children"}, "s2": {"prompt": "a park"}}])
    assert Planner(fake, registry).plan(session, "four balloons floating above two children in a sunny park, boxes first").ok


def test_a_tool_whose_input_nothing_offered_makes_is_not_offered(registry, session):
    """story#1: "a three-scene story video ..." got draw_layout (image + layout) with no layout
    tool offered, and the retry gave up. A layout in the session, or a placement word, brings it back."""
    from agent.catalogue import reachable
    from bench.product import ListedSession

    def offered_tools(planner_session, request):
        fake = FakeBackend([{"cannot": "no"}])
        Planner(fake, registry).plan(planner_session, request)
        text = json.dumps(fake.calls[0].json_schema)
        return {name for name in ("draw_layout", "plan_story", "story_to_video") if f'"{name}"' in text}

    story = "a three-scene story video about a fox who finds a lantern in the forest, with calm music"
    assert offered_tools(session, story) == {"plan_story", "story_to_video"}
    assert "draw_layout" in offered_tools(session, "three cats in a row, and show me the boxes")
    assert "draw_layout" in offered_tools(ListedSession(["layout-1 plan_layout: two cats"]), "show me that layout")
    inpaint = registry.get("inpaint")
    assert reachable([inpaint], []) == [], "a mask is needed and nothing offered makes one"
    assert reachable([inpaint, registry.get("mask_from_words"), registry.get("text_to_image")], []) == [
        inpaint, registry.get("mask_from_words"), registry.get("text_to_image")]


def test_the_planner_is_not_asked_for_what_no_tool_does(registry, session):
    """draw_and_post: told "leave that part out", the model still wrote "post it on instagram" as a
    subtask and gave it a tool; now it is asked only to draw, and the reply says what it left out."""
    fake = FakeBackend([{"tasks": ["draw a cute corgi in a raincoat"], "steps": [{"tool": "text_to_image"}]},
                        {"s1": {"prompt": "a cute corgi in a raincoat"}}])
    outcome = Planner(fake, registry).plan(session, "draw a cute corgi in a raincoat and post it on instagram")
    asked = fake.calls[0].messages[-1].content
    assert "draw a cute corgi in a raincoat" in asked and "instagram" not in asked
    assert "No tool can post" in asked
    assert outcome.ok and outcome.reply.endswith("I can't post it for you: the files are yours to post.")


def test_a_restyle_of_the_picture_the_plan_just_drew_is_folded_into_its_prompt(registry, session):
    """lighthouse#1: "paint a lighthouse on a rocky cliff at sunset, oil painting style" became
    text_to_image and then edit to restyle it. One generation can draw the style; versions asked
    for in turn ("then ... a version") keep both steps."""
    request = "paint a lighthouse on a rocky cliff at sunset, oil painting style"
    answer = {"tasks": ["paint the lighthouse on a rocky cliff at sunset", "restyle the oil painting"],
              "steps": [{"tool": "text_to_image"}, {"in": ["s1"], "tool": "edit"}]}
    fake = FakeBackend([answer, {"s1": {"prompt": "a lighthouse on a rocky cliff at sunset, oil painting style"}}])
    outcome = Planner(fake, registry).plan(session, request)
    assert outcome.ok and [s.tool for s in outcome.plan.steps] == ["text_to_image"]
    assert "s2 (edit) restyles the picture s1 draws from text: folded into s1's prompt" in outcome.by_type
    assert set(fake.calls[1].json_schema["properties"]) == {"s1"}

    def both(messages, schema):
        return {"s1": {"prompt": "a lighthouse"}, "s2": {"instruction": "make it an oil painting"}}

    for planner_request, options in ((request, PlannerOptions(fold_restyle=False)),
                                     ("paint a lighthouse, then make an oil painting version of it", PlannerOptions())):
        outcome = Planner(FakeBackend([answer, both]), registry, options=options).plan(session, planner_request)
        assert [s.tool for s in outcome.plan.steps] == ["text_to_image", "edit"], planner_request


def test_a_step_names_no_more_sources_than_there_are(registry):
    """animate#2: with one clip to name, the model wrote video-1 four times and the only tool
    that takes four sources (concat_clips) was all the grammar left; a list longer than the
    distinct sources is no longer writable."""
    schema = structure_schema([t.name for t in registry], ["video-1"], accepts={"concat_clips": {"video-1"}, "caption": {"video-1"}},
                              needs_input={"concat_clips", "caption"}, arity={"concat_clips": 4, "caption": 2}, tasks=False)
    first = schema["anyOf"][0]["properties"]["steps"]["anyOf"][0]["prefixItems"][0]["anyOf"]
    concat = next(o for o in first if o["properties"]["tool"].get("const") == "concat_clips")
    assert concat["properties"]["in"]["maxItems"] == 1


def test_a_generator_for_a_missing_input_is_one_offered_for_the_request(registry, session):
    """draw_layout under "post it on instagram" lacked a layout; make_layout, not offered without a
    placement word, was inserted to make one. Now the problem goes back to the model (and
    draw_layout, with no layout tool offered, is not a tool of this request at all)."""
    request = "draw a cute corgi in a raincoat and post it on instagram"
    answer = {"tasks": ["draw a cute corgi in a raincoat", "post it on instagram"],
              "steps": [{"tool": "text_to_image"}, {"in": ["s1"], "tool": "draw_layout"}]}
    outcome = Planner(FakeBackend([answer] * 3), registry, options=PlannerOptions(outside=False)).plan(session, request)
    assert not outcome.ok and outcome.errors[0] == "s2: unknown tool 'draw_layout'"


def test_converters_and_hints_are_tools_offered_for_the_request(registry, session):
    """cat_left_of_dog: text_to_image then layout_to_image from its picture; detect_objects (the
    picture's boxes) was inserted between them for a request that asks to find nothing. No
    converter the request does not offer is inserted, and a problem sent back names only offered
    tools; the picture step meant to make the layout plans it instead."""
    answer = {"tasks": ["the cat sitting to the left of the dog on a sofa"],
              "steps": [{"tool": "text_to_image"}, {"in": ["s1"], "tool": "layout_to_image"}]}
    restyled = {"tasks": ["the cat", "the style", "the layout"],
                "steps": [{"tool": "text_to_image"}, {"in": ["s1"], "tool": "upscale"}, {"in": ["s2"], "tool": "layout_to_image"}]}
    outcome = Planner(FakeBackend([restyled] * 3), registry).plan(session, "a cat sitting to the left of a dog on a sofa")
    assert not outcome.ok and "detect_objects" not in outcome.errors[0]
    assert "add a step before it that makes layout: make_layout or plan_layout" in outcome.errors[0]

    def prompts(messages, schema):
        return {label: {"prompt": "a cat to the left of a dog"} if "prompt" in json.dumps(spec) else {}
                for label, spec in schema["properties"].items()}

    outcome = Planner(FakeBackend([answer, prompts]), registry).plan(session, "a cat to the left of a dog; find the cat")
    assert outcome.ok and [s.tool for s in outcome.plan.steps] == ["text_to_image", "detect_objects", "layout_to_image"]
    shown = []
    outcome = Planner(FakeBackend([answer]), registry).plan(session, "a cat sitting to the left of a dog on a sofa", on_structure=shown.extend)
    assert [(label, tool) for label, tool, _ in shown] in ([("s1", "plan_layout"), ("s2", "layout_to_image")],
                                                           [("s1", "make_layout"), ("s2", "layout_to_image")]), shown
    assert f"s1 (text_to_image) makes what s2 (layout_to_image) cannot take: {shown[0][1]} instead" in outcome.by_type


def test_a_quoted_passage_is_a_text_artifact_a_step_takes_whole(registry, session):
    """The passage is offered as ``text-1`` (numbered after the session's own text), the step
    that names it gets the words as the user wrote them, the arguments answer is not asked for
    them, and the session stores nothing for it."""
    from agent.quotes import passages

    assert passages("say 'Welcome to our podcast, it's about science.' then 'example.wav' and \"a b c\"") == [
        "Welcome to our podcast, it's about science."]
    spoken = session.add(Kind.TEXT, "hello there", tool="caption", args={})
    passage = "Welcome to our podcast, where we talk about science every week."
    fake = FakeBackend([{"steps": [{"in": ["text-2"], "tool": "speech"}]}, {"s1": {}}])
    outcome = Planner(fake, registry).plan(session, f"read this aloud: '{passage}'")
    assert outcome.ok, outcome.errors
    assert outcome.plan.steps[0].tool == "speech" and outcome.plan.steps[0].args["text"] == passage
    assert "speech (from the quoted text)" in outcome.reply
    assert f'- text-2 (text) by quote: "{passage}"' in fake.calls[0].messages[-1].content
    assert "text" not in fake.calls[1].json_schema["properties"]["s1"]["properties"]
    assert [a.id for a in session.artifacts()] == [spoken.id]
    plain = FakeBackend([{"steps": [{"tool": "speech"}]}, {"s1": {"text": passage}}])
    assert Planner(plain, registry, options=PlannerOptions(quotes=False)).plan(session, f"read this aloud: '{passage}'").ok
    assert "by quote" not in plain.calls[0].messages[-1].content


def test_an_example_shows_a_passage_its_plan_takes_as_a_quote_artifact(registry):
    """An argument that is the passage (a benchmark's gold may drop its last stop) becomes a
    source; a passage the plan does not take is not shown, so that every one listed is used."""
    from agent.catalogue import quoted_example, render_two_part_examples

    passage = "How harsh weather conditions can impact the ecosystem and biodiversity?"
    example = {"artifacts": [], "request": f"read this aloud: '{passage}'",
               "plan": {"steps": [{"id": "s1", "tool": "speech", "args": {"text": passage.rstrip("?")}}]}}
    shown = quoted_example(example)
    assert shown["artifacts"] == [f'text-1 (text) by quote: "{passage}"']
    assert shown["plan"]["steps"][0]["args"] == {"text": "${text-1}"} and example["plan"]["steps"][0]["args"]["text"] != "${text-1}"
    assert '"in":["text-1"],"tool":"speech"' in render_two_part_examples([example], registry, quotes=True)
    assert '"in"' not in render_two_part_examples([example], registry)
    other = {**example, "plan": {"steps": [{"id": "s1", "tool": "speech", "args": {"text": "something else entirely"}}]}}
    assert quoted_example(other) == other


def test_a_quoted_passage_named_again_stands_for_the_text_made_since(registry, session):
    """The model names the passage for every step of a chain ("in":["text-1"] under refine_prompt,
    then again under text_to_image): a passage is the input of one step, so the second takes the
    text the first made, and the plan says so."""
    passage = "a lighthouse on a cliff at dusk with waves crashing below"
    fake = FakeBackend([{"steps": [{"in": ["text-1"], "tool": "refine_prompt"}, {"in": ["text-1"], "tool": "text_to_image"}]},
                        {"s1": {}, "s2": {}}])
    outcome = Planner(fake, registry).plan(session, f"improve this prompt and draw it: '{passage}'")
    assert outcome.ok, outcome.errors
    first, second = outcome.plan.steps
    assert first.args["request"] == passage and second.args["prompt"] == "${s1.text}"
    assert "s2 names text-1, which s1 takes already: s1's text instead" in outcome.by_type
