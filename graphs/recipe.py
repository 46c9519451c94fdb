"""From the recipe a PNG carries to a workflow that remakes it (``llmga workflow run IMAGE.png``).

Every PNG this program writes holds its own step and, under ``chain``, each ancestor's step back to
the files the user brought in, which are known only by content hash (``tools.artifacts._encode_png``).
``recipe_workflow`` turns that into an ordinary ``Workflow``: one step per recorded step (outputs of
one step share a recipe, so they collapse into one step), the imported files as inputs, the image
as the output. The same executor then runs it; the inputs are found by hash (``find_inputs``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from graphs.plan import Plan
from graphs.workflow import Workflow, WorkflowInput, compile_workflow
from tools.artifacts import PNG_RECIPE_KEY, Kind, Session, Workspace, load_import
from tools.errors import InputError

OUTPUT = "image"


def read_recipe(path: Path) -> dict[str, Any]:
    """The recipe chunk of a PNG made by llmga; an error naming the problem otherwise."""
    try:
        with Image.open(path) as img:
            raw = img.info.get(PNG_RECIPE_KEY)
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"{path} is not a readable image: {exc}") from None
    if not raw:
        raise InputError(f"{path.name} carries no llmga recipe (it was not made by llmga, or its text chunks were stripped)")
    try:
        recipe = json.loads(raw)
    except json.JSONDecodeError:
        raise InputError(f"{path.name}: its llmga recipe is not valid JSON") from None
    if not isinstance(recipe, dict) or "tool" not in recipe or "id" not in recipe:
        raise InputError(f"{path.name}: its llmga recipe lacks the step that made it")
    return recipe


def _step_key(node: dict[str, Any]) -> str:
    return json.dumps([node.get("tool"), node.get("args"), node.get("seed"), node.get("parents")], sort_keys=True)


def recipe_workflow(recipe: dict[str, Any], output_names: dict[str, dict[str, str]] | None = None) -> tuple[Workflow, dict[str, str]]:
    """The workflow that remakes the image, and each input's content hash (input name -> sha256).

    ``output_names`` (tool -> kind -> output name) settles the output name of a step recorded
    before outputs were named, when the tool has one output of that kind.
    """
    nodes: dict[str, dict[str, Any]] = {**recipe.get("chain", {}), recipe["id"]: recipe}
    inputs: dict[str, WorkflowInput] = {}
    hashes: dict[str, str] = {}
    steps: dict[str, dict[str, Any]] = {}  # step key -> step
    ref_of: dict[str, str] = {}  # artifact id -> "${...}" in the workflow
    order: list[str] = []

    def visit(artifact_id: str, trail: tuple[str, ...] = ()) -> str:
        if artifact_id in ref_of:
            return ref_of[artifact_id]
        if artifact_id in trail or artifact_id not in nodes:
            raise InputError(f"the recipe's chain is incomplete or circular at {artifact_id}; it cannot be re-run")
        node = nodes[artifact_id]
        kind = node.get("kind") or artifact_id.rsplit("-", 1)[0]
        if node["tool"] == "import":
            name = f"input_{len(inputs) + 1}"
            inputs[name] = WorkflowInput(type=kind, description=f"{node.get('args', {}).get('source', artifact_id)} (sha256 {node['sha256']})")
            hashes[name] = node["sha256"]
            ref_of[artifact_id] = f"${{{name}}}"
            return ref_of[artifact_id]
        key = _step_key(node)
        if key not in steps:
            args = dict(node.get("args") or {})
            for param, parent in (node.get("parents") or {}).items():
                if param in args:  # a text parameter: its text is already in the args
                    continue
                args[param] = visit(parent, (*trail, artifact_id))
            steps[key] = {"id": f"s{len(steps) + 1}_{node['tool']}"[:48], "tool": node["tool"], "args": args}
            order.append(key)
        output = node.get("output") or (output_names or {}).get(node["tool"], {}).get(kind)
        if not output:
            raise InputError(f"the recipe does not say which output of {node['tool']} {artifact_id} was; it cannot be re-run")
        ref_of[artifact_id] = f"${{{steps[key]['id']}.{output}}}"
        return ref_of[artifact_id]

    final = visit(recipe["id"])
    if not order:
        raise InputError("this image was imported, not made: there is nothing to re-run")
    workflow = Workflow.model_validate(
        {"name": f"remake {recipe['id']}", "description": "rebuilt from the recipe in a PNG", "inputs": inputs,
         "steps": [steps[k] for k in order], "outputs": {OUTPUT: final}}
    )  # fmt: skip
    return workflow, hashes


def remake_plan(path: Path, registry: Any, workspace: Workspace, session: Session, files: list[Path]) -> tuple[Plan, dict[str, Any]]:
    """The plan that remakes the PNG at ``path`` in ``session`` (inputs found by hash), and its recipe."""
    recipe = read_recipe(path)
    names: dict[str, dict[str, str]] = {}
    for tool in registry:
        by_kind: dict[str, list[str]] = {}
        for name, kind in tool.outputs.items():
            by_kind.setdefault(kind.value, []).append(name)
        names[tool.name] = {kind: found[0] for kind, found in by_kind.items() if len(found) == 1}
    workflow, hashes = recipe_workflow(recipe, names)
    kinds = {name: spec.type for name, spec in workflow.inputs.items()}
    given = find_inputs(hashes, kinds, workspace, session, files)
    return compile_workflow(workflow, session, given, base_dir=path.parent, roots=[workspace.root]), recipe


def find_inputs(hashes: dict[str, str], kinds: dict[str, str], workspace: Workspace, session: Session, files: list[Path]) -> dict[str, str]:
    """Each input as an artifact id in ``session``, found by content hash among ``files`` first, then
    in the workspace's sessions; one error listing whatever is missing."""
    found: dict[str, str] = {}
    wanted = {sha: name for name, sha in hashes.items()}
    for path in files:
        for kind in {kinds[name] for name in hashes}:
            try:
                _, digest = load_import(Path(path), Kind(kind), session.limits)
            except InputError:
                continue
            if digest in wanted and kinds[wanted[digest]] == kind:
                found[wanted[digest]] = session.import_file(Path(path), Kind(kind)).id
    for other in workspace.sessions():
        if len(found) == len(hashes):
            break
        source = workspace.session(other)
        for artifact in source.artifacts():
            name = wanted.get(artifact.sha256)
            if name and name not in found and artifact.kind.value == kinds[name]:
                value: Any = source.path(artifact)
                found[name] = session.add(artifact.kind, Image.open(value) if artifact.kind in (Kind.IMAGE, Kind.MASK) else value,
                                          tool="import", args={"source": f"{other}/{artifact.id}"}).id
    missing = [f"{name} (sha256 {hashes[name][:12]}…)" for name in hashes if name not in found]
    if missing:
        raise InputError(f"the image was made from files not found here: {', '.join(missing)}; give them with --input FILE")
    return found
