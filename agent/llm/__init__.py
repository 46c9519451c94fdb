"""Planner LLM backends behind one small interface (``tools.llm.protocol``).

``get_backend(name, **options)`` builds one from the ``llmga.planners`` plugins: ``embedded``
(default, offline GGUF), ``openai``, ``ollama``, ``llmga``, ``fake`` or a third party's; or from a
``module:attr`` import path of a LangChain chat model. ``from_chat_model(model)`` wraps any
LangChain ``BaseChatModel`` object. Importing this package loads no model and no backend library.
"""

from agent.llm.chat import BackendError
from agent.llm.chat_model import from_chat_model
from agent.llm.factory import PlannerPlugin, configured_vision, get_backend, resolve_options
from tools.llm.protocol import Generation, LLMBackend
from tools.llm.tags import extract_gen_image_prompts, find_gen_image_prompts, strip_gen_image

__all__ = [
    "BackendError",
    "Generation",
    "LLMBackend",
    "PlannerPlugin",
    "configured_vision",
    "extract_gen_image_prompts",
    "find_gen_image_prompts",
    "from_chat_model",
    "get_backend",
    "resolve_options",
    "strip_gen_image",
]
