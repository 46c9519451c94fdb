"""`llmga artifacts`: what a session holds."""

from __future__ import annotations

import click

from agent.display import Display
from agent.runtime import Runtime


@click.command()
@click.option("--session", "session_id", help="Session to list (default: the most recent).")
@click.pass_obj
def artifacts(rt: Runtime, session_id: str | None) -> None:
    """List a session's artifacts with their lineage."""
    session = rt.workspace.session(session_id) if session_id else rt.latest_session()
    Display().artifacts(session, session.artifacts())
