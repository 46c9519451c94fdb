"""Evaluator with retry (DreamSync / TIFA): questions about the expected result, answered on the
image by an image-reading backend, a score, and a bounded retry when the score is too low.

1. The text backend writes yes/no questions whose answer is "yes" when the image matches the
   request (``Questions``; one fact per question, counts and relations included).
2. The vision backend answers each on the image (``YesNo``), one request per question.
3. The score is the fraction answered "yes". ``generate_with_retry`` retries below the threshold:
   first a new seed, then a refined prompt with a new seed, at most ``max_attempts`` images, and
   keeps the best.

Without a vision backend the object detector answers what it can (``tools.perception.checker``,
GenEval's manner: presence, counts, positions); the other questions are listed as skipped with the
reason. With neither, or when the detector can answer none of the questions, nothing is scored: the
report has ``checked=False`` and a note saying why, and no retry happens. A guess is never recorded
as a score.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from prompts import render
from tools.llm.caption import image_block
from tools.llm.protocol import LLMBackend
from tools.llm.structured import ask

SKIPPED_NOTE = (
    "not checked: no image-reading (VQA) model is configured. Set LLMGA_VISION=llmga with an LLMGA "
    "checkpoint (LLMGA_PLANNER_CHECKPOINT) to have results checked"
)


class Questions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    questions: list[str] = Field(min_length=1, max_length=8, description="yes/no questions; 'yes' means the image matches")


class YesNo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: Literal["yes", "no"]


class QA(BaseModel):
    question: str
    answer: Literal["yes", "no"]


class Skipped(BaseModel):
    question: str
    reason: str


class Report(BaseModel):
    """What was checked and how it went; stored in the artifact's metadata as ``evaluation``."""

    request: str
    checked: bool
    score: float | None = None
    threshold: float | None = None
    answers: list[QA] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list, description="questions nobody could answer, with why")
    note: str = ""
    evaluator: str | None = None

    @property
    def passed(self) -> bool | None:
        return None if self.score is None or self.threshold is None else self.score >= self.threshold

    def summary(self) -> str:
        if not self.checked:
            return self.note
        failed = [qa.question for qa in self.answers if qa.answer == "no"]
        text = f"score {self.score:.2f} on {len(self.answers)} question(s)"
        text += f"; answered no: {'; '.join(failed)}" if failed else "; all answered yes"
        return text + (f"; skipped {len(self.skipped)}" if self.skipped else "")


def write_questions(backend: LLMBackend, request: str, *, max_questions: int = 5, seed: int | None = None) -> list[str]:
    def check(value: Questions) -> list[str]:
        problems = []
        if len(value.questions) > max_questions:
            problems.append(f"ask at most {max_questions} questions")
        if any(not q.strip().endswith("?") for q in value.questions):
            problems.append("every question must end with '?'")
        return problems

    messages = [SystemMessage(render("evaluate_questions", max_questions=max_questions)), HumanMessage(render("evaluate_request", request=request))]
    return ask(backend, messages, Questions, role="evaluate", check=check, attempts=2, max_tokens=300, seed=seed).value.questions


def answer_question(vision: LLMBackend, image: Image.Image, question: str) -> Literal["yes", "no"]:
    messages = [
        SystemMessage(render("evaluate_vqa")),
        HumanMessage(content=[image_block(image), {"type": "text", "text": question}]),
    ]
    return ask(vision, messages, YesNo, role="evaluate", attempts=2, max_tokens=10).value.answer


def evaluate_image(
    backend: LLMBackend,
    vision: LLMBackend | None,
    request: str,
    image: Image.Image,
    *,
    threshold: float = 0.75,
    questions: list[str] | None = None,
    max_questions: int = 5,
    detector: Any = None,
) -> Report:
    """``detector`` (a ``tools.perception.checker.DetectorChecker``) answers when ``vision`` is None."""
    if vision is None and detector is not None:
        return detector_report(backend, detector, request, image, threshold=threshold, questions=questions, max_questions=max_questions)
    if vision is None:
        return Report(request=request, checked=False, threshold=threshold, note=SKIPPED_NOTE)
    asked = questions if questions is not None else write_questions(backend, request, max_questions=max_questions)
    answers = [QA(question=q, answer=answer_question(vision, image, q)) for q in asked]
    score = sum(a.answer == "yes" for a in answers) / len(answers)
    return Report(request=request, checked=True, score=score, threshold=threshold, answers=answers, evaluator=vision.name)


def detector_report(
    backend: LLMBackend, detector: Any, request: str, image: Image.Image, *, threshold: float, questions: list[str] | None, max_questions: int
) -> Report:
    """Questions (given, or GenEval's from the request's wording: no model needed) answered by the
    detector where it can; the rest are skipped with the reason."""
    asked = questions if questions is not None else detector.questions(request)[:max_questions]
    if not asked:
        note = "not checked: the request names none of the 80 kinds of object the detector knows, and no image-reading model is configured"
        return Report(request=request, checked=False, threshold=threshold, note=note, evaluator=detector.name)
    found = detector.detections(image)
    answers: list[QA] = []
    skipped: list[Skipped] = []
    for question in asked:
        result = detector.answer(image, question, found)
        if result.answer in ("yes", "no"):
            answers.append(QA(question=question, answer=result.answer))
        else:
            reason = result.reason if result.answer is None else f"skipped: not a yes/no question (the detector counted {result.answer})"
            skipped.append(Skipped(question=question, reason=reason))
    if not answers:
        note = "not checked: the object detector can answer none of the questions (" + "; ".join(s.reason for s in skipped) + ")"
        return Report(request=request, checked=False, threshold=threshold, skipped=skipped, note=note, evaluator=detector.name)
    score = sum(a.answer == "yes" for a in answers) / len(answers)
    return Report(request=request, checked=True, score=score, threshold=threshold, answers=answers, skipped=skipped, evaluator=detector.name)


class Attempt(BaseModel):
    prompt: str
    seed: int
    report: Report


def generate_with_retry(
    make: Callable[[str, int], Image.Image],
    judge: Callable[[Image.Image], Report],
    *,
    prompt: str,
    seed: int,
    max_attempts: int = 3,
    refine: Callable[[str], str] | None = None,
) -> tuple[Image.Image, list[Attempt]]:
    """Make images until one passes or ``max_attempts`` are spent; the best one is returned.

    Attempt 2 changes the seed; attempt 3 onwards also uses ``refine(prompt)`` (once) when given.
    An unchecked report (no vision backend) ends the loop after the first image.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    attempts: list[Attempt] = []
    best: tuple[float, Image.Image] | None = None
    current, refined = prompt, False
    for index in range(max_attempts):
        if index >= 2 and refine is not None and not refined:
            current, refined = refine(prompt), True
        image = make(current, seed + index)
        report = judge(image)
        attempts.append(Attempt(prompt=current, seed=seed + index, report=report))
        score = report.score if report.score is not None else -1.0
        if best is None or score > best[0]:
            best = (score, image)
        if not report.checked or report.passed:
            break
    assert best is not None
    return best[1], attempts
