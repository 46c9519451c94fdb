"""`llmga run` and `llmga chat`: talk to the agent."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from agent.conversation import Conversation
from agent.display import Display, terminal_safe
from agent.nodes import AgentContext
from agent.runtime import Runtime
from tools.artifacts import Kind, load_import
from tools.errors import LlmgaError, UserError

PLANNER_HELP = ("Planner backend: a plugin name (embedded (default), openai, ollama, llmga, fake, or an installed one) "
                "or module:attr naming a LangChain chat model or a zero-argument factory of one.")


def _context(
    rt: Runtime, planner: str | None, profile: str | None, approve: bool, display: Display, seed: int | None, check: bool = False
) -> AgentContext:
    from agent.checks import ImageCheck
    from agent.llm import get_backend

    if profile:
        rt = Runtime(rt.settings.model_copy(update={"profile": profile}))
    backend = get_backend(planner)
    return AgentContext(
        checker=ImageCheck(rt) if check else None,
        runtime=rt,
        backend=backend,
        approve=approve,
        on_event=display.event,
        on_plan=lambda plan, reply: display.plan(plan, f"Plan ({reply})" if reply else "Plan"),
        seed=seed,
    )


def _finish_turn(chat: Conversation, display: Display, interactive: bool) -> dict:
    """Answer an approval question if the turn stopped for one, then show the outcome."""
    while chat.pending() == ("approve",):
        answer = click.confirm("Run this plan?", default=True) if interactive else False
        chat.resume(answer)
    state = chat.state()
    display.turn(state, chat.session)
    return state


def _attach(chat: Conversation, images: tuple[Path, ...], masks: tuple[Path, ...]) -> list[str]:
    return [chat.attach(p, Kind.IMAGE) for p in images] + [chat.attach(p, Kind.MASK) for p in masks]


@click.command()
@click.argument("request")
@click.option("--image", "images", multiple=True, type=click.Path(path_type=Path), help="Attach an image (repeatable).")
@click.option("--mask", "masks", multiple=True, type=click.Path(path_type=Path), help="Attach a mask (repeatable).")
@click.option("--approve", is_flag=True, help="Show the plan and ask before running it.")
@click.option("--planner", help=PLANNER_HELP)
@click.option("--profile", help="Model profile: tiny (default), sd15, sdxl, llmga-sd15.")
@click.option("--session", "session_id", help="Continue this session (default: a new one).")
@click.option("--seed", type=int, help="Seed for the planner's sampling.")
@click.option("--check", is_flag=True, help="Check each image against the request (needs an image-reading model, LLMGA_VISION).")
@click.pass_obj
def run(rt: Runtime, request: str, images, masks, approve: bool, planner, profile, session_id, seed, check: bool) -> None:
    """One request: print the plan, progress per step, and the artifacts made."""
    for path, kind in [*((p, Kind.IMAGE) for p in images), *((p, Kind.MASK) for p in masks)]:
        load_import(path, kind, rt.workspace.limits)  # refuse a bad attachment before any session exists
    display = Display()
    ctx = _context(rt, planner, profile, approve, display, seed, check)
    display.banner(ctx.llmga)
    chat = Conversation.open(ctx, session_id)
    attachments = _attach(chat, images, masks)
    chat.send(request, attachments)
    state = _finish_turn(chat, display, interactive=approve and sys.stdin.isatty())
    if state.get("status") in ("failed", "unplannable"):
        sys.exit(1)


@click.command()
@click.option("--session", "session_id", help="Continue this session (default: a new one).")
@click.option("--approve", is_flag=True, help="Ask before running each plan.")
@click.option("--planner", help=PLANNER_HELP)
@click.option("--profile", help="Model profile: tiny (default), sd15, sdxl, llmga-sd15.")
@click.option("--check", is_flag=True, help="Check each image against the request (needs an image-reading model, LLMGA_VISION).")
@click.pass_obj
def chat(rt: Runtime, session_id, approve: bool, planner, profile, check: bool) -> None:
    """Talk to the agent turn by turn. /image PATH and /mask PATH attach files, /undo takes the
    last turn back, /export FILE writes the session as a workflow, /quit leaves."""
    display = Display()
    ctx = _context(rt, planner, profile, approve, display, None, check)
    display.banner(ctx.llmga)
    conversation = Conversation.open(ctx, session_id)
    click.echo(f"session {conversation.session.id} (resume later with --session {conversation.session.id})")
    if conversation.pending():
        click.echo("resuming the unfinished turn...")
        conversation.resume()
        _finish_turn(conversation, display, interactive=True)
    attachments: list[str] = []
    while True:
        try:
            line = click.prompt("you", prompt_suffix="> ", default="", show_default=False).strip()
        except (EOFError, click.Abort):
            break
        if not line:
            continue
        try:
            command, _, arg = line.partition(" ")
            if command == "/quit":
                break
            if command in ("/image", "/mask"):
                attachments.append(conversation.attach(Path(arg.strip()), Kind.IMAGE if command == "/image" else Kind.MASK))
                click.echo(f"attached {attachments[-1]}")
            elif command == "/undo":
                click.echo(f"back at the end of turn {conversation.undo()}")
            elif command == "/export":
                click.echo(f"wrote {conversation.export_yaml(Path(arg.strip() or 'session.yaml'))}")
            elif command.startswith("/"):
                raise UserError(f"unknown command {command}; use /image, /mask, /undo, /export, /quit")
            else:
                conversation.send(line, attachments)
                attachments = []
                _finish_turn(conversation, display, interactive=True)
        except LlmgaError as exc:  # one bad turn never ends the conversation
            click.echo(f"error: {terminal_safe(str(exc))}", err=True)
