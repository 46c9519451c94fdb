"""Whatever the model writes, planning ends in a validated plan or a PlanError: never a crash."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.planner import parse_plan
from graphs.plan import Plan, bind
from tests.support import make_registry
from tools.artifacts import Workspace
from tools.errors import PlanError

REGISTRY = make_registry()
TOOLS = st.sampled_from([*REGISTRY.names(), "nope", "", "resize ", "RESIZE"])
IDS = st.sampled_from(["a", "b", "c", "gen", "A", "1x", "", "a.b"])
REFS = st.one_of(
    st.builds(lambda s, o: f"${{{s}.{o}}}", IDS, st.sampled_from(["image", "mask", "text", "x"])),
    st.builds(lambda s: f"${{{s}}}", IDS),
    st.sampled_from(["${image-1}", "${image-99}", "${mask-1}", "${text-1}", "${", "${}", "$image-1", "${a.b.c}"]),
)
VALUES = st.one_of(REFS, st.integers(-5, 5000), st.floats(allow_nan=True), st.text(max_size=8), st.none(), st.booleans(), st.lists(st.integers(), max_size=3))
ARGS = st.dictionaries(st.sampled_from(["image", "mask", "text", "width", "height", "left", "sleep", "fail", "seed", "label", "boxes", "zzz"]), VALUES, max_size=4)
STEP = st.fixed_dictionaries({"id": IDS, "tool": TOOLS, "args": ARGS}, optional={"after": st.lists(IDS, max_size=2)})
PLANS = st.fixed_dictionaries({"reply": st.text(max_size=10), "steps": st.lists(STEP, max_size=5)})


def check(text: str, session) -> None:
    try:
        reply = parse_plan(text)
        if reply.steps:
            bind(Plan(steps=reply.steps), REGISTRY, session)
    except PlanError as exc:
        assert str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(PLANS)
def test_structured_garbage_never_crashes(tmp_path_factory, data):
    session = Workspace(tmp_path_factory.mktemp("ws")).session("fuzz", create=True)
    check(json.dumps(data), session)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(max_size=60), st.binary(max_size=40).map(lambda b: b.decode("latin-1")), st.recursive(st.none() | st.integers() | st.text(max_size=5), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3)).map(json.dumps)))
def test_malformed_text_never_crashes(tmp_path_factory, text):
    session = Workspace(tmp_path_factory.mktemp("ws")).session("fuzz", create=True)
    check(text, session)
