"""An image too large for the memory budget is refused before any model loads."""

from __future__ import annotations

from agent.config import Settings
from agent.runtime import Runtime
from graphs.plan import Plan, Step, bind


def test_oversized_generation_is_refused_without_loading(workspace_dir):
    runtime = Runtime(Settings(workspace=workspace_dir, max_generate_pixels=4096))
    session = runtime.workspace.session("budget", create=True)
    plan = Plan(steps=[Step(id="big", tool="text_to_image", args={"prompt": "a car", "width": 128, "height": 128, "steps": 2})])
    result = runtime.executor(session).run(bind(plan, runtime.registry, session))
    error = result.steps["big"].error
    assert result.steps["big"].status == "failed"
    assert "a 128x128 image is over the generation budget of 0.0 MP" in error and "`upscale`" in error
    assert runtime.models.stats.loads == 0
    assert session.artifacts() == []
