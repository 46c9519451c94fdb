"""The roles with the real embedded model (Qwen2.5-Coder-1.5B GGUF on the CPU): marked slow.

Run with ``pytest tests/llm_roles -m slow`` (tens of seconds to minutes on 2 cores)."""

from __future__ import annotations

import pytest

from agent.llm import get_backend
from tools.llm.layout import check_plan, normalize_name, plan_layout
from tools.llm.refine import refine_prompt
from tools.llm.story import check_story, plan_story

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedded():
    try:
        backend = get_backend("embedded")
        backend.server()
    except Exception as exc:  # noqa: BLE001 (no model here: skip, with the reason)
        pytest.skip(f"embedded model unavailable: {exc}")
    return backend


def test_embedded_plans_a_counted_layout(embedded) -> None:
    layout, answer = plan_layout(embedded, "three elephants next to a pool")
    counts = {normalize_name(o.name): o.count for o in answer.value.objects}
    assert counts.get("elephant") == 3 and check_plan(answer.value) == []
    assert sum(normalize_name(b.phrase) == "elephant" for b in layout.boxes) == 3


def test_embedded_refines_a_prompt(embedded) -> None:
    answer = refine_prompt(embedded, "a red car")
    assert "car" in answer.value.prompt.lower() and len(answer.value.prompt.split()) > 5


def test_embedded_story_keeps_entities_consistent(embedded) -> None:
    plan = plan_story(embedded, "A girl in a yellow raincoat finds a lost puppy in the park and takes it home.", max_scenes=3).value
    assert check_story(plan, 3) == []
    for index, scene in enumerate(plan.scenes):
        for name in scene.entities:
            assert plan.entity(name).description in plan.scene_prompt(index)
