"""The agent graph with a scripted planner: fan-out, replans, approval, undo, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.conversation import Conversation
from agent.llm.fake import FakeBackend
from agent.nodes import AgentContext
from tests.support import Calls, make_runtime
from tools.artifacts import Kind


def plan(reply: str, *steps: dict) -> str:
    return json.dumps({"reply": reply, "steps": list(steps)})


def conversation(*replies, approve: bool = False, session: str | None = None) -> Conversation:
    backend = FakeBackend(list(replies))
    ctx = AgentContext(runtime=make_runtime(), backend=backend, approve=approve)
    return Conversation.open(ctx, session)


@pytest.fixture(autouse=True)
def _reset():
    Calls.reset()


def test_independent_steps_fan_out_in_parallel():
    chat = conversation(plan("two notes", {"id": "a", "tool": "note", "args": {"sleep": 0.6}}, {"id": "b", "tool": "note", "args": {"sleep": 0.6, "text": "b"}}))
    state = chat.send("write two notes")
    assert state["status"] == "done"
    spans = []
    for step in ("a", "b"):
        text = chat.session.handle(state["results"][step]["outputs"]["text"]).text()
        spans.append(tuple(float(x) for x in text.split(" ")[-2:]))
    (s1, e1), (s2, e2) = spans
    assert max(s1, s2) < min(e1, e2), f"steps did not overlap: {spans}"
    assert "text-1" in state["messages"][-1].content and "text-2" in state["messages"][-1].content


def test_dependent_steps_run_in_order_and_results_are_listed():
    chat = conversation(plan("note then shout", {"id": "n", "tool": "note", "args": {"text": "hey"}}, {"id": "s", "tool": "shout", "args": {"text": "${n}"}}))
    state = chat.send("shout hey")
    out = state["results"]["s"]["outputs"]["text"]
    assert chat.session.handle(out).text() == "HEY"
    assert state["plan"]["outputs"] == {"s.text": "${s.text}"}
    assert state["shown"] == [out]


def test_a_failing_step_triggers_one_replan_with_the_error():
    chat = conversation(
        plan("first try", {"id": "n", "tool": "note"}, {"id": "b", "tool": "boom", "args": {"image": "${image-1}"}}),
        plan("second try", {"id": "b", "tool": "boom", "args": {"image": "${image-1}", "fail": False}}),
    )
    image = chat.attach(Path(__file__).resolve().parents[2] / "examples" / "assets" / "car_on_road.png", Kind.IMAGE)
    state = chat.send("do the risky thing", attachments=[image])
    assert state["status"] == "done" and state["replans"] == 1
    replan_request = chat.context.planner.backend.calls[1].messages[-1].content
    assert "step 'b' (boom): RuntimeError: the GPU caught fire" in replan_request
    assert "already made: n: text-1" in replan_request
    assert Calls.counts["boom"] == 2


def test_replans_are_bounded():
    failing = plan("again", {"id": "b", "tool": "boom", "args": {"image": "${image-1}"}})
    chat = conversation(failing, failing)
    image = chat.attach(Path(__file__).resolve().parents[2] / "examples" / "assets" / "car_on_road.png", Kind.IMAGE)
    state = chat.send("keep failing", attachments=[image])
    assert state["status"] == "failed" and state["replans"] == 1
    assert "step b failed: RuntimeError: the GPU caught fire" in state["messages"][-1].content


def test_invalid_plans_go_back_to_the_model_with_the_error():
    chat = conversation(
        "this is not json",
        plan("oops", {"id": "x", "tool": "teleport", "args": {}}),
        plan("ok", {"id": "n", "tool": "note", "args": {"text": "fine"}}),
    )
    state = chat.send("write a note")
    assert state["status"] == "done" and state["planning"]["attempts"] == 3
    calls = chat.context.planner.backend.calls
    assert "not valid JSON" in calls[1].messages[-1].content
    assert "unknown tool 'teleport'" in calls[2].messages[-1].content


def test_a_plan_that_never_validates_is_reported_and_the_session_survives():
    bad = plan("bad", {"id": "x", "tool": "resize", "args": {"width": 5}})
    chat = conversation(bad, bad, bad, plan("ok", {"id": "n", "tool": "note"}))
    state = chat.send("resize something")
    assert state["status"] == "unplannable"
    assert "could not make a valid plan in 3 attempts" in state["messages"][-1].content
    assert "missing input 'image'" in state["messages"][-1].content
    assert chat.send("write a note")["status"] == "done"


def test_empty_and_impossible_requests_get_a_clear_answer():
    chat = conversation(plan("I can only make images and sound; I cannot fix printers.",))
    state = chat.send("   ")
    assert state["status"] == "rejected" and "empty" in state["messages"][-1].content
    assert chat.context.planner.backend.calls == []
    state = chat.send("email this to my boss")  # no tool reaches outside the session: answered without the model
    assert state["status"] == "unplannable" and "I can't e-mail anything" in state["messages"][-1].content
    assert chat.context.planner.backend.calls == []
    state = chat.send("fix my printer")
    assert state["status"] == "unplannable" and "cannot fix printers" in state["messages"][-1].content


def test_approval_interrupts_and_resumes():
    chat = conversation(plan("a note", {"id": "n", "tool": "note"}), plan("another", {"id": "n", "tool": "note", "args": {"text": "x"}}), approve=True)
    chat.send("write a note")
    assert chat.pending() == ("approve",)
    assert chat.interrupted()["plan"]["steps"][0]["tool"] == "note"
    assert Calls.counts == {}
    state = chat.resume(True)
    assert state["status"] == "done" and Calls.counts == {"note": 1}
    chat.send("another note")
    state = chat.resume("no")
    assert state["status"] == "declined" and "not approved" in state["messages"][-1].content
    assert Calls.counts == {"note": 1}


def test_multi_turn_references_resolve_to_the_right_artifacts(car_png):
    def wider(messages, schema):
        text = messages[-1].content
        assert 'Note: "it" means image-2.' in text, text
        return plan("wider", {"id": "w", "tool": "pad_canvas", "args": {"image": "${image-2}", "left": 8, "right": 8}})

    def upscale_first(messages, schema):
        text = messages[-1].content
        assert 'Note: "the first one" means image-1.' in text, text
        return plan("bigger", {"id": "u", "tool": "resize", "args": {"image": "${image-1}", "width": 512}})

    chat = conversation(plan("small", {"id": "g", "tool": "resize", "args": {"image": "${image-1}", "width": 128}}), wider, upscale_first)
    photo = chat.attach(car_png, Kind.IMAGE)
    first = chat.send("make a smaller copy", attachments=[photo])
    assert first["shown"] == ["image-1", "image-2"]
    second = chat.send("make it wider")
    assert chat.session.get(second["results"]["w"]["outputs"]["image"]).meta["width"] == 144
    third = chat.send("now upscale the first one")
    assert chat.session.get(third["results"]["u"]["outputs"]["image"]).parents == {"image": "image-1"}
    history = chat.context.planner.backend.calls[2].messages
    assert any("make it wider" in m.content for m in history[:-1]), "earlier turns are part of the conversation"


def test_undo_rewinds_to_the_end_of_the_previous_turn():
    chat = conversation(plan("one", {"id": "a", "tool": "note", "args": {"text": "one"}}), plan("two", {"id": "b", "tool": "note", "args": {"text": "two"}}))
    chat.send("first")
    chat.send("second")
    assert chat.state()["turn"] == 2 and len(chat.state()["shown"]) == 2
    assert chat.undo() == 1
    state = chat.state()
    assert state["turn"] == 1 and state["shown"] == ["text-1"] and len(state["turns"]) == 1
    assert chat.pending() == ()


def test_export_replays_the_session_exactly(tmp_path, car_png):
    chat = conversation(
        plan("edges", {"id": "e", "tool": "canny", "args": {"image": "${image-1}"}}),
        plan("seeded", {"id": "s", "tool": "seeded", "args": {"label": "x"}}),
    )
    photo = chat.attach(car_png, Kind.IMAGE)
    chat.send("edges please", attachments=[photo])
    chat.send("a seeded note")
    workflow = chat.export_workflow()
    assert [s["id"] for s in workflow["steps"]] == ["t1_e", "t2_s"]
    assert workflow["steps"][1]["args"]["seed"] == chat.session.get("text-1").seed
    path = chat.export_yaml(tmp_path / "replay.yaml")
    runtime = make_runtime()
    session, [run] = runtime.run_workflow(path, [{}], use_cache=False)
    replayed = {session.get(a).sha256 for a in run.result.outputs.values()}
    original = {chat.session.get(a).sha256 for a in chat.state()["shown"] if a != "image-1"}
    assert replayed == original


def test_a_broken_planner_model_is_reported_and_the_session_survives():
    from agent.llm.chat import BackendError

    chat = conversation(BackendError("server said 500"), plan("ok", {"id": "n", "tool": "note"}))
    state = chat.send("write a note")
    assert state["status"] == "unplannable" and "The planner model failed: server said 500" in state["messages"][-1].content
    assert chat.send("write a note")["status"] == "done"


def test_attaching_something_that_is_not_an_image_is_a_clear_error(tmp_path):
    from tools.errors import InputError

    chat = conversation()
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    with pytest.raises(InputError, match="notes.txt is not a readable image"):
        chat.attach(notes, Kind.IMAGE)
    assert chat.session.artifacts() == []


def test_llmga_gen_image_prompts_feed_generation_steps():
    from agent.planner import parse_plan

    native = parse_plan("Sure! <gen_image>a red vintage car on a coastal road at golden hour, film photo</gen_image>")
    assert [(s.tool, s.args["prompt"]) for s in native.steps] == [("text_to_image", "a red vintage car on a coastal road at golden hour, film photo")]
    assert native.reply == "Sure!"
    tagged = parse_plan(json.dumps({"reply": "ok", "steps": [{"id": "g", "tool": "text_to_image", "args": {"prompt": "<gen_image> a blue truck </gen_image>"}}]}))
    assert tagged.steps[0].args["prompt"] == "a blue truck"
