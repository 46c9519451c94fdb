"""A conversation: one session's agent graph with its checkpointer (SQLite, or PostgreSQL when set).

The thread id is the session id, so the artifacts folder and the checkpoint history belong
together. Sessions survive the process: a turn interrupted mid-run resumes from its last
checkpoint (finished steps are in the state and in the step cache), and ``undo`` makes the end
of an earlier turn the head again. Artifacts from undone turns stay on disk but leave the
catalogue the planner sees.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import yaml
from langchain_core.messages import HumanMessage, RemoveMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from agent.graph import compile_graph
from agent.nodes import AgentContext
from agent.runtime import Runtime
from graphs.plan import ArtifactRef, parse_ref
from tools.artifacts import ARTIFACT_ID, Kind, Session
from tools.errors import ConfigError, InputError, UserError


def checkpointer(runtime: Runtime) -> BaseCheckpointSaver:
    """Where conversations live: PostgreSQL when ``postgres_dsn`` is set (service replicas share
    it), else SQLite in the workspace (the embedded default). Both hold the same checkpoints."""
    if runtime.settings.postgres_dsn:
        return postgres_checkpointer(runtime.settings.postgres_dsn)
    runtime.workspace.ensure()
    conn = sqlite3.connect(runtime.workspace.root / "checkpoints.sqlite", check_same_thread=False)
    return SqliteSaver(conn)


_POSTGRES_READY: set[str] = set()


def postgres_checkpointer(dsn: str) -> BaseCheckpointSaver:
    """LangGraph's Postgres checkpointer on one connection (it serialises its own use of it); the
    tables are created or migrated once per process and DSN."""
    try:
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
    except ImportError:
        raise ConfigError("postgres_dsn is set, but PostgreSQL support is not installed: pip install 'llmga-agent[scale]'") from None
    try:
        conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=0, row_factory=dict_row)
    except psycopg.OperationalError as exc:  # the DSN may hold a password: name the server's answer, not the DSN
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot connect to PostgreSQL (LLMGA_POSTGRES_DSN): {reason}") from None
    saver = PostgresSaver(conn)
    if dsn not in _POSTGRES_READY:
        saver.setup()
        _POSTGRES_READY.add(dsn)
    return saver


class Conversation:
    def __init__(self, context: AgentContext, session: Session, saver: BaseCheckpointSaver | None = None):
        self.context = context
        self.session = session
        self.saver = saver or checkpointer(context.llmga)
        self.graph = compile_graph(self.saver)
        self.config = {"configurable": {"thread_id": session.id}}

    @classmethod
    def open(cls, context: AgentContext, session_id: str | None = None, *, create: bool = True) -> Conversation:
        runtime = context.llmga
        session = runtime.session(session_id, create=create, prefix="chat")
        return cls(context, session)

    # -- state -------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return dict(self.graph.get_state(self.config).values)

    def pending(self) -> tuple[str, ...]:
        """Nodes still to run: non-empty after a crash or while waiting for approval."""
        return tuple(self.graph.get_state(self.config).next)

    def interrupted(self) -> dict[str, Any] | None:
        snapshot = self.graph.get_state(self.config)
        for task in snapshot.tasks:
            if task.interrupts:
                return task.interrupts[0].value
        return None

    # -- turns -------------------------------------------------------------------------------
    def attach(self, path: Path, kind: Kind) -> str:
        return self.session.import_file(Path(path), kind).id

    def send(self, text: str, attachments: list[str] | None = None) -> dict[str, Any]:
        if self.pending():
            raise UserError(f"session {self.session.id} has an unfinished turn: resume it first (`llmga sessions resume {self.session.id}`)")
        update = {"messages": [HumanMessage(text)], "session_id": self.session.id, "attachments": attachments or []}
        return self.graph.invoke(update, self.config, context=self.context)

    def resume(self, answer: Any = None) -> dict[str, Any]:
        """Continue an interrupted turn; ``answer`` replies to an approval question."""
        if not self.pending():
            raise UserError(f"session {self.session.id} has nothing to resume")
        command = Command(resume=answer) if self.interrupted() is not None else None
        return self.graph.invoke(command, self.config, context=self.context)

    def undo(self, turns: int = 1) -> int:
        """Make the end of an earlier turn the head; returns the turn number now current."""
        current = self.state().get("turn", 0)
        target = current - turns
        if turns < 1 or target < 0:
            raise UserError(f"cannot undo {turns} turn(s): session {self.session.id} has {current}")
        for snapshot in self.graph.get_state_history(self.config):
            values = snapshot.values
            if values.get("turn", 0) == target and not snapshot.next:
                self.graph.update_state(snapshot.config, values={}, as_node="respond")
                return target
            if target == 0 and snapshot.metadata.get("step") == -1 and not values.get("turn"):
                # the first turn's input checkpoint already holds its message: clear it, so turn 0 is empty
                cleared = {"messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES)], "results": None, "turns": [], "shown": []}
                self.graph.update_state(snapshot.config, values=cleared, as_node="respond")
                return 0
        raise UserError(f"no checkpoint found for the end of turn {target}")

    # -- export ------------------------------------------------------------------------------
    def export_workflow(self) -> dict[str, Any]:
        """The session's successful steps as a workflow that replays it exactly (seeds pinned)."""
        turns = self.state().get("turns", [])
        producer: dict[str, str] = {}
        inputs: dict[str, dict[str, Any]] = {}
        steps: list[dict[str, Any]] = []
        outputs: dict[str, str] = {}

        def translate(value: Any) -> Any:
            try:
                ref = parse_ref(value)
            except ValueError:
                return value
            if isinstance(ref, ArtifactRef):
                if ref.id in producer:
                    return producer[ref.id]
                artifact = self.session.get(ref.id)
                name = ref.id.replace("-", "_")
                inputs[name] = {"type": artifact.kind.value, "default": str(self.session.path(artifact))}
                return f"${{{name}}}"
            if ref is not None:
                return f"${{{prefix}{ref.step}{'.' + ref.output if ref.output else ''}}}"
            return value

        for turn in turns:
            if not turn.get("plan"):
                continue
            prefix = f"t{turn['turn']}_"
            for step in turn["plan"]["steps"]:
                result = turn["results"].get(step["id"], {})
                if result.get("status") not in ("ran", "cached"):
                    continue
                args = {k: translate(v) for k, v in step["args"].items()}
                first = next(iter(result["outputs"].values()))
                seed = self.session.get(first).seed
                if seed is not None:
                    args["seed"] = seed
                steps.append({"id": f"{prefix}{step['id']}", "tool": step["tool"], "args": args})
                for output, artifact_id in result["outputs"].items():
                    producer[artifact_id] = f"${{{prefix}{step['id']}.{output}}}"
            for artifact_id in turn.get("outputs", []):
                if artifact_id in producer and ARTIFACT_ID.match(artifact_id):
                    outputs[artifact_id.replace("-", "_")] = producer[artifact_id]
        if not steps:
            raise InputError(f"session {self.session.id} has no finished steps to export")
        return {"version": 1, "name": f"replay of {self.session.id}", "inputs": inputs, "steps": steps, "outputs": outputs}

    def export_yaml(self, dest: Path) -> Path:
        dest.write_text(yaml.safe_dump(self.export_workflow(), sort_keys=False))
        return dest


def sessions_with_turns(runtime: Runtime, saver: BaseCheckpointSaver) -> list[tuple[str, int]]:
    """(session id, turns) for every session with a conversation, oldest first."""
    found = []
    for session_id in runtime.workspace.sessions():
        config = {"configurable": {"thread_id": session_id}}
        checkpoint = saver.get_tuple(config)
        if checkpoint is not None:
            turn = checkpoint.checkpoint.get("channel_values", {}).get("turn", 0)
            found.append((session_id, turn))
    return found

