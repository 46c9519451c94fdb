"""plan_layout in two answers: objects and relations, then exactly one box per declared instance
under a grammar built from them; relations checked by LayoutGPT's 45-degree rule."""

from __future__ import annotations

from agent.llm.fake import FakeBackend
from tools.llm.layout import LayoutHead, boxes_schema, plan_layout, relation_holds

HEAD = {"objects": [{"name": "elephant", "count": 3}, {"name": "pool", "count": 1}],
        "relations": [{"subject": "elephant", "relation": "next to", "object": "pool"}]}


def _box(phrase, i, x0, y0, x1, y1):
    return {"phrase": phrase, "instance": i, "x0": x0, "y0": y0, "x1": x1, "y1": y1}


def test_boxes_grammar_fixes_phrases_and_counts():
    schema = boxes_schema(LayoutHead.model_validate(HEAD))
    items = schema["properties"]["boxes"]["prefixItems"]
    assert [(i["properties"]["phrase"]["const"], i["properties"]["instance"]["const"]) for i in items] == [
        ("elephant", 1), ("elephant", 2), ("elephant", 3), ("pool", 1)]
    assert schema["properties"]["boxes"]["minItems"] == schema["properties"]["boxes"]["maxItems"] == 4


def test_three_elephants_in_two_answers_and_a_diagonal_relation_is_retried():
    diagonal = {"boxes": [_box("elephant", 1, 2, 2, 10, 10), _box("elephant", 2, 10, 2, 18, 10), _box("elephant", 3, 2, 10, 10, 18),
                          _box("pool", 1, 30, 30, 60, 60)]}
    beside = {"boxes": [_box("elephant", 1, 2, 30, 10, 40), _box("elephant", 2, 10, 30, 18, 40), _box("elephant", 3, 18, 30, 26, 40),
                        _box("pool", 1, 34, 28, 62, 44)]}
    fake = FakeBackend([HEAD, diagonal, beside])
    layout, answer = plan_layout(fake, "three elephants standing beside a pool of water")
    assert [b.phrase for b in layout.boxes].count("elephant") == 3 and answer.trace.attempts == 3
    assert "elephant next to pool" in fake.calls[2].last_text
    assert "boxes" not in fake.calls[0].json_schema["properties"]
    assert "1..3" in fake.calls[1].last_text


def test_the_45_degree_rule_beside_the_sign_rule():
    assert relation_holds("left of", (10, 10), (30, 12)) and not relation_holds("left of", (10, 10), (20, 40))
    assert relation_holds("left of", (10, 10), (20, 40), rule="sign")
    assert relation_holds("above", (10, 5), (12, 40)) and not relation_holds("above", (0, 30), (40, 40))



def test_boxes_that_keep_failing_are_placed_from_the_declared_relations():
    """Two diagonal answers: the boxes come from the model's own objects and relations, every
    count and relation holds by the 45-degree rule, and the trace says what happened."""
    from tools.llm.layout import PLACED, LayoutPlan, check_plan

    diagonal = {"boxes": [_box("elephant", 1, 2, 2, 10, 10), _box("elephant", 2, 10, 2, 18, 10), _box("elephant", 3, 2, 10, 10, 18),
                          _box("pool", 1, 30, 30, 60, 60)]}
    fake = FakeBackend([HEAD, diagonal, diagonal])
    layout, answer = plan_layout(fake, "three elephants standing beside a pool of water")
    assert len(fake.calls) == 3 and answer.trace.problems[-1] == PLACED
    assert [b.phrase for b in layout.boxes] == ["elephant"] * 3 + ["pool"]
    assert check_plan(LayoutPlan.model_validate(answer.value.model_dump())) == []


def test_placement_orders_rows_and_columns_by_the_relations():
    from tools.llm.layout import LayoutPlan, check_plan, place

    head = LayoutHead.model_validate({
        "objects": [{"name": "cat", "count": 2}, {"name": "table", "count": 1}, {"name": "lamp", "count": 1}, {"name": "dog", "count": 1}],
        "relations": [{"subject": "cats", "relation": "below", "object": "table"}, {"subject": "lamp", "relation": "left of", "object": "table"},
                      {"subject": "dog", "relation": "right of", "object": "cat"}]})
    boxes = place(head)
    assert [(b.phrase, b.instance) for b in boxes] == [("cat", 1), ("cat", 2), ("table", 1), ("lamp", 1), ("dog", 1)]
    assert all(0 <= b.x0 < b.x1 <= 64 and 0 <= b.y0 < b.y1 <= 64 for b in boxes)
    assert check_plan(LayoutPlan(objects=head.objects, relations=head.relations, boxes=boxes)) == []


def test_a_relation_that_contradicts_the_ones_before_it_is_dropped_and_said():
    """"A metal table holding two donuts" was declared "table above donut" and "donut above
    table": no placement holds both, and the user got no layout at all."""
    head = {"objects": [{"name": "donut", "count": 2}, {"name": "table", "count": 1}],
            "relations": [{"subject": "donut", "relation": "above", "object": "table"}, {"subject": "table", "relation": "above", "object": "donut"}]}
    bad = {"boxes": [_box("donut", 1, 2, 2, 10, 10), _box("donut", 2, 2, 2, 10, 10), _box("table", 1, 2, 2, 10, 10)]}
    layout, answer = plan_layout(FakeBackend([head, bad, bad]), "a metal table holding two donuts")
    assert [b.phrase for b in layout.boxes] == ["donut", "donut", "table"]
    assert [(r.subject, r.object) for r in answer.value.relations] == [("donut", "table")]
    donuts, table = layout.boxes[:2], layout.boxes[2]
    assert all(d.box[3] <= table.box[1] for d in donuts), "the relation kept holds: donuts above the table"
    assert answer.trace.problems[-1] == "dropped 'table above donut': it contradicts the relations kept"


def test_counts_that_break_a_stated_comparison_are_sent_back():
    """"two beds ... the number of beds is more than that of chairs" was declared chair 3."""
    wrong = {"objects": [{"name": "bed", "count": 2}, {"name": "chair", "count": 3}], "relations": []}
    right = {"objects": [{"name": "bed", "count": 2}, {"name": "chair", "count": 1}], "relations": []}
    boxes = {"boxes": [_box("bed", 1, 2, 30, 20, 60), _box("bed", 2, 24, 30, 42, 60), _box("chair", 1, 46, 30, 60, 60)]}
    fake = FakeBackend([wrong, right, boxes])
    layout, answer = plan_layout(fake, "a picture of two beds along with a few chairs, the number of beds is more than that of chairs")
    assert [b.phrase for b in layout.boxes] == ["bed", "bed", "chair"] and answer.trace.attempts == 3
    assert "more bed than chair" in fake.calls[1].last_text and "give chair a count below 2" in fake.calls[1].last_text


def test_comparisons_are_read_from_the_request_words():
    from tools.llm.layout import count_problems

    def head(**counts):
        return LayoutHead.model_validate({"objects": [{"name": n.replace("_", " "), "count": c} for n, c in counts.items()], "relations": []})

    assert count_problems("one cat together with the equal number of chair", head(cat=1, chair=2))
    assert not count_problems("one cat together with the equal number of chair", head(cat=1, chair=1))
    assert count_problems("one car with a few traffic lights, the number of car is less than that of traffic lights",
                               head(car=1, traffic_light=1))
    assert not count_problems("one car with a few traffic lights, the number of car is less than that of traffic lights",
                                   head(car=1, traffic_light=3))
    assert count_problems("more cats than dogs on a sofa", head(cat=2, dog=2, sofa=1))
    assert not count_problems("more cats than dogs on a sofa", head(cat=3, dog=2, sofa=1))
    assert "give cat a count above 1" in count_problems("more cats than dogs", head(cat=1, dog=1))[0]
    assert not count_problems("two cats and a dog", head(cat=2, dog=1))


def test_a_count_the_request_states_is_held():
    from tools.llm.layout import count_problems, stated_counts

    assert stated_counts("there are one bed and three teddy bears in the image", ["bed", "teddy bear"]) == {"bed": 1, "teddy bear": 3}
    assert stated_counts("two hot dogs on a plate", ["hot dog", "plate"]) == {"hot dog": 2}
    assert stated_counts("one of the 4 cows near a sofa", ["cow", "sofa"]) == {"cow": 4}
    head = LayoutHead.model_validate({"objects": [{"name": "bed", "count": 3}, {"name": "chair", "count": 3}], "relations": []})
    request = "a picture of two beds along with a few chairs, the number of beds is more than that of chairs"
    problems = count_problems(request, head)
    assert problems[0] == "the request asks for 2 bed, but 'bed' has count 3: give it count 2"
    assert problems[1].endswith("give chair a count below 2")


def test_a_relation_naming_an_undeclared_object_is_dropped_when_boxes_are_placed():
    head = {"objects": [{"name": "cow", "count": 2}, {"name": "hotel", "count": 1}],
            "relations": [{"subject": "cow", "relation": "below", "object": "hotel"}, {"subject": "hotel", "relation": "next to", "object": "cow 1"}]}
    bad = {"boxes": [_box("cow", 1, 2, 2, 2, 10), _box("cow", 2, 2, 2, 10, 10), _box("hotel", 1, 2, 2, 10, 10)]}
    layout, answer = plan_layout(FakeBackend([head, bad, bad]), "two cows in front of a hotel")
    assert [b.phrase for b in layout.boxes] == ["cow", "cow", "hotel"]
    assert [r.object for r in answer.value.relations] == ["hotel"]
