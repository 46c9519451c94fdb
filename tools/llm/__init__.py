"""LLM role tools (refine_prompt, plan_layout, hires_refine, plan_story, story_to_video, caption,
evaluate_image, generate_checked). They register through the ``llm`` entry point in
``pyproject.toml`` and reach their backend through the model pool (``agent.roles.backends``)."""

from tools.llm import roles

TOOLS = list(roles.TOOLS)
