"""Planner LLM backends behind one small interface (see ``base.py``).

``get_backend(name, **options)`` builds one: ``embedded`` (default, offline GGUF), ``openai``,
``ollama``, ``llmga`` or ``fake``. Importing this package loads no model and no backend library.
"""

from agent.llm.base import Generation, LLMBackend
from agent.llm.chat import BackendError
from agent.llm.factory import get_backend, resolve_options
from agent.llm.tags import extract_gen_image_prompts, find_gen_image_prompts, strip_gen_image

__all__ = [
    "BackendError",
    "Generation",
    "LLMBackend",
    "extract_gen_image_prompts",
    "find_gen_image_prompts",
    "get_backend",
    "resolve_options",
    "strip_gen_image",
]
