"""The LangGraph server path (langgraph.json -> agent/graph.py:graph): what its server does with the
graph, done here without the server: schemas for Studio's forms, a run with only messages and a
thread id, a context given as JSON, and two runs sharing one runtime and model pool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from agent import nodes
from agent.graph import compile_graph, graph

PLAN = {"reply": "A layout.", "steps": [{"id": "lay", "tool": "make_layout", "args": {"width": 64, "height": 64, "boxes": [{"phrase": "a car", "box": [0.1, 0.5, 0.6, 0.9]}]}}]}


def test_input_and_context_schemas_render():
    inputs = graph.get_input_jsonschema()
    assert {"messages", "session_id", "attachments"} <= set(inputs["properties"])
    context = graph.get_context_jsonschema()
    assert set(context["properties"]) == {"approve", "max_replans", "max_attempts", "seed"}
    assert context["properties"]["approve"]["type"] == "boolean"


def test_a_run_without_session_id_uses_the_thread_and_runs_share_one_runtime(tmp_path, monkeypatch, workspace_dir):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"planner": {"backend": "fake", "responses": [json.dumps(PLAN), json.dumps(PLAN)]}}))
    monkeypatch.setenv("LLMGA_CONFIG", str(config))
    monkeypatch.setenv("LLMGA_PLUGINS", "builtin")
    served = compile_graph(InMemorySaver())  # the server compiles the same builder with its own checkpointer
    first = served.invoke({"messages": [HumanMessage("make a layout")]}, {"configurable": {"thread_id": "thread-7"}}, context={"approve": False})
    assert first["session_id"] == "thread-7" and first["status"] == "done"
    assert (workspace_dir / "sessions" / "thread-7").is_dir()
    runtime = nodes.shared_runtime()
    pool = runtime.models
    second = served.invoke({"messages": [HumanMessage("again")]}, {"configurable": {"thread_id": "thread-8"}}, context={})
    assert second["session_id"] == "thread-8" and second["status"] == "done"
    assert nodes.shared_runtime() is runtime and runtime.models is pool
    assert nodes.AgentContext().llmga is runtime and nodes.AgentContext(approve=True).planner.backend is nodes.AgentContext().planner.backend


def test_loading_a_pipeline_draws_no_library_bars(tiny_models, tmp_path):
    """Progress reaches the faces through llmga's events; diffusers' own bars must not reach a terminal."""
    code = ("from tools.models import ModelPool; import torch; torch.set_num_threads(1); "
            f"ModelPool('tiny', cache_dir={str(tiny_models)!r}).pipeline('text2img')")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Loading pipeline components" not in done.stderr and "it/s]" not in done.stderr, done.stderr[-2000:]
