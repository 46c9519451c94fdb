"""The product request set is well formed for our registry, and the scorer judges as documented."""

from __future__ import annotations

import yaml

from agent.llm.fake import FakeBackend
from bench.product import REQUESTS, ListedSession, judge, run, summarise
from tools.registry import load_registry


def test_every_turn_names_real_tools_and_listed_artifacts():
    registry = load_registry()
    conversations = yaml.safe_load(REQUESTS.read_text())
    turns = [t for c in conversations for t in c["turns"]]
    assert len(turns) >= 30 and sum(bool(t.get("cannot")) for t in turns) >= 3
    for turn in turns:
        named = {tool for group in turn.get("uses", []) for tool in group} | set(turn.get("also", []))
        assert named <= {t.name for t in registry}, named - {t.name for t in registry}
        session = ListedSession(turn.get("artifacts", []))
        assert all(session.exists(a) for a in turn.get("refers", []) + turn.get("avoid_refs", []))
        assert turn.get("cannot") or turn.get("uses")


def test_scripted_turns_are_judged_on_tools_references_and_refusals():
    conversations = [{"id": "c", "turns": [
        {"artifacts": ["image-1 text_to_image: a", "image-2 text_to_image: b"], "request": "upscale the second one",
         "uses": [["upscale"]], "refers": ["image-2"], "avoid_refs": ["image-1"]},
        {"artifacts": ["image-1 text_to_image: a"], "request": "upscale it and posterize", "uses": [["upscale"]]},
        {"request": "book a flight", "cannot": True},
    ]}]
    fake = FakeBackend([{"steps": [{"tool": "upscale", "in": ["image-2"]}]}, {"s1": {"scale": 4}},
                        {"steps": [{"tool": "upscale", "in": ["image-1"]}, {"tool": "posterize", "in": ["s1"]}]}, {"s1": {}, "s2": {}},
                        {"cannot": "I can't book flights."}])
    results = list(run(conversations, load_registry(), fake))
    assert [r.right for r in results] == [True, False, True]
    assert results[1].problems == ["unrequested ['posterize']"]
    assert "Note:" in fake.calls[0].last_text  # the intake's reference note ("the second one" -> image-2)
    assert summarise(results)["right"] == 2


def test_judge_requires_a_plain_refusal():
    from agent.planner import PlanOutcome

    problems, _, _ = judge({"cannot": True}, PlanOutcome(reply="I could not make a valid plan in 3 attempts."))
    assert problems and "no plain refusal" in problems[0]


def test_two_steps_of_one_group_for_one_asked_is_wrong_unless_the_turn_allows_more():
    from agent.planner import PlanOutcome
    from graphs.plan import Plan, Step

    two = PlanOutcome(reply="", plan=Plan(steps=[Step(id="a", tool="text_to_image", args={"prompt": "x"}),
                                                 Step(id="b", tool="text_to_image", args={"prompt": "y"})]))
    problems, _, _ = judge({"uses": [["text_to_image", "generate_checked"]]}, two)
    assert problems == ["uses ['text_to_image', 'generate_checked'] 2 times"]
    assert judge({"uses": [["text_to_image"]], "times": 2}, two)[0] == []


def test_listed_outputs_of_one_step_are_siblings_as_the_executor_stores_them():
    session = ListedSession(["image-1 import: photo", "mask-1 import: painted mask", "image-2 outpaint: wider",
                             "mask-2 outpaint: the new area", "image-3 controlnet: a castle", "image-4 controlnet.condition: edges",
                             "image-5 text_to_image: a", "image-6 text_to_image: b"])
    siblings = {a.id: a.siblings for a in session.artifacts()}
    assert siblings == {"image-1": [], "mask-1": [], "image-2": ["mask-2"], "mask-2": ["image-2"], "image-3": ["image-4"],
                        "image-4": ["image-3"], "image-5": [], "image-6": []}
    assert session.get("image-4").output == "condition" and session.get("image-3").output == "image"


def test_a_recorded_run_is_replayed_turn_by_turn_and_judged_again(tmp_path):
    """bench.replay --product: each turn gets its own recorded answers; a turn whose replay asks
    for one more answer than was recorded is scored as run and counted as diverged."""
    import json

    from bench.replay import replay_product

    conversations = [{"id": "c", "turns": [
        {"artifacts": ["image-1 text_to_image: a", "image-2 text_to_image: b"], "request": "upscale the second one", "uses": [["upscale"]]},
        {"artifacts": ["image-1 text_to_image: a"], "request": "upscale it", "uses": [["upscale"]]},
    ]}]
    data = tmp_path / "product.yaml"
    data.write_text(yaml.safe_dump(conversations))
    base = {"conversation": "c", "request": "", "problems": [], "refs": [], "reply": "", "valid": True, "seconds": 1.0,
            "structure_seconds": None, "attempts": 2, "completion_tokens": 1, "errors": []}
    rows = [{**base, "turn": 1, "right": False, "tools": ["posterize"],
             "raw": ['{"steps":[{"tool":"upscale","in":["image-2"]}]}', '{"s1":{"scale":4}}']},
            {**base, "turn": 2, "right": True, "tools": ["upscale"], "raw": ['{"steps":[{"tool":"upscale","in":["image-1"]}]}']}]
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    results, as_run, diverged = replay_product(path, data)
    assert [r["right"] for r in as_run] == [False, True]
    assert [r.right for r in results] == [True, True] and results[0].tools == ["upscale"]
    assert diverged == ["c#2"] and results[1].seconds == 1.0  # no arguments answer recorded for turn 2: as run
