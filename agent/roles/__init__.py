"""The LLM's roles besides planning (issue 6), each a prompt in ``prompts/``, a small pydantic
output model and one function taking an ``LLMBackend``:

- ``refine.refine_prompt``: a short request -> a detailed generation prompt (LLMGA's first skill);
- ``layout.plan_layout``: counts and spatial relations -> checked boxes (LayoutGPT / LMD);
- ``highres``: patch prompts for tuning-free higher resolution, patch grid and seamless blending;
- ``story.plan_story``: a story -> scenes with one fixed description per entity;
- ``caption.caption``: describe an image or video (MLLM), or fall back to its lineage and say so;
- ``evaluate``: yes/no questions from the request, answered by a vision backend, a score, retry.

The tools in ``tools/llm/`` wrap these for workflows and the planner; they reach the backend
through the model pool (``agent.roles.backends``). Importing this package loads no model.
"""
