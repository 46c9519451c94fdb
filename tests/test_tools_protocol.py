"""Tool declarations fail at definition time; plugins register through entry points."""

from __future__ import annotations

import pytest

from tools.artifacts import ArtifactHandle, Kind
from tools.base import Input, Tool, ToolContext, ToolParams
from tools.builtin.image_ops import Resize
from tools.errors import ConfigError, PlanError, ToolDefinitionError
from tools.registry import Registry, load_registry


def test_a_well_formed_tool_exposes_its_schema():
    assert Resize.inputs == {"image": Input(Kind.IMAGE)}
    assert Resize.summary().startswith("Resize an image")
    schema = Resize.Params.model_json_schema()
    assert set(schema["properties"]) == {"width", "height", "resample"}
    assert Resize.takes_seed() is False


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"outputs": {"image": Kind.IMAGE}}, "needs `name`"),
        ({"name": "Bad Name", "outputs": {"image": Kind.IMAGE}}, "needs `name`"),
        ({"name": "nodoc", "outputs": {"image": Kind.IMAGE}, "__doc__": None}, "needs a docstring"),
        ({"name": "noout", "outputs": {}}, "needs `outputs`"),
        ({"name": "badkind", "outputs": {"image": "image"}}, "needs `outputs`"),
        ({"name": "badin", "inputs": {"image": "image"}, "outputs": {"image": Kind.IMAGE}}, "must be a Kind"),
        ({"name": "badparams", "outputs": {"image": Kind.IMAGE}, "Params": dict}, "Params"),
    ],
)
def test_broken_declarations_fail_when_the_class_is_defined(body, problem):
    def run(self, ctx, params, *, image=None):
        return {}

    namespace = {"__doc__": "A tool.", "run": run, **body}
    if "inputs" not in namespace:
        namespace["run"] = lambda self, ctx, params: {}
    with pytest.raises(ToolDefinitionError, match=problem):
        type("Broken", (Tool,), namespace)


def test_run_signature_must_match_inputs():
    with pytest.raises(ToolDefinitionError, match="keyword-only arguments"):

        class WrongRun(Tool):
            """Takes an image but its run does not."""

            name = "wrong_run"
            inputs = {"image": Input(Kind.IMAGE)}
            outputs = {"image": Kind.IMAGE}

            def run(self, ctx: ToolContext, params: ToolParams) -> dict:
                return {}


def test_input_and_parameter_names_may_not_clash():
    with pytest.raises(ToolDefinitionError, match="both as input and parameter"):

        class Clash(Tool):
            """Clashing names."""

            name = "clash"
            inputs = {"image": Input(Kind.IMAGE)}
            outputs = {"image": Kind.IMAGE}

            class Params(ToolParams):
                image: str = ""

            def run(self, ctx: ToolContext, params: Params, *, image: ArtifactHandle) -> dict:
                return {}


def test_duplicate_names_are_an_error_naming_both_plugins():
    registry = Registry()
    registry.register(Resize, origin="builtin")

    class Resize2(Resize):
        """Another resize."""

    with pytest.raises(ToolDefinitionError, match="duplicate tool name 'resize'.*'other'.*'builtin'"):
        registry.register(Resize2, origin="other")


def test_unknown_tool_suggests_close_names():
    registry = load_registry(["builtin"])
    with pytest.raises(PlanError, match="did you mean resize"):
        registry.get("resise", step="s1")


def test_builtins_and_the_installed_example_plugin_load_through_entry_points():
    registry = load_registry()
    assert {"resize", "crop", "pad_canvas", "composite", "canny", "make_layout", "draw_layout", "mask_from_boxes"} <= set(registry.names())
    assert registry.origin("resize") == "builtin"
    assert registry.origin("posterize") == "example", "run ./setup.sh --dev: it installs examples/plugin-example"


def test_env_variable_limits_plugins(monkeypatch):
    monkeypatch.setenv("LLMGA_PLUGINS", "example")
    assert load_registry().names() == ["posterize"]
    monkeypatch.setenv("LLMGA_PLUGINS", "builtin,nope")
    with pytest.raises(ConfigError, match="not installed: nope"):
        load_registry()
