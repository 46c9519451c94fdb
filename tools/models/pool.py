"""The model pool: every loaded model in the process lives here, loaded lazily and exactly once.

``ModelPool.get(key, loader)`` is the generic core any tool can use (restorers, captioners,
diffusion pipelines): the first caller of a key runs ``loader``; concurrent callers of the same
key wait for that one load instead of starting their own; later callers get the object back
without loading anything. Entries are kept in least-recently-used order and the oldest are
dropped when the recorded sizes pass the memory budget, so a long session that touches many
models does not grow without bound. Nothing is loaded at import time.

Diffusion pipelines by role sit on top of this core: ``pipeline(role)`` (see
``tools.models.diffusion``) and ``run_lock(role)``.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tools.models.profile import Profile, load_profile

T = TypeVar("T")


@dataclass
class PoolStats:
    """Counters a test or a benchmark reads: a warm second request adds to ``hits`` only."""

    loads: int = 0
    hits: int = 0
    evictions: int = 0
    load_seconds: float = 0.0
    loaded_keys: list[str] = field(default_factory=list)

    def snapshot(self) -> PoolStats:
        return PoolStats(self.loads, self.hits, self.evictions, self.load_seconds, list(self.loaded_keys))


@dataclass
class _Entry:
    value: Any
    size_bytes: int
    parent: str | None


def _storages(obj: Any) -> dict[int, int]:
    """Tensor storages an object holds (a torch module or a pipeline's modules): pointer -> bytes."""
    try:
        import torch
    except ImportError:
        return {}
    modules: list[Any] = []
    if isinstance(obj, torch.nn.Module):
        modules = [obj]
    elif isinstance(getattr(obj, "components", None), dict):
        modules = [m for m in obj.components.values() if isinstance(m, torch.nn.Module)]
    found: dict[int, int] = {}
    for module in modules:
        for tensor in [*module.parameters(), *module.buffers()]:
            storage = tensor.untyped_storage()
            found[storage.data_ptr()] = storage.nbytes()
    return found


def estimate_bytes(obj: Any, exclude: Any = None) -> int:
    """Bytes of the tensors ``obj`` holds that ``exclude`` does not (0 for non-torch objects).

    Counting by storage means a ``from_pipe`` sibling measured against its parent costs only the
    modules it added, so shared weights are never charged twice against the budget.
    """
    shared = _storages(exclude) if exclude is not None else {}
    return sum(size for ptr, size in _storages(obj).items() if ptr not in shared)


class ModelPool:
    """Process-wide owner of loaded models: lazy, once per key, thread-safe, LRU under a budget.

    ``budget_bytes=None`` means no limit. ``profile`` names the model profile whose roles the
    diffusion helpers and ``model_ids`` resolve; ``cache_dir`` is where tiny models are built.
    """

    def __init__(
        self,
        profile: Profile | str = "tiny",
        *,
        budget_bytes: int | None = None,
        cache_dir: Path | None = None,
        device: str | None = None,
        offload: str = "auto",
        max_generate_pixels: int = 4_194_304,
    ):
        self._profile = profile
        self.max_generate_pixels = max_generate_pixels
        """Largest image a generator may be asked for: activations grow with it, weights do not."""
        self.budget_bytes = budget_bytes
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._device = device
        self.offload = offload
        self.stats = PoolStats()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._notices: list[str] = []
        self._noticed: set[str] = set()

    @property
    def profile(self) -> Profile:
        """The active profile, read on first use: a pool for tools that need no model never fails on it."""
        if not isinstance(self._profile, Profile):
            self._profile = load_profile(self._profile)
        return self._profile

    # -- the generic core ----------------------------------------------------------------------
    def get(self, key: str, loader: Callable[[], T], *, size_bytes: int | None = None, parent: str | None = None) -> T:
        """The object stored under ``key``, made by ``loader`` on first use.

        ``size_bytes`` is what the object costs against the budget (measured from its tensors
        when left out). ``parent`` names an entry this one shares weights with (a ``from_pipe``
        sibling): evicting the parent evicts the child too, since the child keeps the parent's
        weights alive.
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.stats.hits += 1
                return entry.value
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one loader per key; other keys load in parallel
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None:  # somebody else loaded it while we waited
                    self._entries.move_to_end(key)
                    self.stats.hits += 1
                    return entry.value
            started = time.perf_counter()
            value = loader()
            seconds = time.perf_counter() - started
            with self._lock:
                parent_entry = self._entries.get(parent) if parent else None
            if size_bytes is None:
                size_bytes = estimate_bytes(value, exclude=parent_entry.value if parent_entry else None)
            with self._lock:
                self._entries[key] = _Entry(value, size_bytes, parent)
                self.stats.loads += 1
                self.stats.load_seconds += seconds
                self.stats.loaded_keys.append(key)
                self._evict_over_budget(keep=key)
            return value

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._entries

    def keys(self) -> list[str]:
        """Loaded keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return sum(e.size_bytes for e in self._entries.values())

    def evict(self, key: str) -> bool:
        """Drop ``key`` (and entries sharing its weights); True when something was dropped."""
        with self._lock:
            dropped = self._drop(key)
        if dropped:
            _release_memory()
        return dropped

    def clear(self) -> None:
        with self._lock:
            for key in list(self._entries):
                self._drop(key)
        _release_memory()

    def _drop(self, key: str) -> bool:
        if key not in self._entries:
            return False
        del self._entries[key]
        self.stats.evictions += 1
        for child in [k for k, e in self._entries.items() if e.parent == key]:
            self._drop(child)
        return True

    def _evict_over_budget(self, keep: str) -> None:
        if self.budget_bytes is None:
            return
        protected = {keep}
        parent = self._entries[keep].parent
        while parent is not None and parent in self._entries:  # the new entry needs its ancestors
            protected.add(parent)
            parent = self._entries[parent].parent
        dropped = False
        while sum(e.size_bytes for e in self._entries.values()) > self.budget_bytes:
            victim = next((k for k in self._entries if k not in protected), None)
            if victim is None:
                break  # what is left is needed right now; the budget is a target, not a wall
            dropped |= self._drop(victim)
        if dropped:
            _release_memory()

    # -- diffusion pipelines by role ------------------------------------------------------------
    @property
    def device(self) -> str | None:
        return self._device

    def pipeline(self, role: str) -> Any:
        """The diffusers pipeline for ``role`` on this pool's profile (siblings share modules)."""
        from tools.models.diffusion import load_pipeline

        return load_pipeline(self, role)

    def run_lock(self, role: str) -> threading.Lock:
        """Hold this while calling a role's pipeline.

        Sibling pipelines share one scheduler object and keep per-call state on themselves, so
        two calls in one family at the same moment would corrupt each other; other families run
        in parallel.
        """
        from tools.models.diffusion import family_key

        with self._lock:
            return self._key_locks.setdefault("run:" + family_key(self.profile, role), threading.Lock())

    # -- profile roles ---------------------------------------------------------------------------
    def model_ids(self, roles: tuple[str, ...]) -> list[str]:
        """The concrete model ids/folders the active profile maps ``roles`` to (for cache keys).

        A role the profile does not know maps to ``<profile>:<role>``, so a cache entry still
        changes when the profile does; using such a role fails later with a clear message.
        """
        ids: list[str] = []
        if not roles:
            return ids
        for role in roles:
            spec = self.profile.roles.get(role)
            ids.extend(spec.ids(self.profile) if spec else [f"{self.profile.name}:{role}"])
        return ids

    # -- notices -----------------------------------------------------------------------------------
    def notice_once(self, key: str, message: str) -> bool:
        """Record a message for the user once per pool; True when it is new."""
        with self._lock:
            if key in self._noticed:
                return False
            self._noticed.add(key)
            self._notices.append(message)
            return True

    @property
    def notices(self) -> list[str]:
        with self._lock:
            return list(self._notices)


def _release_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:  # the core pool works without torch
        pass
