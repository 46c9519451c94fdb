"""Diffusers pipelines by role, built on ``ModelPool.get``.

A role with no ``base`` is a whole pipeline loaded with ``from_pretrained``. A role with a ``base``
is a sibling made with ``from_pipe``: it reuses the base's modules (text encoder, VAE, often the
UNet) and loads only what differs (an inpainting UNet, a ControlNet). So text-to-image, img2img,
inpaint and ControlNet on one profile cost one set of weights plus the differences, and a second
request for any of them loads nothing.

Device and dtype are chosen once per pool: CUDA with fp16 when there is a GPU, CPU with fp32
otherwise. ``offload="auto"`` turns on diffusers' model CPU offload when the GPU is small.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tools.errors import ConfigError
from tools.models.profile import TINY_PREFIX, WHOLE_TASKS, Profile, RoleSpec

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline

    from tools.models.pool import ModelPool

SMALL_GPU_BYTES = 12 * 2**30
"""Below this much GPU memory ``offload="auto"`` keeps idle modules on the CPU."""

UNTRAINED_NOTICE = (
    "model profile '{name}' uses tiny UNTRAINED weights: images are noise, not pictures. "
    "Set LLMGA_PROFILE=sd15, sdxl or llmga-sd15 (see `llmga models list`) for real results."
)

COMPONENT_CLASSES = {"unet": "UNet2DConditionModel", "vae": "AutoencoderKL", "text_encoder": "CLIPTextModel"}


def device_and_dtype(device: str | None = None) -> tuple[Any, Any]:
    """fp16 on CUDA (half the memory, same pictures), fp32 on CPU (fp16 matmuls are slow or missing there)."""
    import torch

    name = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    return dev, (torch.float16 if dev.type == "cuda" else torch.float32)


def wants_offload(mode: str, device: Any) -> bool:
    if mode == "none" or device.type != "cuda":
        return False
    if mode in ("model", "sequential"):
        return True
    import torch

    return torch.cuda.get_device_properties(device).total_memory < SMALL_GPU_BYTES


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("llmga", appauthor=False)) / "models"


def resolve(pool: ModelPool, model: str) -> str:
    """A loadable reference: a tiny build's folder, an existing local folder, or a hub id."""
    if model.startswith(TINY_PREFIX):
        from tools.models.tiny import tiny_dir

        quiet_loading()  # a first tiny build saves with save_pretrained, which draws its own bar
        return str(tiny_dir(model.removeprefix(TINY_PREFIX), pool.cache_dir or default_cache_dir()))
    local = Path(model).expanduser()
    if local.is_dir():
        return str(local)
    if model.startswith(("/", "./", "../", "~")):
        raise ConfigError(f"model folder {model} does not exist (named in profile '{pool.profile.name}')")
    return model


def missing_weights(profile: Profile, role: str, model: str, exc: BaseException) -> ConfigError:
    """The one message a user sees when weights are not on this machine."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
    where = "offline mode (HF_HUB_OFFLINE=1) and not in the local cache" if offline else "not available"
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return ConfigError(
        f"model '{model}' for role '{role}' of profile '{profile.name}' is {where}. "
        f"Get it with `llmga models pull {profile.source}` on a machine with network access "
        f"(or copy the Hugging Face cache, HF_HOME), or choose another profile with LLMGA_PROFILE. "
        f"({type(exc).__name__}: {first})"
    )


def quiet_loading() -> None:
    """Silence the libraries' own "Loading pipeline components" / checkpoint-shard bars: they write to the
    terminal of whoever hosts the pool (CLI, HTTP service, LangGraph's server); llmga reports progress itself."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


def guarded_load(pool: ModelPool, role: str, spec: RoleSpec, make: Any) -> Any:
    """Run a ``from_pretrained`` call, turning 'not found / offline' into one clear ConfigError."""
    quiet_loading()
    try:
        return make()
    except ConfigError:
        raise
    except (OSError, ValueError) as exc:  # hub errors are OSError/ValueError subclasses
        raise missing_weights(pool.profile, role, spec.model_ref(), exc) from None


def pipeline_key(profile: Profile, role: str) -> str:
    """Pool key of a role's pipeline: roles that resolve to the same models share one entry."""
    spec = profile.role(role)
    return f"pipeline:{spec.task}:" + "+".join(spec.ids(profile))


def family_key(profile: Profile, role: str) -> str:
    """Key of the root pipeline a role's modules come from (siblings share its scheduler state)."""
    spec = profile.role(role)
    while spec.base is not None:
        role, spec = spec.base, profile.role(spec.base)
    return pipeline_key(profile, role)


def _auto_class(task: str, base: Any | None):
    import diffusers

    if task in ("text2img", "controlnet"):
        return diffusers.AutoPipelineForText2Image
    if task == "img2img":
        return diffusers.AutoPipelineForImage2Image
    if task == "inpaint":
        return diffusers.AutoPipelineForInpainting
    if task == "instruct_pix2pix":
        xl = base is not None and "XL" in type(base).__name__
        return diffusers.StableDiffusionXLInstructPix2PixPipeline if xl else diffusers.StableDiffusionInstructPix2PixPipeline
    if task == "gligen":
        return diffusers.StableDiffusionGLIGENPipeline
    if task == "ledits":
        xl = base is not None and "XL" in type(base).__name__
        return diffusers.LEditsPPPipelineStableDiffusionXL if xl else diffusers.LEditsPPPipelineStableDiffusion
    return diffusers.DiffusionPipeline


def _place(pool: ModelPool, pipe: Any) -> Any:
    device, dtype = device_and_dtype(pool.device)
    if wants_offload(pool.offload, device):
        if pool.offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=device)
        else:
            pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)  # weights already arrive in `dtype` from from_pretrained
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _extras(pool: ModelPool, role: str, spec: RoleSpec) -> dict[str, Any]:
    """The modules a sibling loads itself: a ControlNet, or named components of another model."""
    import diffusers

    _, dtype = device_and_dtype(pool.device)
    ref = resolve(pool, spec.model) if spec.model else None
    extras: dict[str, Any] = {}
    if spec.task == "controlnet":
        extras["controlnet"] = guarded_load(
            pool, role, spec, lambda: diffusers.ControlNetModel.from_pretrained(ref, dtype=dtype, revision=spec.revision)
        )
    if spec.task == "ledits":
        # LEDITS++ inverts with the SDE DPM-Solver++ and rewrites its scheduler's config while
        # inverting: it gets a scheduler of its own, so its siblings' sampling never changes.
        base = pool.pipeline(spec.base)
        extras["scheduler"] = diffusers.DPMSolverMultistepScheduler.from_config(
            base.scheduler.config, algorithm_type="sde-dpmsolver++", solver_order=2
        )
    for name in spec.components:
        cls = getattr(diffusers, COMPONENT_CLASSES[name], None)
        if cls is None:
            import transformers

            cls = getattr(transformers, COMPONENT_CLASSES[name])
        extras[name] = guarded_load(
            pool, role, spec, lambda cls=cls, name=name: cls.from_pretrained(ref, subfolder=name, dtype=dtype, revision=spec.revision)
        )
    return extras


def load_pipeline(pool: ModelPool, role: str) -> DiffusionPipeline:
    """The pipeline for ``role`` on the pool's profile, loading only what is not loaded yet."""
    profile = pool.profile
    spec = profile.role(role)
    if spec.task in (*WHOLE_TASKS, "animatediff"):
        raise ConfigError(f"role '{role}' of profile '{profile.name}' is a {spec.task} model, not an image pipeline")
    if profile.untrained:
        pool.notice_once("untrained", UNTRAINED_NOTICE.format(name=profile.name))
    key = pipeline_key(profile, role)
    if spec.base is None:
        def whole() -> Any:
            _, dtype = device_and_dtype(pool.device)
            ref = resolve(pool, spec.model)
            cls = _auto_class(spec.task, None)
            pipe = guarded_load(pool, role, spec, lambda: cls.from_pretrained(ref, dtype=dtype, revision=spec.revision))
            return _place(pool, pipe)

        return pool.get(key, whole)

    base = load_pipeline(pool, spec.base)  # also marks the base as recently used
    base_key = pipeline_key(profile, spec.base)

    def sibling() -> Any:
        extras = _extras(pool, role, spec)
        device, dtype = device_and_dtype(pool.device)
        if not wants_offload(pool.offload, device):
            for module in extras.values():
                if hasattr(module, "to"):  # modules, not schedulers
                    module.to(device)
        pipe = _auto_class(spec.task, base).from_pipe(base, **extras)
        pipe.set_progress_bar_config(disable=True)
        if wants_offload(pool.offload, device):
            _place(pool, pipe)
        return pipe

    # measured without the base's tensors: a sibling costs only the modules it added
    return pool.get(key, sibling, parent=base_key)
