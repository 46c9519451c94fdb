"""The evaluator as a hook for the agent's ``verify`` node (``AgentContext.checker``).

After a plan ran without failures, ``ImageCheck`` checks every image the turn produced against
the request: it runs the ``evaluate_image`` tool through the executor, so each check is an
artifact (a JSON report whose metadata holds the score, with the image as its parent) and is
cached like any step. Below the threshold it asks for a retry, which ``verify`` turns into a
bounded replan with a note to change the seed or refine the prompt. Without an image-reading
backend the object detector answers the presence, count and position questions (GenEval's way,
``tools.perception.checker``); when it can answer none, nothing is scored and the note says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.runtime import Runtime
from graphs.plan import Plan, bind
from tools.artifacts import Kind, Session
from tools.llm.evaluate import SKIPPED_NOTE


@dataclass
class Verdict:
    notes: list[str] = field(default_factory=list)
    retry: bool = False


@dataclass
class ImageCheck:
    runtime: Runtime
    threshold: float = 0.75
    max_questions: int = 4

    def __call__(self, session: Session, request: str, artifact_ids: list[str]) -> Verdict:
        images = [a for a in artifact_ids if session.exists(a) and session.get(a).kind is Kind.IMAGE]
        if not images:
            return Verdict()
        if "evaluate_image" not in self.runtime.registry:
            return Verdict(notes=[f"Result {', '.join(images)} not checked: the evaluate_image tool is not loaded (LLMGA_PLUGINS)."])
        steps = [
            {"id": f"check_{i}", "tool": "evaluate_image",
             "args": {"image": f"${{{image}}}", "request": request, "threshold": self.threshold, "max_questions": self.max_questions}}
            for i, image in enumerate(images)
        ]
        plan = Plan.model_validate({"steps": steps, "outputs": {}})
        result = self.runtime.executor(session).run(bind(plan, self.runtime.registry, session))
        verdict = Verdict()
        for index, image in enumerate(images):
            step = result.steps[f"check_{index}"]
            if step.status not in ("ran", "cached"):
                verdict.notes.append(f"Checking {image} failed: {step.error}")
                continue
            report = session.get(step.outputs["text"]).meta["evaluation"]
            if not report["checked"]:
                verdict.notes.append(f"Result {image} {report['note'] or SKIPPED_NOTE}.")
                continue
            skipped = f"; skipped: {'; '.join(s['question'] for s in report['skipped'])}" if report.get("skipped") else ""
            failed = [qa["question"] for qa in report["answers"] if qa["answer"] == "no"]
            verdict.notes.append(
                f"Checked {image} with {len(report['answers'])} question(s) ({step.outputs['text']}): score {report['score']:.2f}"
                + (f"; answered no: {'; '.join(failed)}" if failed else "")
                + skipped
                + (f" [{report['evaluator']}]" if report.get("evaluator") else "")
            )
            verdict.retry = verdict.retry or report["score"] < self.threshold
        return verdict
