"""The web UI: a Gradio app mounted at ``/ui`` on the service's own FastAPI app.

It calls the same ``Service`` the HTTP API calls (no second code path): a chat with the agent, an
image editor whose brush paints the mask, the plan with approve/decline, live per-step progress with
the diffusion preview, results in a gallery (audio and video in players) with each one's recipe a
click away, the sessions list, undo, export as a workflow file, and running a workflow file.

Handlers run in Gradio's worker threads; a long one is a generator that follows the job's events, so
the page updates as each step reports. One error boundary: an ``LlmgaError`` becomes a Gradio error
toast with its one-line message; anything else is logged and shown as one line, the session intact.
"""

from __future__ import annotations

import functools
import io
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import yaml
from fastapi import FastAPI
from PIL import Image

from agent.server.config import LOCAL_USER
from agent.server.jobs import Job, JobState
from agent.server.service import Service
from tools.artifacts import Kind
from tools.errors import LlmgaError

log = logging.getLogger(__name__)

PATH = "/ui"
FOLLOW_SECONDS = 3600.0


def _user(request: gr.Request | None) -> str:
    return (request.username if request is not None and request.username else None) or LOCAL_USER


def boundary(handler: Callable[..., Any]) -> Callable[..., Any]:
    """The UI's error boundary: one line for the person, the traceback in the log."""

    def fail(exc: Exception) -> gr.Error:
        if isinstance(exc, LlmgaError):
            return gr.Error(str(exc))
        log.exception("web UI handler %s failed", handler.__name__)
        return gr.Error(f"internal error ({type(exc).__name__}); the session is intact and the server log has the details")

    if getattr(handler, "__wrapped_generator__", False):

        @functools.wraps(handler)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from handler(*args, **kwargs)
            except gr.Error:
                raise
            except Exception as exc:  # noqa: BLE001 - the face's boundary
                raise fail(exc) from None

        return generator

    @functools.wraps(handler)
    def plain(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001 - the face's boundary
            raise fail(exc) from None

    return plain


def streaming(handler: Callable[..., Any]) -> Callable[..., Any]:
    handler.__wrapped_generator__ = True  # type: ignore[attr-defined]
    return boundary(handler)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def mask_from_layers(editor: dict[str, Any] | None) -> Image.Image | None:
    """White where the brush painted on any layer (the alpha of the strokes), else None."""
    layers = [layer for layer in (editor or {}).get("layers") or [] if layer is not None]
    painted = None
    for layer in layers:
        alpha = np.asarray(layer.convert("RGBA"))[..., 3] > 0
        painted = alpha if painted is None else painted | alpha
    if painted is None or not painted.any():
        return None
    return Image.fromarray((painted * 255).astype(np.uint8), "L")


class WebUI:
    def __init__(self, svc: Service):
        self.svc = svc
        self._files = Path(tempfile.mkdtemp(prefix="llmga-ui-"))

    # -- views -------------------------------------------------------------------------------
    def session_choices(self, user: str) -> list[str]:
        return [s["id"] for s in self.svc.sessions(user)]

    def history(self, user: str, session_id: str | None) -> list[dict[str, str]]:
        if not session_id:
            return []
        session = self.svc.session(user, session_id)
        messages = self.svc.conversation(session).state().get("messages", [])
        return [{"role": "user" if m.type == "human" else "assistant", "content": _no_paths(str(m.content), session.root)}
                for m in messages if m.type in ("human", "ai")]

    def results(self, user: str, session_id: str | None) -> tuple[list[tuple[Image.Image, str]], str | None, str | None]:
        """Gallery items (newest first) and the newest audio and video file of the session."""
        if not session_id:
            return [], None, None
        session = self.svc.session(user, session_id)
        gallery, audio, video = [], None, None
        for artifact in reversed(session.artifacts()):
            if artifact.kind in (Kind.IMAGE, Kind.MASK):
                gallery.append((Image.open(session.path(artifact)), artifact.id))
            elif artifact.kind is Kind.AUDIO and audio is None:
                audio = self._copy(session.path(artifact))
            elif artifact.kind is Kind.VIDEO and video is None:
                video = self._copy(session.path(artifact))
        return gallery, audio, video

    def _copy(self, path: Path) -> str:
        """Hand Gradio a copy in its own temp area, never a path into the workspace."""
        dest = Path(tempfile.mkdtemp(dir=self._files)) / path.name
        shutil.copyfile(path, dest)
        return str(dest)

    @staticmethod
    def plan_markdown(job: Job) -> str:
        if not job.plan:
            return ""
        lines = [f"**Plan** — {job.plan.get('reply') or ''}"]
        for step in job.plan["steps"]:
            after = f" (after {', '.join(step['deps'])})" if step["deps"] else ""
            lines.append(f"1. `{step['id']}`: **{step['tool']}**{after}")
        if job.state is JobState.AWAITING_APPROVAL:
            lines.append("\n*Waiting for your approval.*")
        return "\n".join(lines)

    @staticmethod
    def progress_markdown(job: Job) -> str:
        lines = [f"**Job {job.id}: {job.state.value}**" + (f" — {job.error}" if job.error else "")]
        for sid, step in job.steps.items():
            filled = int(step.percent // 10)
            bar = "█" * filled + "░" * (10 - filled)
            made = f" → {', '.join(step.outputs.values())}" if step.outputs else ""
            err = f" — {step.error}" if step.error else ""
            lines.append(f"- `{sid}` {step.tool} `{bar}` {step.percent:.0f}% {step.status}{made}{err}")
        return "\n".join(lines)

    # -- following a job ----------------------------------------------------------------------
    def follow(self, user: str, job: Job, chat: list[dict[str, str]]) -> Iterator[tuple[Any, ...]]:
        """Yield page updates for every event until the job waits for approval or finishes."""
        preview: Any = gr.update()
        for event in self.svc.wait(job, timeout=FOLLOW_SECONDS):
            if event.kind == "step_progress" and "preview" in event.data:
                preview = _decode_preview(event.data["preview"])
            waiting = job.state is JobState.AWAITING_APPROVAL
            finished = job.state.finished
            if event.kind in ("plan", "state", "step_done", "step_progress", "job_finished"):
                yield self._page(user, job, chat, preview, waiting=waiting, finished=finished)
            if waiting or event.kind == "job_finished":
                break
        if job.state.finished:
            chat = self.history(user, job.session_id) or chat
            gallery, audio, video = self.results(user, job.session_id)
            yield (chat, self.plan_markdown(job), self.progress_markdown(job), preview, gallery,
                   gr.update(value=audio, visible=audio is not None), gr.update(value=video, visible=video is not None),
                   gr.update(visible=False), gr.update(visible=False), gr.update(visible=False), job.id)

    def _page(self, user: str, job: Job, chat: list[dict[str, str]], preview: Any, *, waiting: bool, finished: bool) -> tuple[Any, ...]:
        return (chat, self.plan_markdown(job), self.progress_markdown(job), preview, gr.update(), gr.update(), gr.update(),
                gr.update(visible=waiting), gr.update(visible=waiting), gr.update(visible=not waiting and not finished), job.id)

    # -- build --------------------------------------------------------------------------------
    def build(self) -> gr.Blocks:
        svc = self.svc
        with gr.Blocks(title="llmga") as demo:
            gr.Markdown("## llmga — plan, run and remember image, video and sound generation")
            job_id = gr.State(None)
            with gr.Row():
                with gr.Column(scale=1, min_width=240):
                    session = gr.Dropdown(label="Session", choices=[], value=None, allow_custom_value=False, elem_id="session")
                    new_session = gr.Button("New session", elem_id="new-session")
                    undo = gr.Button("Undo last turn", elem_id="undo")
                    export = gr.Button("Export as workflow", elem_id="export")
                    exported = gr.File(label="Workflow file", interactive=False, elem_id="exported")
                    workflow_file = gr.File(label="Run a workflow file", file_types=[".yaml", ".yml"], elem_id="workflow-file")
                    run_workflow = gr.Button("Run workflow", elem_id="run-workflow")
                with gr.Column(scale=3):
                    chat = gr.Chatbot(label="Conversation", elem_id="chat", height=300)
                    with gr.Row():
                        editor = gr.ImageEditor(
                            label="Attach an image — paint the area to change with the brush (it becomes the mask)",
                            type="pil", sources=("upload", "clipboard"), elem_id="editor", height=380,
                            brush=gr.Brush(colors=["#ff3366"], color_mode="fixed", default_size=24), layers=False,
                        )
                        with gr.Column():
                            text = gr.Textbox(label="Request", placeholder="make a video of a car on a road, then turn the car into a truck",
                                              lines=3, elem_id="request")
                            ask_first = gr.Checkbox(value=True, label="Show me the plan before it runs", elem_id="ask-first")
                            send = gr.Button("Send", variant="primary", elem_id="send")
                    plan = gr.Markdown(elem_id="plan")
                    with gr.Row():
                        approve = gr.Button("Approve plan", variant="primary", visible=False, elem_id="approve")
                        decline = gr.Button("Decline", visible=False, elem_id="decline")
                        cancel = gr.Button("Cancel job", visible=False, elem_id="cancel")
                    progress = gr.Markdown(elem_id="progress")
                    with gr.Row():
                        preview = gr.Image(label="Live preview", interactive=False, height=160, elem_id="preview")
                        gallery = gr.Gallery(label="Results (click one for its recipe)", columns=4, height=260, elem_id="gallery")
                    with gr.Row():
                        audio = gr.Audio(label="Audio", visible=False, elem_id="audio")
                        video = gr.Video(label="Video", visible=False, elem_id="video")
                    with gr.Row():
                        recipe = gr.JSON(label="Recipe", elem_id="recipe")
                        to_editor = gr.Button("Paint a mask on the selected result", elem_id="to-editor")
                    selected = gr.State(None)

            outputs = [chat, plan, progress, preview, gallery, audio, video, approve, decline, cancel, job_id]

            @boundary
            def load(request: gr.Request):
                user = _user(request)
                choices = self.session_choices(user)
                current = choices[-1] if choices else None
                gallery_items, audio_file, video_file = self.results(user, current)
                return (gr.update(choices=choices, value=current), self.history(user, current), gallery_items,
                        gr.update(value=audio_file, visible=audio_file is not None), gr.update(value=video_file, visible=video_file is not None))

            demo.load(load, None, [session, chat, gallery, audio, video])

            @boundary
            def create(request: gr.Request):
                user = _user(request)
                created = svc.create_session(user).id
                return gr.update(choices=self.session_choices(user), value=created), [], [], "", ""

            new_session.click(create, None, [session, chat, gallery, plan, progress])

            @boundary
            def pick(session_id: str | None, request: gr.Request):
                user = _user(request)
                gallery_items, audio_file, video_file = self.results(user, session_id)
                return (self.history(user, session_id), gallery_items, gr.update(value=audio_file, visible=audio_file is not None),
                        gr.update(value=video_file, visible=video_file is not None))

            session.input(pick, session, [chat, gallery, audio, video])

            @streaming
            def submit(session_id: str | None, request_text: str, picture: dict[str, Any] | None, ask: bool, history: list, request: gr.Request):
                user = _user(request)
                if not (request_text or "").strip():
                    raise gr.Error("Write a request first.")
                if not session_id:
                    session_id = svc.create_session(user).id
                attachments = []
                background = (picture or {}).get("background")
                if background is not None:
                    attachments.append(svc.upload(user, session_id, "attached.png", _png(background.convert("RGB")), "image").id)
                    mask = mask_from_layers(picture)
                    if mask is not None:
                        attachments.append(svc.upload(user, session_id, "painted-mask.png", _png(mask.resize(background.size)), "mask").id)
                job = svc.submit_turn(user, session_id, request_text, attachments, approve=ask)
                note = f" (attached {', '.join(attachments)})" if attachments else ""
                history = [*(history or []), {"role": "user", "content": request_text + note}]
                yield (gr.update(choices=self.session_choices(user), value=session_id), *self._page(user, job, history, None, waiting=False, finished=False))
                for page in self.follow(user, job, history):
                    yield (gr.update(), *page)

            send.click(submit, [session, text, editor, ask_first, chat], [session, *outputs])

            def answer(yes: bool):
                @streaming
                def handler(current: str | None, history: list, request: gr.Request):
                    user = _user(request)
                    if not current:
                        raise gr.Error("There is no job waiting for approval.")
                    job = svc.approve(user, current, yes)
                    yield from self.follow(user, job, history)

                return handler

            approve.click(answer(True), [job_id, chat], outputs)
            decline.click(answer(False), [job_id, chat], outputs)

            @boundary
            def stop(current: str | None, request: gr.Request):
                if current:
                    svc.cancel(_user(request), current)
                return gr.update(visible=False)

            cancel.click(stop, job_id, cancel)

            @boundary
            def take_back(session_id: str | None, request: gr.Request):
                user = _user(request)
                if not session_id:
                    raise gr.Error("Pick a session first.")
                turn = svc.undo(user, session_id)
                gr.Info(f"Back at the end of turn {turn}.")
                gallery_items, _, _ = self.results(user, session_id)
                return self.history(user, session_id), gallery_items

            undo.click(take_back, session, [chat, gallery])

            @boundary
            def write_export(session_id: str | None, request: gr.Request):
                if not session_id:
                    raise gr.Error("Pick a session first.")
                workflow = svc.export(_user(request), session_id)
                dest = Path(tempfile.mkdtemp(dir=self._files)) / f"{session_id}.yaml"
                dest.write_text(yaml.safe_dump(workflow, sort_keys=False))
                return str(dest)

            export.click(write_export, session, exported)

            @streaming
            def run_file(session_id: str | None, file: str | None, history: list, request: gr.Request):
                user = _user(request)
                if not file:
                    raise gr.Error("Choose a workflow file first.")
                if not session_id:
                    session_id = svc.create_session(user, prefix="wf").id
                job = svc.submit_workflow(user, session_id, Path(file).read_text())
                yield (gr.update(choices=self.session_choices(user), value=session_id), *self._page(user, job, history or [], None, waiting=False, finished=False))
                for page in self.follow(user, job, history or []):
                    yield (gr.update(), *page)

            run_workflow.click(run_file, [session, workflow_file, chat], [session, *outputs])

            @boundary
            def show_recipe(session_id: str | None, evt: gr.SelectData, request: gr.Request):
                caption = (evt.value or {}).get("caption") if isinstance(evt.value, dict) else None
                if not session_id or not caption:
                    return None, None
                return svc.recipe(_user(request), session_id, caption), caption

            gallery.select(show_recipe, session, [recipe, selected])

            @boundary
            def edit_selected(session_id: str | None, artifact_id: str | None, request: gr.Request):
                if not session_id or not artifact_id:
                    raise gr.Error("Click a result in the gallery first.")
                stored, artifact = svc.artifact(_user(request), session_id, artifact_id)
                picture = Image.open(stored.path(artifact)).convert("RGB")
                return {"background": picture, "layers": [], "composite": picture}

            to_editor.click(edit_selected, [session, selected], editor)
        return demo


def _no_paths(text: str, root: Path) -> str:
    """The agent's reply names each artifact's file for the terminal; a browser shows ids, not server paths."""
    return text.replace(f": {root}/", ": ").replace(f"{root}/", "")


def _decode_preview(url: str) -> Image.Image:
    import base64

    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def mount_ui(app: FastAPI, svc: Service) -> None:
    """Mount the UI at ``/ui``; with tokens, the login is the user name and that user's token."""
    auth = svc.check_login if svc.settings.tokens else None
    gr.mount_gradio_app(app, WebUI(svc).build(), path=PATH, auth=auth, auth_message="Log in with your user name and API token.",
                        footer_links=[], show_error=True)
