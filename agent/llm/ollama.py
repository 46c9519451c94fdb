"""An Ollama server, through LangChain's ``ChatOllama``; a JSON schema is sent as ``format``."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from langchain_core.messages import BaseMessage

from agent.llm.chat import BackendError, to_chat_dicts
from tools.errors import ConfigError
from tools.llm.protocol import Generation

DEFAULT_OLLAMA_URL = "http://127.0.0.1:11434"


class OllamaBackend:
    def __init__(self, *, model: str, base_url: str = DEFAULT_OLLAMA_URL, timeout: float = 300.0, num_ctx: int | None = None):
        if not model:
            raise ConfigError("the ollama planner needs a model name (LLMGA_PLANNER_MODEL, e.g. qwen2.5-coder:1.5b)")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.num_ctx = num_ctx
        self.name = f"ollama:{model}@{self.base_url}"

    @cached_property
    def chat_model(self) -> Any:
        try:
            from langchain_ollama import ChatOllama
        except ImportError as exc:
            raise ConfigError("the ollama planner needs langchain-ollama: run .venv/bin/python -m pip install langchain-ollama") from exc
        return ChatOllama(model=self.model, base_url=self.base_url, client_kwargs={"timeout": self.timeout})

    def generate(
        self,
        messages: Sequence[BaseMessage],
        *,
        json_schema: dict[str, Any] | None = None,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        seed: int | None = None,
        stop: Sequence[str] = (),
    ) -> Generation:
        import httpx
        import ollama

        to_chat_dicts(messages)
        options: dict[str, Any] = {"temperature": temperature, "num_predict": max_tokens}
        if seed is not None:
            options["seed"] = seed
        if stop:
            options["stop"] = list(stop)
        if self.num_ctx is not None:
            options["num_ctx"] = self.num_ctx
        kwargs: dict[str, Any] = {"options": options}
        if json_schema is not None:
            kwargs["format"] = json_schema
        started = time.perf_counter()
        try:
            message = self.chat_model.invoke(list(messages), **kwargs)
        except (httpx.ConnectError, ConnectionError) as exc:
            raise ConfigError(f"cannot reach Ollama at {self.base_url}: start it with `ollama serve`, or set LLMGA_PLANNER_BASE_URL") from exc
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise ConfigError(f"Ollama at {self.base_url} has no model {self.model!r}: run `ollama pull {self.model}`") from exc
            raise BackendError(f"Ollama at {self.base_url} answered HTTP {exc.status_code}: {exc.error}") from exc
        except httpx.HTTPError as exc:
            raise BackendError(f"Ollama at {self.base_url} failed: {exc}") from exc
        elapsed = time.perf_counter() - started
        meta = message.response_metadata or {}
        usage = message.usage_metadata or {}
        decode_ns = meta.get("eval_duration") or 0
        return Generation(
            text=message.content if isinstance(message.content, str) else message.text,
            prompt_tokens=int(usage.get("input_tokens", 0)),
            completion_tokens=int(usage.get("output_tokens", 0)),
            seconds=decode_ns / 1e9 if decode_ns else elapsed,
        )
