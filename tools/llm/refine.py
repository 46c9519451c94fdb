"""Prompt refinement (LLMGA's first skill): a short request -> a detailed generation prompt.

JSON backends answer ``RefinedPrompt`` under its schema. An LLMGA checkpoint was fine-tuned to
answer in prose with the detailed prompt inside ``<gen_image>`` tags, so with it the tagged text
*is* the prompt (``tools.llm.tags``), and its prose comes back as ``notes``.
"""

from __future__ import annotations

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field

from prompts import render
from tools.llm.protocol import LLMBackend
from tools.llm.structured import Answer, RoleError, Trace, ask
from tools.llm.tags import extract_gen_image_prompts, strip_gen_image


class RefinedPrompt(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(min_length=8, max_length=1200, description="the detailed prompt for the image model")
    negative_prompt: str = Field(max_length=300, description="what to avoid; '' for nothing")
    notes: str = Field(max_length=400, description="one sentence to the user about the choices made")


def is_llmga(backend: LLMBackend) -> bool:
    return type(backend).__name__ == "LLMGABackend" or str(getattr(backend, "name", "")).startswith("llmga:")


def refine_prompt(backend: LLMBackend, request: str, *, style: str = "", attempts: int = 2, seed: int | None = None) -> Answer[RefinedPrompt]:
    """A detailed prompt (subject, attire, setting, lighting, style) that keeps the request's content."""
    wish = request if not style else f"{request} (style: {style})"
    if is_llmga(backend):
        return _refine_with_tags(backend, wish, attempts=attempts, seed=seed)

    def check(value: RefinedPrompt) -> list[str]:
        return [] if len(value.prompt.split()) >= len(request.split()) else ["the prompt is shorter than the request: add detail"]

    messages = [SystemMessage(render("refine_system")), HumanMessage(render("refine_request", request=wish))]
    return ask(backend, messages, RefinedPrompt, role="refine_prompt", check=check, attempts=attempts, max_tokens=400, seed=seed)


def _refine_with_tags(backend: LLMBackend, request: str, *, attempts: int, seed: int | None) -> Answer[RefinedPrompt]:
    trace = Trace()
    messages = [HumanMessage(render("refine_llmga", request=request))]
    for attempt in range(1, attempts + 1):
        trace.attempts = attempt
        generation = backend.generate(messages, max_tokens=400, seed=seed)
        trace.generations.append(generation)
        prompts = extract_gen_image_prompts(generation.text)
        if prompts:
            value = RefinedPrompt(prompt=prompts[0], negative_prompt="", notes=strip_gen_image(generation.text)[:400])
            return Answer(value, trace)
        trace.problems.append("no <gen_image> prompt in the answer")
    raise RoleError("refine_prompt", trace.problems)
