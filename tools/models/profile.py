"""Model profiles: data files that map roles (``text2img``, ``inpaint``, ``controlnet_canny``,
``text2video``, ``music``...) to model ids or local folders.

A tool asks for a role, never for a checkpoint, so the same tool runs on tiny untrained models in
tests and on SD 1.5 / SDXL / LLMGA weights on a GPU machine by switching ``LLMGA_PROFILE``.
One file per profile holds its image, video and audio roles: ``tools/models/profiles/<name>.yaml``
(package data); a path to any ``.yaml`` works too.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from tools.artifacts import decode_text
from tools.errors import ConfigError

Task = Literal[
    "text2img", "img2img", "inpaint", "controlnet", "instruct_pix2pix", "gligen", "ledits", "depth_estimation", "pose_estimation",
    "animatediff", "svd", "musicgen", "audiogen",
]
ESTIMATOR_TASKS = ("depth_estimation", "pose_estimation")
"""Condition extractors for ControlNet: transformers models, loaded whole (never a pipeline sibling)."""
WHOLE_TASKS = (*ESTIMATOR_TASKS, "svd", "musicgen", "audiogen")
"""Tasks whose model loads by itself: ``model`` only, no ``base`` or ``components``."""
ADAPTER_TASKS = ("controlnet", "animatediff")
"""Tasks that put ``model`` (a ControlNet, a motion adapter) on the pipeline of the ``base`` role."""
TINY_PREFIX = "tiny:"


class RoleSpec(BaseModel):
    """How one role is made.

    Without ``base`` the role is a whole pipeline loaded from ``model``. With ``base`` it is a
    sibling of that role's pipeline made by ``from_pipe``: it reuses every module of the base and
    loads only ``components`` (e.g. an inpainting ``unet``) or, for ``controlnet``, the ControlNet
    from ``model``.
    """

    model_config = ConfigDict(extra="forbid")
    task: Task
    model: str | None = Field(None, description="hub id, local folder, or tiny:<name>")
    base: str | None = Field(None, description="role whose pipeline this one shares modules with")
    components: list[Literal["unet", "vae", "text_encoder"]] = Field(default_factory=list)
    revision: str | None = None
    variant: str | None = Field(None, description="weight variant loaded and pulled instead of the full-precision files (fp16)")
    requires: list[str] = Field(
        default_factory=list, description="other hub models the loader fetches by itself (audiocraft's T5), checked and pulled too"
    )
    note: str = ""

    @model_validator(mode="after")
    def _complete(self) -> RoleSpec:
        if self.base is None and self.model is None:
            raise ValueError("a role needs `model`, or `base` to share another role's pipeline")
        if self.task in ADAPTER_TASKS and (self.base is None or self.model is None):
            raise ValueError(f"a {self.task} role needs `base` (the role whose pipeline it extends) and `model` (what it adds)")
        if self.components and (self.base is None or self.model is None):
            raise ValueError("`components` needs both `base` and `model`")
        if self.task in WHOLE_TASKS and (self.model is None or self.base is not None or self.components):
            raise ValueError(f"a {self.task} role needs `model` only, no `base` or `components`")
        return self

    @property
    def is_tiny(self) -> bool:
        return bool(self.model and self.model.startswith(TINY_PREFIX))

    def model_ref(self) -> str:
        assert self.model is not None
        return f"{self.model}@{self.revision}" if self.revision else self.model

    def ids(self, profile: Profile) -> list[str]:
        """Every model this role's pipeline is made of, base first."""
        ids = profile.roles[self.base].ids(profile) if self.base else []
        if self.model is not None:
            ids.append(self.model_ref())
        return ids


class Profile(BaseModel):
    """A named set of roles; ``untrained`` profiles make noise and the program says so."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str
    untrained: bool = False
    roles: dict[str, RoleSpec]
    _source: str = PrivateAttr("")

    @property
    def source(self) -> str:
        """What names this profile on the command line: its bundled name, or the file it came from."""
        return self._source or self.name

    @model_validator(mode="after")
    def _bases_exist(self) -> Profile:
        for role, spec in self.roles.items():
            if spec.task == "animatediff" and spec.base in self.roles and self.roles[spec.base].task != "text2img":
                raise ValueError(f"role {role!r}: an animatediff role's base must be a text2img role, not {self.roles[spec.base].task!r}")
            seen = {role}
            base = spec.base
            while base is not None:
                if base not in self.roles:
                    raise ValueError(f"role {role!r} has base {base!r}, which the profile does not define")
                if base in seen:
                    raise ValueError(f"role {role!r}: bases form a cycle through {base!r}")
                seen.add(base)
                base = self.roles[base].base
        return self

    def role(self, role: str) -> RoleSpec:
        try:
            return self.roles[role]
        except KeyError:
            raise ConfigError(
                f"profile '{self.name}' has no model for role '{role}'; it has: {', '.join(sorted(self.roles))}"
            ) from None

    def role_of(self, role: str, task: str) -> RoleSpec:
        """``role``, checked to be a ``task`` model (a video tool must not load an image pipeline)."""
        spec = self.role(role)
        if spec.task != task:
            raise ConfigError(f"role '{role}' of profile '{self.name}' has task '{spec.task}', expected '{task}'")
        return spec


def _profiles_dir():  # a Traversable: works from a wheel as well as a checkout
    return resources.files("tools.models").joinpath("profiles")


def available_profiles() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in _profiles_dir().iterdir() if p.name.endswith(".yaml"))


def load_profile(name: str) -> Profile:
    """A bundled profile by name, or a profile file by path; errors say what exists."""
    if name.endswith((".yaml", ".yml")):
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(f"no profile file {path}")
        text, origin = decode_text(path.read_bytes(), str(path)), str(path)
        source = str(path)
    else:
        file = _profiles_dir().joinpath(f"{name}.yaml")
        if not file.is_file():
            raise ConfigError(f"unknown model profile '{name}'; available: {', '.join(available_profiles())} (or a path to a .yaml file)")
        text, origin, source = decode_text(file.read_bytes(), f"profile '{name}'"), f"profile '{name}'", name
    try:
        profile = Profile.model_validate(yaml.safe_load(text))
    except (ValidationError, yaml.YAMLError) as exc:
        raise ConfigError(f"{origin} is invalid: {exc}") from None
    profile._source = source
    return profile
