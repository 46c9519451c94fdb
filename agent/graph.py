"""The agent's state machine, wired: intake -> plan -> (approve) -> dispatch <-> run_step ->
verify -> respond, with a bounded replan from verify back to plan.

``graph`` is compiled at import without a checkpointer (LangGraph's server brings its own;
``langgraph.json`` points here). ``compile_graph(checkpointer)`` is what the CLI uses, with
the SQLite checkpointer that makes sessions resumable and rewindable.
"""

from __future__ import annotations

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent import nodes
from agent.nodes import AgentContext
from agent.state import AgentState, InputState


def build() -> StateGraph:
    builder = StateGraph(AgentState, context_schema=AgentContext, input_schema=InputState)
    builder.add_node("intake", nodes.intake)
    builder.add_node("plan", nodes.plan)
    builder.add_node("approve", nodes.approve)
    builder.add_node("dispatch", nodes.dispatch)
    builder.add_node("run_step", nodes.run_step)
    builder.add_node("verify", nodes.verify)
    builder.add_node("respond", nodes.respond)
    builder.add_edge(START, "intake")
    builder.add_conditional_edges("intake", nodes.after_intake)
    builder.add_conditional_edges("plan", nodes.after_plan)
    builder.add_conditional_edges("approve", nodes.after_approve)
    builder.add_conditional_edges("dispatch", nodes.next_steps, ["run_step", "verify"])
    builder.add_edge("run_step", "dispatch")
    builder.add_conditional_edges("verify", nodes.after_verify)
    builder.add_edge("respond", END)
    return builder


def compile_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    return build().compile(checkpointer=checkpointer)


graph = compile_graph()
