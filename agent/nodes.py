"""The agent's nodes and routers: small functions from state to a partial update.

The wiring lives in ``agent/graph.py``. What the nodes need but must not checkpoint (the
llmga runtime with its model pool, the planner backend, display callbacks) comes in the run's
``AgentContext``; a missing context (LangGraph's own server) falls back to the defaults.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache, cached_property
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.config import get_config
from langgraph.runtime import Runtime as GraphRuntime
from langgraph.types import Send, interrupt
from pydantic import ConfigDict
from pydantic.json_schema import SkipJsonSchema

from agent.config import Settings
from agent.llm.chat import message_text
from agent.planner import Planner
from agent.references import mention_note, resolve_mentions
from agent.runtime import Runtime
from agent.state import AgentState, StepTask
from graphs.executor import Event, StepResult, schedule, skipped_result
from graphs.plan import BoundPlan, Plan, bind
from tools.artifacts import Artifact, Session
from tools.llm.protocol import LLMBackend

HISTORY_MESSAGES = 6


@dataclass
class AgentContext:
    """What a run needs but must not checkpoint. The JSON fields (approve, max_replans, max_attempts,
    seed) are the context schema LangGraph's server shows; the object fields are skipped there."""

    __pydantic_config__ = ConfigDict(arbitrary_types_allowed=True)

    runtime: SkipJsonSchema[Runtime | None] = None
    backend: SkipJsonSchema[LLMBackend | None] = None
    approve: bool = False
    max_replans: int = 1
    max_attempts: int = 3
    on_event: SkipJsonSchema[Callable[[Event], None] | None] = None
    on_plan: SkipJsonSchema[Callable[[BoundPlan, str], None] | None] = None
    seed: int | None = None
    checker: SkipJsonSchema[Callable[[Session, str, list[str]], Any] | None] = None
    """Optional result check after a successful run (e.g. ``agent.checks.ImageCheck``):
    returns ``.notes`` to tell the user and ``.retry`` to ask for a bounded replan."""
    cancel: SkipJsonSchema[threading.Event | None] = None
    """A job's stop flag (the HTTP service sets it): running tools stop at their next model step,
    steps not started yet do not start, and the turn ends as ``cancelled`` instead of replanning."""

    @cached_property
    def llmga(self) -> Runtime:
        return self.runtime or shared_runtime()

    @cached_property
    def planner(self) -> Planner:
        backend = self.backend
        if backend is None:
            backend = _shared_backend(*_backend_key())
        return Planner(backend, self.llmga.registry, max_attempts=self.max_attempts)


def context(runtime: GraphRuntime[AgentContext] | None) -> AgentContext:
    ctx = runtime.context if runtime is not None else None
    return ctx if isinstance(ctx, AgentContext) else _default_context()


@cache
def _default_context() -> AgentContext:
    """One default context per process (LangGraph's server runs the graph without one)."""
    return AgentContext()


def shared_runtime() -> Runtime:
    """The process's runtime for the current settings. A context without its own runtime (LangGraph's
    server builds one per run from the request) still reuses one model pool and registry per process."""
    return _shared_runtime(Settings().model_dump_json())


@cache
def _shared_runtime(settings_json: str) -> Runtime:
    return Runtime(Settings.model_validate_json(settings_json))


def _backend_key() -> tuple[str, str]:
    from agent.llm import resolve_options

    name, options = resolve_options()
    return name, options.model_dump_json()


@cache
def _shared_backend(name: str, options_json: str) -> LLMBackend:
    """One planner backend per configuration and process (an embedded model loads once)."""
    from agent.llm import get_backend

    return get_backend(name)


def _session(ctx: AgentContext, state: AgentState) -> Session:
    return ctx.llmga.workspace.session(state["session_id"], create=True)


def _session_id(ctx: AgentContext, state: AgentState) -> str:
    """The state's session, else the thread id (LangGraph's server sends no ``session_id``), else a new one."""
    if state.get("session_id"):
        return state["session_id"]
    thread = (get_config().get("configurable") or {}).get("thread_id")
    return str(thread) if thread else ctx.llmga.session(None, prefix="chat").id


def _visible(session: Session, ids: list[str]) -> list[Artifact]:
    return [session.get(i) for i in ids if session.exists(i)]


# -- nodes ------------------------------------------------------------------------------------
def intake(state: AgentState, runtime: GraphRuntime[AgentContext]) -> dict[str, Any]:
    """Start a turn: take the request, note attachments, resolve "it" / "the second one"."""
    ctx = context(runtime)
    last = state["messages"][-1] if state.get("messages") else None
    request = message_text(last).strip() if isinstance(last, HumanMessage) else ""
    state = {**state, "session_id": _session_id(ctx, state)}
    session = _session(ctx, state)
    shown = [*state.get("shown", []), *[a for a in state.get("attachments", []) if a not in state.get("shown", [])]]
    update: dict[str, Any] = {
        "session_id": session.id,
        "turn": state.get("turn", 0) + 1,
        "request": request,
        "shown": shown,
        "attachments": [],
        "results": None,
        "plan": None,
        "reply": "",
        "replans": 0,
        "feedback": [],
        "checks": [],
        "status": "planning",
    }
    if not request:
        return {**update, "status": "rejected", "reply": "The request is empty: tell me what to make or change."}
    mentions, unknown = resolve_mentions(request, _visible(session, shown))
    notes = [n for n in [mention_note(mentions)] if n]
    if unknown:
        notes.append(f"Note: {', '.join(unknown)} do not exist in this conversation.")
    if state.get("attachments"):
        notes.append(f"Note: the user attached {', '.join(state['attachments'])}.")
    return {**update, "notes": notes}


def plan(state: AgentState, runtime: GraphRuntime[AgentContext]) -> dict[str, Any]:
    """Ask the planner for a validated plan (it retries invalid ones itself)."""
    ctx = context(runtime)
    session = _session(ctx, state)
    made = [o for r in state.get("results", {}).values() for o in r.get("outputs", {}).values()]
    history: list[BaseMessage] = list(state.get("messages", [])[:-1])[-HISTORY_MESSAGES:]
    started = time.perf_counter()
    outcome = ctx.planner.plan(
        session,
        state["request"],
        history=history,
        artifacts=_visible(session, [*state.get("shown", []), *made]),
        notes=[*state.get("notes", []), *state.get("feedback", [])],
        seed=ctx.seed,
    )
    planning = {
        "attempts": outcome.attempts,
        "errors": outcome.errors,
        "seconds": round(time.perf_counter() - started, 3),
        "completion_tokens": sum(g.completion_tokens for g in outcome.generations),
        "tokens_per_second": round(sum(g.completion_tokens for g in outcome.generations) / max(sum(g.seconds for g in outcome.generations), 1e-9), 2),
    }
    if outcome.bound is not None and ctx.on_plan:
        ctx.on_plan(outcome.bound, outcome.reply)
    return {
        "plan": outcome.plan.model_dump() if outcome.plan else None,
        "deps": {s.id: sorted(s.deps) for s in outcome.bound.steps.values()} if outcome.bound else {},
        "reply": outcome.reply,
        "planning": planning,
        "results": None,
        "status": "planned" if outcome.plan else "unplannable",
    }


def approve(state: AgentState) -> dict[str, Any]:
    """Pause for the user's go-ahead; resumed with ``Command(resume=True|False)``."""
    answer = interrupt({"reply": state.get("reply", ""), "plan": state["plan"]})
    approved = answer is True or (isinstance(answer, str) and answer.strip().lower() in ("y", "yes", "ok", "approve", "run"))
    return {"status": "approved" if approved else "declined"}


def _deps(state: AgentState) -> dict[str, set[str]]:
    return {sid: set(needs) for sid, needs in state.get("deps", {}).items()}


def _statuses(state: AgentState) -> dict[str, Any]:
    return {sid: r["status"] for sid, r in state.get("results", {}).items()}


def dispatch(state: AgentState) -> dict[str, Any]:
    """Mark the steps that can no longer run because something they need failed."""
    _, skipped = schedule(_deps(state), _statuses(state))
    tools = {step["id"]: step["tool"] for step in state["plan"]["steps"]}
    return {"results": {sid: asdict(skipped_result(sid, tools[sid], blocker)) for sid, blocker in skipped.items()}} if skipped else {}


def run_step(task: StepTask, runtime: GraphRuntime[AgentContext]) -> dict[str, Any]:
    """Run one step through the shared executor (cache, artifacts, progress events)."""
    ctx = context(runtime)
    session = ctx.llmga.workspace.session(task["session_id"])
    bound = bind(Plan.model_validate(task["plan"]), ctx.llmga.registry, session)
    executor = ctx.llmga.executor(session, on_event=ctx.on_event, cancel=ctx.cancel)
    done = {sid: StepResult(**r) for sid, r in task["done"].items()}
    result = executor.execute_step(bound.steps[task["step"]], done)
    return {"results": {task["step"]: asdict(result)}}


def verify(state: AgentState, runtime: GraphRuntime[AgentContext]) -> dict[str, Any]:
    """Decide between done and a bounded replan after failed steps."""
    ctx = context(runtime)
    if ctx.cancel is not None and ctx.cancel.is_set():
        return {"status": "cancelled"}
    failed = {s: r for s, r in state.get("results", {}).items() if r["status"] == "failed"}
    if failed and state.get("replans", 0) < ctx.max_replans:
        made = [f"{s}: {', '.join(r['outputs'].values())}" for s, r in state["results"].items() if r["status"] in ("ran", "cached")]
        feedback = [
            "Note: the previous plan failed: " + "; ".join(f"step '{s}' ({r['tool']}): {r['error']}" for s, r in failed.items()) + ".",
            f"Note: already made: {'; '.join(made) or 'nothing'}. Plan again, avoiding the failure.",
        ]
        return {"feedback": feedback, "replans": state.get("replans", 0) + 1, "status": "replanning"}
    if failed or ctx.checker is None:
        return {"status": "failed" if failed else "done"}
    made = [o for r in state.get("results", {}).values() if r["status"] in ("ran", "cached") for o in r["outputs"].values()]
    verdict = ctx.checker(_session(ctx, state), state["request"], made)
    checks = [*state.get("checks", []), *verdict.notes]
    if verdict.retry and state.get("replans", 0) < ctx.max_replans:
        feedback = [f"Note: {n}" for n in verdict.notes] + [
            "Note: the result did not pass the check. Plan again with a different seed, or refine the prompt to say what was missing."
        ]
        return {"feedback": feedback, "checks": checks, "replans": state.get("replans", 0) + 1, "status": "replanning"}
    return {"checks": checks, "status": "done"}


def respond(state: AgentState, runtime: GraphRuntime[AgentContext]) -> dict[str, Any]:
    """Tell the user what happened and which artifacts are new; record the turn."""
    ctx = context(runtime)
    status = state.get("status", "done")
    lines = [state.get("reply") or ""]
    results = state.get("results", {})
    outputs: list[str] = []
    if state.get("plan") and status in ("done", "failed", "cancelled"):
        session = _session(ctx, state)
        bound_outputs = state["plan"].get("outputs", {})
        for name in bound_outputs:
            step_id, output = name.split(".", 1)
            artifact_id = results.get(step_id, {}).get("outputs", {}).get(output)
            if artifact_id:
                outputs.append(artifact_id)
                lines.append(f"- {artifact_id}: {session.path(session.get(artifact_id))}")
        for sid, r in results.items():
            if r["status"] in ("failed", "skipped"):
                lines.append(f"- step {sid} {r['status']}: {r['error']}")
        lines.extend(f"- {note}" for note in state.get("checks", []))
    elif status == "declined":
        lines.append("Plan not run (not approved).")
    turn = {
        "turn": state.get("turn", 0),
        "request": state.get("request", ""),
        "plan": state.get("plan"),
        "results": results,
        "outputs": outputs,
        "status": status,
        "planning": state.get("planning", {}),
    }
    return {
        "messages": [AIMessage("\n".join(line for line in lines if line))],
        "shown": [*state.get("shown", []), *outputs],
        "turns": [*state.get("turns", []), turn],
    }


# -- routers ----------------------------------------------------------------------------------
def after_intake(state: AgentState) -> Literal["plan", "respond"]:
    return "respond" if state.get("status") == "rejected" else "plan"


def after_plan(state: AgentState, runtime: GraphRuntime[AgentContext]) -> Literal["approve", "dispatch", "respond"]:
    if not state.get("plan"):
        return "respond"
    return "approve" if context(runtime).approve else "dispatch"


def after_approve(state: AgentState) -> Literal["dispatch", "respond"]:
    return "dispatch" if state.get("status") == "approved" else "respond"


def next_steps(state: AgentState) -> list[Send] | Literal["verify"]:
    """Fan out every step whose dependencies are done; when none is left, verify."""
    results = state.get("results", {})
    deps = _deps(state)
    ready, _ = schedule(deps, _statuses(state))
    sends = [Send("run_step", StepTask(session_id=state["session_id"], plan=state["plan"], step=sid, done={d: results[d] for d in deps[sid]}))
             for sid in ready]
    return sends or "verify"


def after_verify(state: AgentState) -> Literal["plan", "respond"]:
    return "plan" if state.get("status") == "replanning" else "respond"
