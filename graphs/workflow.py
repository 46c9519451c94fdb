"""Workflow files: YAML that declares inputs, steps and outputs; a ready-made plan.

A workflow is data, never code: the pydantic models forbid unknown keys, values are only
substituted (``${name}`` for an input, inside strings too), and file inputs must live under the
workflow's folder, the workspace or the current directory. ``compile_workflow`` turns a workflow
plus input values into a ``Plan`` whose file inputs are artifacts imported into the session.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from graphs.plan import MAX_DEPTH, MAX_STEPS, STEP_ID, Plan, Step, check_shape
from tools.artifacts import ARTIFACT_ID, Kind, Session, decode_text
from tools.errors import InputError, PlanError, format_validation_error

InputType = Literal["image", "mask", "layout", "video", "audio", "text", "string", "integer", "number", "boolean"]
SCALARS: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool}
PLACEHOLDER = re.compile(r"\$\{\s*([a-z_][a-z0-9_]*)\s*\}")
MAX_WORKFLOW_BYTES = 1 << 20
MAX_BATCH_BYTES = 64 << 20
MAX_SUBSTITUTED_CHARS = 4 << 20
"""Text a workflow's substitution may produce in all: a 1 MiB file must not expand into gigabytes."""


_QUOTED_OR_COMMENT = re.compile(r"""'[^'\n]*'|"(?:[^"\\\n]|\\.)*"|#[^\n]*""")
_NOT_FLOW = re.compile(r"[^\[\]{}]+")


def flow_too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether ``[``/``{`` nest deeper than ``limit`` outside quotes and comments. PyYAML's scanner
    is quadratic in flow nesting (200,000 ``[`` take seconds before any recursion limit), so this
    linear count (in C but for the brackets themselves) runs first and stops at the first level past the limit."""
    brackets = _NOT_FLOW.sub("", _QUOTED_OR_COMMENT.sub("", text))
    depth = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif depth:
            depth -= 1
    return False


def _read_text(path: Path, what: str, limit: int) -> str:
    """A whole small text file, or one InputError (missing, a folder, too big, not UTF-8, binary)."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise InputError(f"{path} is larger than {limit >> 10} KiB; not a {what}")
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    text = decode_text(data, f"{path.name} (a {what} must be UTF-8 text)")
    if "\x00" in text:
        raise InputError(f"{path.name} holds NUL bytes: not a {what}")
    return text


class WorkflowInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: InputType
    default: Any = None
    description: str = ""

    @property
    def is_file(self) -> bool:
        return self.type not in SCALARS

    def coerce(self, name: str, value: Any) -> Any:
        """Check a value against the declared type; strings from --set or CSV are parsed."""
        if self.is_file:
            if not isinstance(value, str) or not value:
                raise InputError(f"input '{name}' needs a file path or an artifact id, got {value!r}")
            return value
        kind = SCALARS[self.type]
        if isinstance(value, str) and kind is not str:
            text = value.strip().lower()
            try:
                if kind is bool:
                    if text not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(value)
                    return text in ("true", "1", "yes")
                return kind(value)
            except ValueError:
                raise InputError(f"input '{name}' must be {self.type}, got {value!r}") from None
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InputError(f"input '{name}' must be {self.type}, got {value!r}")
        return value


class Workflow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal[1] = 1
    name: str = ""
    description: str = ""
    inputs: dict[str, WorkflowInput] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    outputs: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _names(self) -> Workflow:
        for name, spec in self.inputs.items():
            if not re.fullmatch(STEP_ID, name):
                raise ValueError(f"input name {name!r} must be lower_snake_case")
            if spec.default is not None:
                spec.coerce(name, spec.default)
        clash = set(self.inputs) & {s.id for s in self.steps}
        if clash:
            raise ValueError(f"names used for both an input and a step: {sorted(clash)}")
        return self


def load_workflow(path: Path) -> Workflow:
    path = Path(path)
    text = _read_text(path, "workflow file", MAX_WORKFLOW_BYTES)
    if flow_too_deep(text):
        raise PlanError(f"{path.name} nests deeper than {MAX_DEPTH} levels")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlanError(f"{path.name} is not valid YAML: {exc}") from None
    except (RecursionError, ValueError, OverflowError) as exc:  # nesting past the parser's stack, a 5,000-digit number
        raise PlanError(f"{path.name} is YAML this program will not read ({type(exc).__name__}): keep it flat and small") from None
    if not isinstance(data, dict):
        raise PlanError(f"{path.name}: a workflow is a mapping with inputs, steps and outputs")
    check_shape(data, path.name)  # before pydantic or substitution walk it: aliases, depth, cycles
    try:
        return Workflow.model_validate(data)
    except ValidationError as exc:
        raise PlanError(f"{path.name}: {format_validation_error(exc)}") from None
    except InputError as exc:
        raise PlanError(f"{path.name}: {exc}") from None


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``--set k=v`` pairs into a dict (values typed later against the workflow's inputs)."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set expects name=value, got {pair!r}")
        values[key.strip()] = value
    return values


def read_batch(path: Path) -> list[dict[str, Any]]:
    """Rows of input values from a JSON-lines or CSV file."""
    path = Path(path)
    if path.suffix.lower() not in (".jsonl", ".ndjson", ".csv"):
        raise InputError(f"batch file {path.name} must be .jsonl or .csv")
    text = _read_text(path, "batch file", MAX_BATCH_BYTES)
    if path.suffix.lower() == ".csv":
        try:
            rows = [dict(row) for row in csv.DictReader(text.splitlines())]
        except csv.Error as exc:
            raise InputError(f"{path.name} is not a CSV file this program reads: {exc}") from None
        for number, row in enumerate(rows, 2):
            if None in row or None in row.values():
                raise InputError(f"{path.name} line {number}: the row has a different number of fields than the header")
        return rows
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path.name} line {number}: {exc.msg}") from None
        except (RecursionError, ValueError) as exc:
            raise InputError(f"{path.name} line {number}: JSON this program will not read ({type(exc).__name__})") from None
        if not isinstance(row, dict):
            raise InputError(f"{path.name} line {number}: each line must be a JSON object")
        try:
            check_shape(row, f"{path.name} line {number}")
        except PlanError as exc:
            raise InputError(str(exc)) from None
        rows.append(row)
    return rows


def _confined(path: Path, roots: list[Path]) -> Path:
    try:
        resolved = path.resolve()
    except (OSError, ValueError) as exc:  # a NUL byte, a symlink loop, a name too long
        raise InputError(f"{str(path)[:200]!r} is not a usable path ({exc})") from None
    if not any(resolved.is_relative_to(root.resolve()) for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise InputError(f"{path} is outside the allowed folders ({allowed}); copy it into one of them")
    return resolved


class _Budget:
    """Characters substitution has produced so far; past ``MAX_SUBSTITUTED_CHARS`` it stops."""

    def __init__(self) -> None:
        self.used = 0

    def spend(self, text: str) -> str:
        self.used += len(text)
        if self.used > MAX_SUBSTITUTED_CHARS:
            raise PlanError(f"filling in the inputs makes more than {MAX_SUBSTITUTED_CHARS >> 20} MiB of text; use fewer or shorter ${{...}} values")
        return text


def _substitute(value: Any, values: dict[str, Any], budget: _Budget) -> Any:
    """Fill ``${name}`` placeholders (the shape was checked, so the recursion is bounded)."""
    if isinstance(value, dict):
        return {k: _substitute(v, values, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, values, budget) for v in value]
    if not isinstance(value, str):
        return value
    whole = PLACEHOLDER.fullmatch(value.strip())
    if whole and whole.group(1) in values:
        filled = values[whole.group(1)]
        if isinstance(filled, str):
            budget.spend(filled)
        return filled
    return budget.spend(PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), value))


def compile_workflow(
    workflow: Workflow,
    session: Session,
    given: dict[str, Any],
    *,
    base_dir: Path,
    roots: list[Path],
) -> Plan:
    """Fill inputs (given, else defaults), import file inputs into the session, substitute."""
    unknown = set(given) - set(workflow.inputs)
    if unknown:
        raise InputError(f"unknown input(s) {', '.join(sorted(unknown))}; the workflow takes: {', '.join(workflow.inputs) or 'none'}")
    values: dict[str, Any] = {}
    for name, spec in workflow.inputs.items():
        if name in given:
            value, relative_to = spec.coerce(name, given[name]), Path.cwd()
        elif spec.default is not None:
            value, relative_to = spec.coerce(name, spec.default), base_dir
        else:
            raise InputError(f"input '{name}' ({spec.type}) has no default; give it with --set {name}=...")
        if spec.is_file:
            if ARTIFACT_ID.match(value):
                artifact = session.get(value)
                if artifact.kind != spec.type:
                    raise InputError(f"input '{name}' needs a {spec.type}, but {value} is a {artifact.kind}")
            else:
                path = Path(value).expanduser()
                path = _confined(path if path.is_absolute() else relative_to / path, roots)
                try:
                    artifact = session.import_file(path, Kind(spec.type))
                except InputError as exc:
                    raise InputError(f"input '{name}': {exc}") from None
            value = f"${{{artifact.id}}}"
        values[name] = value
    budget = _Budget()
    steps = [Step(id=s.id, tool=s.tool, args=_substitute(s.args, values, budget), after=s.after) for s in workflow.steps]
    outputs = {k: _substitute(v, values, budget) for k, v in workflow.outputs.items()}
    return Plan(steps=steps, outputs=outputs)
