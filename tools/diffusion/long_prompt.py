"""Prompt embeddings for prompts longer than CLIP's 77-token window.

LLMGA's MLLM writes long, detailed prompts; a stock pipeline silently drops every token past 77.
As LLMGA does, the token sequence is cut into windows of 75 content tokens, each window is wrapped
in start/end tokens, encoded on its own, and the hidden states are concatenated along the sequence
axis. The UNet's cross-attention accepts any sequence length, so all tokens condition the image.
The negative prompt is encoded the same way and padded with empty windows to the same length
(classifier-free guidance needs both batches the same shape).

SDXL's two text encoders are handled alike (their hidden states side by side per window); its
pooled embedding comes from the first window, as the pooled vector is a single summary token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class LongPromptEmbeds:
    """Keyword arguments for a diffusers pipeline call, plus how the prompt was split."""

    kwargs: dict[str, Any]
    tokens: int
    """Content tokens of the prompt (without start/end), all of them encoded."""
    windows: int

    @property
    def sequence_length(self) -> int:
        return self.kwargs["prompt_embeds"].shape[1]


def _content_ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False, truncation=False, verbose=False).input_ids


def _windows(tokenizer: Any, ids: list[int], count: int) -> torch.Tensor:
    """``count`` rows of ``[start] window [end] [pad...]``, each exactly the model's window long."""
    size = tokenizer.model_max_length
    inner = size - 2
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = []
    for n in range(count):
        chunk = ids[n * inner : (n + 1) * inner]
        row = [tokenizer.bos_token_id, *chunk, tokenizer.eos_token_id]
        rows.append(row + [pad] * (size - len(row)))
    return torch.tensor(rows, dtype=torch.long)


def _encode(encoder: Any, rows: torch.Tensor, device: Any, *, penultimate: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Hidden states of every window joined into one sequence, and the first window's pooled output."""
    out = encoder(rows.to(device), output_hidden_states=penultimate)
    hidden = out.hidden_states[-2] if penultimate else out[0]
    pooled = out[0][:1] if penultimate and out[0].ndim == 2 else None  # CLIPTextModelWithProjection.text_embeds
    return hidden.reshape(1, -1, hidden.shape[-1]), pooled


def count_windows(tokenizer: Any, *texts: str) -> int:
    inner = tokenizer.model_max_length - 2
    return max(1, *(-(-len(_content_ids(tokenizer, t)) // inner) for t in texts))


@torch.no_grad()
def encode_long_prompt(pipe: Any, prompt: str, negative_prompt: str = "") -> LongPromptEmbeds:
    """Embeddings of ``prompt`` and ``negative_prompt`` covering every token, for ``pipe(**kwargs)``."""
    device = pipe._execution_device
    tokenizer = pipe.tokenizer
    windows = count_windows(tokenizer, prompt, negative_prompt)
    tokens = len(_content_ids(tokenizer, prompt))
    encoders = [(pipe.tokenizer, pipe.text_encoder)]
    xl = getattr(pipe, "text_encoder_2", None) is not None
    if xl:
        encoders.append((pipe.tokenizer_2, pipe.text_encoder_2))
    if getattr(pipe, "text_encoder", None) is None:  # SDXL refiner-style: only the second encoder
        encoders = encoders[1:]

    def embed(text: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        parts, pooled = [], None
        for tok, enc in encoders:
            hidden, pool = _encode(enc, _windows(tok, _content_ids(tok, text), windows), device, penultimate=xl)
            parts.append(hidden)
            pooled = pool if pool is not None else pooled
        dtype = encoders[-1][1].dtype
        return torch.cat(parts, dim=-1).to(dtype), pooled

    prompt_embeds, pooled = embed(prompt)
    negative_embeds, negative_pooled = embed(negative_prompt)
    if xl and not negative_prompt and getattr(pipe.config, "force_zeros_for_empty_prompt", False):
        negative_embeds = torch.zeros_like(prompt_embeds)  # what SDXL was trained with for "no negative"
        negative_pooled = torch.zeros_like(pooled)
    kwargs: dict[str, Any] = {"prompt_embeds": prompt_embeds, "negative_prompt_embeds": negative_embeds}
    if xl:
        kwargs.update(pooled_prompt_embeds=pooled, negative_pooled_prompt_embeds=negative_pooled)
    return LongPromptEmbeds(kwargs, tokens, windows)
