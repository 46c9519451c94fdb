"""Any OpenAI-compatible chat server (vLLM, llama.cpp ``llama-server``, LM Studio, OpenAI itself).

Wraps LangChain's ``ChatOpenAI`` pointed at ``base_url``. A JSON schema goes out as
``response_format={"type": "json_schema", ...}``, which these servers turn into constrained
decoding. The request also carries ``max_tokens`` (older servers ignore ``max_completion_tokens``,
which ``ChatOpenAI`` sends).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from langchain_core.messages import BaseMessage

from agent.llm.chat import BackendError, schema_name, to_chat_dicts
from tools.errors import ConfigError
from tools.llm.protocol import Generation


class OpenAICompatBackend:
    def __init__(self, *, base_url: str, model: str, api_key: str | None = None, timeout: float = 300.0, max_retries: int = 1):
        if not base_url or not model:
            raise ConfigError("the openai planner needs a base URL and a model name (--planner-base-url / LLMGA_PLANNER_BASE_URL, LLMGA_PLANNER_MODEL)")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self._api_key = api_key
        self.timeout = timeout
        self.max_retries = max_retries
        self.name = f"openai:{model}@{self.base_url}"

    @cached_property
    def chat_model(self) -> Any:
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as exc:
            raise ConfigError("the openai planner needs langchain-openai: run .venv/bin/python -m pip install langchain-openai") from exc
        return ChatOpenAI(
            base_url=self.base_url,
            model=self.model,
            # Local servers accept any key; the client library insists on one.
            api_key=self._api_key or "not-needed",
            timeout=self.timeout,
            max_retries=self.max_retries,
            use_responses_api=False,
        )

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
        import openai

        to_chat_dicts(messages)  # same validation as the other backends (non-empty)
        kwargs: dict[str, Any] = {"temperature": temperature, "max_tokens": max_tokens, "extra_body": {"max_tokens": max_tokens}}
        if seed is not None:
            kwargs["seed"] = seed
        if stop:
            kwargs["stop"] = list(stop)
        if json_schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name(json_schema), "schema": json_schema, "strict": True},
            }
        started = time.perf_counter()
        try:
            message = self.chat_model.invoke(list(messages), **kwargs)
        except openai.APIConnectionError as exc:
            raise ConfigError(f"cannot reach the OpenAI-compatible server at {self.base_url}: {exc}. Start it, or fix --planner-base-url / LLMGA_PLANNER_BASE_URL") from exc
        except openai.AuthenticationError as exc:
            raise ConfigError(f"the server at {self.base_url} rejected the API key: set LLMGA_PLANNER_API_KEY") from exc
        except openai.NotFoundError as exc:
            raise ConfigError(f"the server at {self.base_url} does not serve model {self.model!r} (or the base URL lacks /v1): {exc}") from exc
        except openai.APIStatusError as exc:
            raise BackendError(f"the server at {self.base_url} answered HTTP {exc.status_code}: {exc.message}") from exc
        except openai.APIError as exc:
            raise BackendError(f"the server at {self.base_url} sent an unusable reply: {exc}") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # HTML or other JSON with status 200
            raise ConfigError(
                f"the server at {self.base_url} did not answer like an OpenAI-compatible API ({type(exc).__name__}: "
                f"{str(exc)[:120]}); check --planner-base-url / LLMGA_PLANNER_BASE_URL (it usually ends in /v1)"
            ) from None
        elapsed = time.perf_counter() - started
        text = message.content if isinstance(message.content, str) else message.text
        usage = message.usage_metadata or {}
        return Generation(
            text=text,
            prompt_tokens=int(usage.get("input_tokens", 0)),
            completion_tokens=int(usage.get("output_tokens", 0)),
            seconds=elapsed,
        )
