"""The ``llmga`` command: parse flags, call ``Runtime``, print. No logic lives here.

Each command group is a module in this package, listed in ``COMMANDS`` with its one-line help;
it is imported only when that command runs, so ``llmga --help`` loads no model library. A new
group is one module plus one ``COMMANDS`` line.

This module is the CLI's one error boundary (``Cli.invoke``): an ``LlmgaError`` is one line and its
exit code (2 for a user mistake); anything else is one line, exit 1, and its traceback goes to
``<workspace>/logs/``. Library code only logs (``logging.getLogger(__name__)``); ``--verbose`` and
``--quiet`` decide what reaches the terminal.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import click

log = logging.getLogger(__name__)

# name -> (module, attribute, short help). The help is here so `llmga --help` imports nothing;
# tests/test_cli.py checks that it matches each command's own docstring.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("agent.cli.agent", "run", "One request: print the plan, progress per step, and the artifacts made."),
    "chat": ("agent.cli.agent", "chat", "Talk to the agent turn by turn."),
    "workflow": ("agent.cli.workflow", "workflow", "Validate and run YAML workflow files."),
    "tools": ("agent.cli.tools", "tools", "Inspect the installed tools and the tool graph."),
    "artifacts": ("agent.cli.artifacts", "artifacts", "List a session's artifacts with their lineage."),
    "sessions": ("agent.cli.sessions", "sessions", "Conversations and workflow runs in the workspace."),
    "models": ("agent.cli.models", "models", "Model profiles: list them, check their weights, pull them."),
    "bench": ("agent.cli.bench", "bench", "Planner benchmarks on public data, beside the published numbers."),
    "serve": ("agent.cli.serve", "serve", "Serve the HTTP API and the web UI (one runtime and model pool for every job)."),
}

# Libraries whose own deprecation and future warnings are theirs to fix, not the user's to read.
NOISY_MODULES = r"(diffusers|transformers|xformers|torch|torchvision|huggingface_hub|accelerate|audiocraft|timm|langchain\w*)(\.|$)"


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (click's test runner swaps it per call)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_HANDLER = _Stderr()


def configure_output(verbosity: int) -> None:
    """What a person sees: warnings and errors by default, ``-v`` info, ``-vv`` debug, ``-q`` errors only."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    _HANDLER.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if verbosity > 0 else "%(levelname)s: %(message)s"))
    root = logging.getLogger()
    if _HANDLER not in root.handlers:
        root.addHandler(_HANDLER)
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings reach the terminal through logging, at WARNING
    if verbosity < 2:
        # Model libraries print loading bars and advice on every load; llmga shows its own progress.
        for name in ("TRANSFORMERS_VERBOSITY", "DIFFUSERS_VERBOSITY"):
            os.environ.setdefault(name, "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
        # audiocraft's xformers has no kernels for this torch and says so on import; it is unused.
        logging.getLogger("xformers").setLevel(logging.ERROR)
        for category in (DeprecationWarning, FutureWarning, UserWarning):
            warnings.filterwarnings("ignore", category=category, module=NOISY_MODULES)


class Cli(click.Group):
    """Commands imported on first use, and the one place an error becomes a line and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command), f"{module}:{attr} is not a click command"
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, _, text) in COMMANDS.items()])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise  # usage errors, --help, Ctrl-D at a prompt: click reports them itself
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the one outer boundary: nothing unexpected becomes a traceback on screen
            from agent.display import terminal_safe
            from tools.errors import LlmgaError

            if isinstance(exc, LlmgaError):  # messages can quote model or file text: escaped like all output
                click.echo(f"error: {terminal_safe(str(exc))}", err=True)
                sys.exit(getattr(exc, "exit_code", 1))
            where = write_traceback(ctx, exc)
            first = terminal_safe(str(exc).strip().splitlines()[0]) if str(exc).strip() else ""
            click.echo(f"error: {type(exc).__name__}{': ' + first if first else ''} (traceback in {where})", err=True)
            sys.exit(1)


def write_traceback(ctx: click.Context, exc: BaseException) -> Path:
    """The traceback of an unexpected error, in ``<workspace>/logs/`` (a temp folder without one)."""
    workspace = getattr(getattr(ctx.obj, "settings", None), "workspace", None)  # ctx.obj: the Runtime, once made
    if workspace is None:
        import tempfile

        workspace = Path(tempfile.gettempdir()) / "llmga"
    folder = Path(workspace) / "logs"
    path = folder / f"error-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(f"llmga {' '.join(sys.argv[1:])}\n\n" + "".join(traceback.format_exception(exc)))
    except OSError:
        log.debug("could not write %s", path, exc_info=True)
        return Path("<stderr>")
    return path


@click.group(cls=Cli)
@click.option("--workspace", type=click.Path(path_type=Path), help="Folder for sessions and cache (default: $LLMGA_WORKSPACE, the config file, or the user data dir).")
@click.option("-v", "--verbose", count=True, help="Say more: -v what llmga is doing, -vv debug output and every library warning.")
@click.option("-q", "--quiet", is_flag=True, help="Errors only.")
@click.version_option(None, "--version", package_name="llmga-agent", prog_name="llmga", message="%(prog)s %(version)s")  # looked up only when asked
@click.pass_context
def main(ctx: click.Context, workspace: Path | None, verbose: int, quiet: bool) -> None:
    """llmga: plan, run and remember multi-step image, video and sound generation."""
    configure_output(-1 if quiet else verbose)
    from agent.config import load_settings
    from agent.runtime import Runtime

    ctx.obj = Runtime(load_settings(workspace=workspace))
