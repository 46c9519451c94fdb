"""Condition estimators for ControlNet (depth maps, body keypoints), loaded through the pool.

They are transformers checkpoints named by the profile's ``depth_estimator`` / ``pose_estimator``
roles: ``AutoModelForDepthEstimation`` (DPT, Depth Anything...) and ``VitPoseForPoseEstimation``
with their image processors. Loaded lazily, once per pool, like every other model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tools.errors import ConfigError
from tools.models.diffusion import device_and_dtype, guarded_load, resolve

if TYPE_CHECKING:
    from tools.models.pool import ModelPool

SUGGESTED = {
    "depth_estimation": "Intel/dpt-hybrid-midas",
    "pose_estimation": "usyd-community/vitpose-base-simple",
}


@dataclass
class Estimator:
    """A loaded estimator: the model and the processor that prepares its input."""

    model: Any
    processor: Any
    device: Any

    @property
    def components(self) -> dict[str, Any]:
        """What the pool measures against its memory budget (as for a pipeline)."""
        return {"model": self.model}


def builtin_pose(pool: ModelPool) -> bool:
    """True when body keypoints come from the built-in trained MoveNet (``tools.perception``), on any
    profile: the profile names no pose estimator, or only an untrained tiny one."""
    spec = pool.profile.roles.get("pose_estimator")
    return spec is None or spec.is_tiny


def estimator_role(pool: ModelPool, role: str, task: str) -> None:
    """Fail with one message naming what to configure when the profile lacks ``role``."""
    profile = pool.profile
    spec = profile.roles.get(role)
    if spec is None:
        raise ConfigError(
            f"profile '{profile.name}' has no {task.replace('_', ' ')} model: add the role "
            f"`{role}: {{task: {task}, model: {SUGGESTED[task]}}}` to the profile file "
            f"(or give a ready-made condition image with extract=false)"
        )
    if spec.task != task:
        raise ConfigError(f"role '{role}' of profile '{profile.name}' has task '{spec.task}', expected '{task}'")


def load_estimator(pool: ModelPool, role: str, task: str) -> Estimator:
    """The estimator for ``role`` (checked to be a ``task`` model), loaded on first use."""
    estimator_role(pool, role, task)
    spec = pool.profile.role(role)

    def loader() -> Estimator:
        import transformers

        device, _ = device_and_dtype(pool.device)
        ref = resolve(pool, spec.model)
        cls = transformers.AutoModelForDepthEstimation if task == "depth_estimation" else transformers.VitPoseForPoseEstimation
        # fp32 everywhere: estimators are small, and their post-processing expects fp32 outputs
        model = guarded_load(pool, role, spec, lambda: cls.from_pretrained(ref, revision=spec.revision))
        processor = guarded_load(pool, role, spec, lambda: transformers.AutoImageProcessor.from_pretrained(ref, revision=spec.revision))
        return Estimator(model.to(device).eval(), processor, device)

    return pool.get(f"estimator:{task}:{spec.model_ref()}", loader)
