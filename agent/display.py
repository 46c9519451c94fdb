"""What the user sees: the plan before it runs, a line per step as it goes, and the results.

Progress goes to stderr so stdout stays the list of results a script can read.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import Any, TextIO

from graphs.executor import Event, RunResult
from graphs.plan import BoundPlan
from tools.artifacts import Artifact, Session

MARK = {"ran": "done", "cached": "cached", "failed": "FAILED", "skipped": "skipped"}
MAX_MESSAGE_CHARS = 20_000
"""Longest text printed at once; the rest stays in the artifact or the log."""
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Text a model or a tool wrote is untrusted: escape sequences could retitle the terminal,
    erase lines or fake output, and a runaway reply could be megabytes. Control characters
    (newline and tab excepted) and bidi overrides become visible ``\\x1b``-style escapes, and
    the text is cut at ``limit`` characters with a note saying how much was left out."""
    cleaned = _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
    if len(cleaned) > limit:
        cleaned = f"{cleaned[:limit]}... ({len(cleaned) - limit:,} more characters not shown)"
    return cleaned


class Display:
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._lock = threading.Lock()
        self._last_progress: dict[str, int] = {}

    def _say(self, text: str, stream: TextIO | None = None) -> None:
        """Every line the user sees passes here, so none carries raw model or tool text."""
        with self._lock:
            print(terminal_safe(text), file=stream or self.err, flush=True)

    def plan(self, plan: BoundPlan, title: str = "Plan") -> None:
        lines = [f"{title} ({len(plan.order)} steps):"]
        for number, step_id in enumerate(plan.order, 1):
            step = plan.steps[step_id]
            args = [f"{k}={v}" for k, v in step.inputs.items()]
            args += [f"{k}={v!r}" for k, v in step.params.items()]
            args += [f"{k}={v}" for k, v in step.text_params.items()]
            after = f"  (after {', '.join(sorted(step.deps))})" if step.deps else ""
            lines.append(f"  {number}. {step_id}: {step.tool.name}({', '.join(args)}){after}")
        self._say("\n".join(lines))

    def event(self, event: Event) -> None:
        if event.kind == "start":
            self._say(f"  > {event.step} [{event.tool}] started")
        elif event.kind == "progress":
            tenth = int(event.fraction * 10)
            if self._last_progress.get(event.step) != tenth:
                self._last_progress[event.step] = tenth
                note = f" {event.note}" if event.note else ""
                self._say(f"  . {event.step} {event.fraction:4.0%}{note}")
        elif event.result is not None:
            r = event.result
            extra = f": {r.error}" if r.error else f" -> {', '.join(r.outputs.values())}"
            self._say(f"  {'x' if r.status == 'failed' else '<'} {event.step} {MARK[r.status]} in {r.seconds:.2f}s{extra}")
            for warning in r.warnings:
                self._say(f"    warning: {warning}")

    def summary(self, result: RunResult, session: Session) -> None:
        counts = ", ".join(f"{result.count(s)} {MARK[s]}" for s in ("ran", "cached", "failed", "skipped") if result.count(s))
        self._say(f"Steps: {counts}")
        ran = [s for s, r in result.steps.items() if r.status == "ran"]
        cached = [s for s, r in result.steps.items() if r.status == "cached"]
        if ran:
            self._say(f"  executed: {', '.join(ran)}")
        if cached:
            self._say(f"  from cache: {', '.join(cached)}")
        for step_id, r in result.steps.items():
            if r.status in ("failed", "skipped"):
                self._say(f"  {step_id}: {r.error}")
        if result.outputs:
            self._say(f"Results (session {session.id}):", self.out)
            for name, artifact_id in result.outputs.items():
                artifact = session.get(artifact_id)
                self._say(f"  {name}: {artifact_id} {session.path(artifact)}", self.out)

    def artifacts(self, session: Session, artifacts: list[Artifact]) -> None:
        self._say(f"Session {session.id}: {len(artifacts)} artifacts in {session.root}", self.out)
        for a in artifacts:
            size = f" {a.meta['width']}x{a.meta['height']}" if "width" in a.meta else ""
            seed = f" seed={a.seed}" if a.seed is not None else ""
            parents = ", ".join(f"{k}={v}" for k, v in a.parents.items())
            lineage = f" <- {parents}" if parents else ""
            self._say(f"  {a.id:<10} {a.kind.value:<6}{size:<10} {a.tool}{seed}{lineage}  {a.file}", self.out)

    def banner(self, runtime: Any) -> None:
        """Say up front when the models are untrained stand-ins."""
        if runtime.settings.profile == "tiny":
            self._say("note: profile 'tiny' uses untrained stand-in models, so images, video and sound are noise; "
                      "use --profile sd15 (or LLMGA_PROFILE) where the weights are (`llmga models pull sd15`).")

    def turn(self, state: dict[str, Any], session: Session) -> None:
        """The agent's answer and the artifacts it made, with paths."""
        messages = state.get("messages", [])
        if messages:
            self._say(str(messages[-1].content), self.out)
        planning = state.get("planning") or {}
        if planning:
            self._say(f"(planned in {planning.get('seconds', 0):.1f}s, {planning.get('attempts', 0)} attempt(s))")
