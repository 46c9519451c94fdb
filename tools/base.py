"""The Tool protocol: one small typed unit whose schema comes from its code.

A tool is a subclass of ``Tool`` with a docstring (its description), ``inputs`` (artifact kinds),
``outputs`` (artifact kinds), a pydantic ``Params`` model and a ``run`` method whose keyword
arguments are exactly its inputs. ``__init_subclass__`` checks all of this when the class is
defined, so a broken tool fails at import, not in the middle of somebody's run. The planner's
JSON schema and the tool graph's edges are derived from these declarations.
"""

from __future__ import annotations

import inspect
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator

from tools.artifacts import ArtifactHandle, Kind
from tools.errors import ToolDefinitionError

TOOL_NAME = re.compile(r"^[a-z][a-z0-9_]{1,47}$")

Size = tuple[int, int]
"""(width, height) in pixels: what ``Tool.output_sizes`` predicts for an image, mask, layout or video."""


class ToolParams(BaseModel):
    """Base for a tool's parameters: unknown arguments are errors, never silently dropped, and
    true/false is not a number (pydantic's lax mode would read ``width: true`` as 1)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_as_numbers(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name) if isinstance(name, str) else None
                if isinstance(value, bool) and field is not None and not _admits_bool(field.annotation):
                    raise ValueError(f"'{name}' must be {_type_name(field.annotation)}, not {str(value).lower()}")
        return data


def _admits_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any or annotation is object:
        return True
    if get_origin(annotation) is Literal:
        return any(isinstance(a, bool) for a in get_args(annotation))
    return any(_admits_bool(a) for a in get_args(annotation))


def _type_name(annotation: Any) -> str:
    words = {int: "an integer", float: "a number", str: "a string"}
    names = [words.get(a, a.__name__) for a in (get_args(annotation) or (annotation,)) if isinstance(a, type) and a is not type(None)]
    return " or ".join(names) or "a value"


@dataclass(frozen=True)
class Input:
    """An artifact input: its kind, whether it may be left out, and what it is for."""

    kind: Kind
    optional: bool = False
    description: str = ""


@dataclass(frozen=True)
class Produced:
    """A tool output with extra metadata to record on the artifact (fps, duration, notes)."""

    value: Any
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SubRun:
    """What a sub-plan made: each step's outputs, and the plan's named outputs."""

    steps: dict[str, dict[str, ArtifactHandle]]
    outputs: dict[str, ArtifactHandle]


PlanRunner = Callable[[dict[str, Any]], SubRun]
"""Runs a sub-plan (the plan's JSON: ``{"steps": [...], "outputs": {...}}``) in the caller's session,
with its cache and progress events; a failed step raises ``ToolFailure``. The executor injects it,
so a composite tool never imports the executor."""


@dataclass
class ToolContext:
    """What the executor lends a running tool: seed, scratch space, progress, warnings, the LLMs
    and the sub-plan runner it may use, and the job's cancel flag (checked between model steps)."""

    step_id: str
    seed: int | None
    scratch_parent: Path
    models: Any = None
    report: Callable[..., None] = lambda step, fraction, note, preview=None: None
    """``(step, fraction, note, preview=None)``; ``preview`` is a small PIL image when the tool has one."""
    warnings: list[str] = field(default_factory=list)
    cancelled: threading.Event = field(default_factory=threading.Event)
    llm: Any = None
    """``tools.llm.access.LLMAccess`` when the runner configured LLMs (``ctx.llm.text()``)."""
    run_plan: PlanRunner | None = None

    _scratch: Path | None = None

    @property
    def scratch(self) -> Path:
        """A private folder for files a tool writes (videos, audio); made on first use, removed after."""
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix=f".scratch-{self.step_id}-", dir=self.scratch_parent))
        return self._scratch

    def cleanup(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def progress(self, done: int, total: int, note: str = "", preview: Any = None) -> None:
        if preview is None:
            self.report(self.step_id, done / max(total, 1), note)
        else:
            self.report(self.step_id, done / max(total, 1), note, preview)

    def warn(self, message: str) -> None:
        self.warnings.append(message)


class Tool:
    """Base class for every tool, built-in or plugin."""

    name: ClassVar[str]
    inputs: ClassVar[dict[str, Input]] = {}
    outputs: ClassVar[dict[str, Kind]]
    Params: ClassVar[type[ToolParams]] = ToolParams
    models: ClassVar[tuple[str, ...]] = ()
    version: ClassVar[str] = "1"
    cost: ClassVar[float] = 1.0
    """Relative price of running the tool; the tool graph ranks cheaper chains first."""
    offered_for: ClassVar[re.Pattern[str] | None] = None
    """The planner offers the tool for a request this finds something in, or when the conversation
    holds an artifact the tool takes; None: always. A layout places things where the request says:
    for "a jazz poster with a saxophone player" the 1.5B planner chose make_layout + layout_to_image,
    two steps where text_to_image draws the same. The word lists are in ``tools.words``."""
    restyles: ClassVar[bool] = False
    """The tool changes how a picture looks as an instruction or prompt says (edit, image_to_image).
    Right after a step that draws the picture from text in the same plan, the planner folds it into
    that step: the prompt can say the style, and one generation is cheaper and sharper than two."""
    runs_in_driver: ClassVar[bool] = False
    """True for a tool that needs ``ctx.llm`` or ``ctx.run_plan`` (they live in the process that runs
    the plan): an execution backend that ships steps to workers (Ray) runs it in place instead."""

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if not abstract:
            _validate_declaration(cls)

    @classmethod
    def description(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        return cls.description().split("\n", 1)[0]

    @classmethod
    def output_sizes(cls, params: Any, inputs: dict[str, Size | None]) -> dict[str, Size | None]:
        """The size each output will have, from the validated parameters and the input sizes
        (None where an input's size is unknown), so ``bind`` refuses a plan whose step would pass
        the pixel budget before anything runs. An output left out is unpredicted: the store still
        refuses it when it is written. Tools that grow images (pad, resize, upscale) declare it."""
        return {}

    @classmethod
    def takes_seed(cls) -> bool:
        return "seed" in cls.Params.model_fields

    def run(self, ctx: ToolContext, params: Any, **inputs: ArtifactHandle | None) -> dict[str, Any]:
        raise NotImplementedError


def _validate_declaration(cls: type[Tool]) -> None:
    where = f"{cls.__module__}.{cls.__qualname__}"

    def fail(problem: str) -> None:
        raise ToolDefinitionError(f"tool {where}: {problem}")

    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not TOOL_NAME.match(name):
        fail("needs `name`, lower_snake_case, 2-48 characters")
    if not cls.description():
        fail("needs a docstring: it is the description the planner reads")
    inputs = {}
    for key, spec in cls.inputs.items():
        spec = Input(spec) if isinstance(spec, Kind) else spec
        if not isinstance(spec, Input) or not isinstance(spec.kind, Kind):
            fail(f"input {key!r} must be a Kind or an Input(kind=...)")
        inputs[key] = spec
    cls.inputs = inputs
    outputs = getattr(cls, "outputs", None)
    if not outputs or not all(isinstance(k, Kind) for k in outputs.values()):
        fail("needs `outputs`, a non-empty dict of name -> Kind")
    if not (isinstance(cls.Params, type) and issubclass(cls.Params, ToolParams)):
        fail("`Params` must subclass tools.base.ToolParams")
    clash = set(inputs) & set(cls.Params.model_fields)
    if clash:
        fail(f"names used both as input and parameter: {sorted(clash)}")
    for key in [*inputs, *outputs]:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
            fail(f"input/output name {key!r} must be lower_snake_case")
    if cls.run is Tool.run:
        fail("must implement run(self, ctx, params, *, <inputs>)")
    signature = inspect.signature(cls.run)
    keyword = {
        p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    if keyword != set(inputs):
        fail(f"run() keyword-only arguments {sorted(keyword)} must equal inputs {sorted(inputs)}")
    positional = [p.name for p in signature.parameters.values() if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    if positional != ["self", "ctx", "params"]:
        fail("run() must be declared as run(self, ctx, params, *, <inputs>)")
