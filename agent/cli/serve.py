"""`llmga serve`: the HTTP API and the web UI in one process."""

from __future__ import annotations

import logging

import click

from agent.runtime import Runtime

log = logging.getLogger(__name__)


@click.command()
@click.option("--host", help="Address to listen on (default 127.0.0.1; beyond loopback only with API tokens).")
@click.option("--port", type=int, help="Port (default 8765; 0 picks a free one).")
@click.option("--workers", type=int, help="Jobs that run at once (default 2).")
@click.option("--queue-size", type=int, help="Jobs that may wait before new ones are refused (default 64).")
@click.option("--planner", help="Planner backend: embedded (default), openai, ollama, llmga, fake.")
@click.option("--approve/--no-approve", default=None, help="Turns wait for plan approval unless the request says otherwise.")
@click.option("--ui/--no-ui", default=None, help="Mount the web UI at /ui (default: yes).")
@click.pass_obj
def serve(rt: Runtime, host, port, workers, queue_size, planner, approve, ui) -> None:
    """Serve the HTTP API and the web UI (one runtime and model pool for every job).

    Tokens come from the config file: `serve: {tokens: {alice: <token>}}`; the OpenAPI page is at /docs.
    """
    import uvicorn

    from agent.server.app import create_app
    from agent.server.config import ServerSettings
    from agent.server.service import Service

    settings = ServerSettings.load(host=host, port=port, workers=workers, queue_size=queue_size, planner=planner, approve=approve, ui=ui)
    settings.check_exposure()
    service = Service(rt, settings)
    app = create_app(service)
    users = ", ".join(settings.tokens) if settings.tokens else "one local user, no tokens"
    click.echo(f"llmga serve: http://{settings.host}:{settings.port}/ (API /v1, docs /docs{', UI /ui' if settings.ui else ''}); "
               f"workspace {rt.workspace.root}; profile {rt.settings.profile}; {users}")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
