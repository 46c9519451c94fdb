"""The ``llmga`` command: parse flags, call ``Runtime``, print. No logic lives here.

Each command group is a module in this package; a new group is one module plus one
``main.add_command`` line below.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path

import click

from agent.config import Settings
from agent.runtime import Runtime
from tools.errors import LlmgaError, UserError


def quiet_libraries() -> None:
    """Model libraries print loading bars and advice on every load; llmga shows its own progress."""
    for name in ("TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY"):
        os.environ.setdefault(name, "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    logging.getLogger("xformers").setLevel(logging.ERROR)  # audiocraft's xformers has no kernels for this torch; unused
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)


class Cli(click.Group):
    """Turns every llmga error into one line on stderr and an exit code, never a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except LlmgaError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code if isinstance(exc, UserError) else 1)


@click.group(cls=Cli)
@click.option("--workspace", type=click.Path(path_type=Path), help="Folder for sessions and cache (default: $LLMGA_WORKSPACE or the user data dir).")
@click.pass_context
def main(ctx: click.Context, workspace: Path | None) -> None:
    """llmga: plan, run and remember multi-step image, video and sound generation."""
    quiet_libraries()
    settings = Settings(**({"workspace": workspace} if workspace else {}))
    ctx.obj = Runtime(settings)


from agent.cli import (  # noqa: E402  (groups are defined after `main`)
    agent,
    artifacts,
    bench,  # noqa: E402
    models,
    sessions,
    tools,
    workflow,
)

main.add_command(tools.tools)
main.add_command(workflow.workflow)
main.add_command(artifacts.artifacts)
main.add_command(sessions.sessions)
main.add_command(agent.run)
main.add_command(agent.chat)
main.add_command(models.models)
main.add_command(bench.bench)
