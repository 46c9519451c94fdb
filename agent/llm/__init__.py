"""Planner LLM backends behind one small interface (``tools.llm.protocol``).

``get_backend(name, **options)`` builds one: ``embedded`` (default, offline GGUF), ``openai``,
``ollama``, ``llmga`` or ``fake``. Importing this package loads no model and no backend library.
"""

from agent.llm.chat import BackendError
from agent.llm.factory import configured_vision, get_backend, resolve_options
from tools.llm.protocol import Generation, LLMBackend
from tools.llm.tags import extract_gen_image_prompts, find_gen_image_prompts, strip_gen_image

__all__ = [
    "BackendError",
    "Generation",
    "LLMBackend",
    "configured_vision",
    "extract_gen_image_prompts",
    "find_gen_image_prompts",
    "get_backend",
    "resolve_options",
    "strip_gen_image",
]
