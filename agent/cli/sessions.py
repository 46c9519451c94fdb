"""`llmga sessions ...`: list, show, resume, undo and export conversations."""

from __future__ import annotations

import json
from pathlib import Path

import click

from agent.cli.agent import _context, _finish_turn
from agent.conversation import Conversation, checkpointer, sessions_with_turns
from agent.display import Display, terminal_safe
from agent.nodes import AgentContext
from agent.runtime import Runtime


@click.group()
def sessions() -> None:
    """Conversations and workflow runs in the workspace."""


@sessions.command("list")
@click.pass_obj
def sessions_list(rt: Runtime) -> None:
    """Every session, oldest first, with its number of turns and artifacts."""
    turns = dict(sessions_with_turns(rt, checkpointer(rt)))
    for session_id in rt.workspace.sessions():
        count = len(rt.workspace.session(session_id).artifacts())
        kind = f"{turns[session_id]} turns" if session_id in turns else "workflow"
        click.echo(f"{session_id:<40} {kind:<10} {count} artifacts")


def _open(rt: Runtime, session_id: str, planner: str | None = None) -> tuple[Conversation, Display]:
    display = Display()
    ctx = _context(rt, planner, None, False, display, None)
    return Conversation.open(ctx, session_id, create=False), display


@sessions.command("show")
@click.argument("session_id")
@click.option("--json", "as_json", is_flag=True, help="Print the turns as JSON.")
@click.pass_obj
def sessions_show(rt: Runtime, session_id: str, as_json: bool) -> None:
    """The turns of a conversation: request, plan, status, results."""
    conversation = Conversation(AgentContext(runtime=rt), rt.workspace.session(session_id))
    state = conversation.state()
    if as_json:
        click.echo(json.dumps(state.get("turns", []), indent=2))
        return
    for turn in state.get("turns", []):
        steps = ", ".join(f"{s['id']}:{s['tool']}" for s in (turn.get("plan") or {}).get("steps", []))
        click.echo(terminal_safe(f"turn {turn['turn']} [{turn['status']}] {turn['request']}"))
        click.echo(f"  plan: {steps or '-'}")
        click.echo(f"  results: {', '.join(turn.get('outputs', [])) or '-'}")
    if conversation.pending():
        click.echo(f"unfinished: next {', '.join(conversation.pending())} (llmga sessions resume {session_id})")


@sessions.command("resume")
@click.argument("session_id")
@click.option("--planner", help="Planner backend for any replanning.")
@click.pass_obj
def sessions_resume(rt: Runtime, session_id: str, planner: str | None) -> None:
    """Finish a turn that was interrupted (crash, kill, or waiting for approval)."""
    conversation, display = _open(rt, session_id, planner)
    answer = click.confirm("Run this plan?", default=True) if conversation.interrupted() is not None else None
    conversation.resume(answer)
    _finish_turn(conversation, display, interactive=True)


@sessions.command("undo")
@click.argument("session_id")
@click.option("--turns", default=1, show_default=True, help="How many turns to take back.")
@click.pass_obj
def sessions_undo(rt: Runtime, session_id: str, turns: int) -> None:
    """Rewind a conversation to the end of an earlier turn."""
    conversation = Conversation(AgentContext(runtime=rt), rt.workspace.session(session_id))
    click.echo(f"session {session_id} is back at the end of turn {conversation.undo(turns)}")


@sessions.command("export")
@click.argument("session_id")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Workflow YAML to write.")
@click.pass_obj
def sessions_export(rt: Runtime, session_id: str, out: Path) -> None:
    """Write a conversation as a workflow that replays it exactly (seeds recorded)."""
    conversation = Conversation(AgentContext(runtime=rt), rt.workspace.session(session_id))
    click.echo(conversation.export_yaml(out))
