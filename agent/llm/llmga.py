"""LLMGA checkpoints (LLaVA-style MLLM) loaded with plain transformers, no vendored LLaVA code.

Layout of a checkpoint folder (as dvlab-research/LLMGA saves it):

- ``config.json``: the language model's config with ``model_type`` ``llava`` / ``llava_llama``
  (LLaMA), ``llava_qwen2`` / ``llava_Qwen2`` (Qwen2), ``llava_mistral``, ``llava_gemma`` or
  ``llava_phi3``, plus the multimodal keys ``mm_vision_tower`` (a CLIP vision model id or folder),
  ``mm_hidden_size``, ``mm_projector_type`` (``linear``, ``mlp2x_gelu``, ...),
  ``mm_vision_select_layer`` (usually -2) and ``mm_vision_select_feature`` (``patch``);
- weights (``model.safetensors`` / ``pytorch_model.bin``, sharded or not): the LLM under
  ``model.*`` / ``lm_head.*`` and the projector under ``model.mm_projector.*``;
- tokenizer files. The CLIP vision tower is *not* inside: it loads from ``mm_vision_tower``.

The model writes its detailed prompt for the image generator between ``<gen_image>`` tags; read
them with ``tools.llm.tags.extract_gen_image_prompts(generation.text)``. Images reach the model as
LangChain image content blocks (``{"type": "image", "path": ...}`` or base64 ``data``), spliced
in as projected CLIP patch features, as LLaVA does. The vision tower loads only when an image
comes. Decoding cannot be constrained here: a JSON schema is added to the system prompt and the
planner validates the reply.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage

from agent.llm.chat import BackendError, message_role, schema_instruction
from tools.errors import ConfigError
from tools.llm.protocol import Generation, cut_at

log = logging.getLogger(__name__)

IMAGE_PLACEHOLDER = "<image>"
LLAVA_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)
#: LLaVA/LLMGA ``model_type`` -> the transformers model type of the language model inside.
BASE_MODEL_TYPES = {
    "llava": "llama",
    "llava_llama": "llama",
    "llmga": "llama",
    "llava_qwen2": "qwen2",
    "llava_mistral": "mistral",
    "llava_gemma": "gemma",
    "llava_phi3": "phi3",
}
_PROJECTOR_PREFIX = "model.mm_projector."
_NOT_LLM = ("model.mm_projector.", "model.vision_tower.", "model.image_newline")


# ---------------------------------------------------------------------------------------------
# Reading the checkpoint


def read_checkpoint_config(path: Path) -> dict[str, Any]:
    config_file = Path(path) / "config.json"
    if not config_file.is_file():
        raise ConfigError(
            f"{path} is not an LLMGA checkpoint (no config.json). Download one (e.g. the LLMGA-v1.5 "
            "checkpoints listed in github.com/dvlab-research/LLMGA) and pass its folder as --planner-checkpoint / LLMGA_PLANNER_CHECKPOINT"
        )
    return json.loads(config_file.read_text())


def text_config(raw: dict[str, Any]) -> Any:
    """The language model's transformers config from an LLMGA ``config.json``."""
    from transformers import AutoConfig

    model_type = str(raw.get("model_type", "")).lower()
    base = BASE_MODEL_TYPES.get(model_type)
    if base is None:
        raise ConfigError(f"unsupported LLMGA model_type {raw.get('model_type')!r}; known: {', '.join(sorted(BASE_MODEL_TYPES))}")
    fields = {k: v for k, v in raw.items() if k not in ("model_type", "architectures", "auto_map", "transformers_version")}
    return AutoConfig.for_model(base, **fields)


def build_projector(projector_type: str, mm_hidden_size: int, hidden_size: int) -> Any:
    """LLaVA's projector, with the same module indices so its state-dict keys load unchanged."""
    from torch import nn

    if projector_type == "linear":
        return nn.Linear(mm_hidden_size, hidden_size)
    if projector_type == "identity":
        return nn.Identity()
    match = re.fullmatch(r"mlp(\d+)x_gelu", projector_type)
    if match:
        layers: list[nn.Module] = [nn.Linear(mm_hidden_size, hidden_size)]
        for _ in range(int(match.group(1)) - 1):
            layers += [nn.GELU(), nn.Linear(hidden_size, hidden_size)]
        return nn.Sequential(*layers)
    raise ConfigError(f"unsupported mm_projector_type {projector_type!r} (known: linear, identity, mlpNx_gelu)")


def _weight_files(path: Path) -> list[Path]:
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = path / index_name
        if index.is_file():
            names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            return [path / n for n in names]
    files = sorted(path.glob("model*.safetensors")) or sorted(path.glob("pytorch_model*.bin"))
    extra = path / "mm_projector.bin"  # projector-only checkpoints on top of a base LLM
    return files + ([extra] if extra.is_file() else [])


def _read_tensors(file: Path, prefix: str) -> dict[str, Any]:
    if file.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(file), framework="pt") as handle:
            return {k: handle.get_tensor(k) for k in handle.keys() if k.startswith(prefix)}
    import torch

    state = torch.load(file, map_location="cpu", weights_only=True)
    return {k: v for k, v in state.items() if k.startswith(prefix)}


def load_projector_state(path: Path) -> dict[str, Any]:
    """The projector's weights, keys relative to the projector (``0.weight``, ``2.bias``, ...)."""
    state: dict[str, Any] = {}
    for file in _weight_files(path):
        for key, value in _read_tensors(file, _PROJECTOR_PREFIX).items():
            state[key[len(_PROJECTOR_PREFIX) :]] = value
    if not state:
        raise ConfigError(f"no mm_projector weights found in {path}: not an LLMGA/LLaVA checkpoint, or an incomplete download")
    return state


# ---------------------------------------------------------------------------------------------
# The loaded model


@dataclass
class LoadedLLMGA:
    path: Path
    config: dict[str, Any]
    tokenizer: Any
    model: Any
    projector: Any
    device: str
    dtype: Any
    vision_tower_id: str | None
    _vision: tuple[Any, Any] | None = None
    _vision_lock: threading.Lock = field(default_factory=threading.Lock)

    def vision(self) -> tuple[Any, Any]:
        """(CLIPVisionModel, CLIPImageProcessor), loaded on the first image."""
        with self._vision_lock:
            if self._vision is None:
                from transformers import CLIPImageProcessor, CLIPVisionModel

                if not self.vision_tower_id:
                    raise ConfigError(f"{self.path}/config.json names no mm_vision_tower; set the llmga planner's vision_tower option")
                try:
                    tower = CLIPVisionModel.from_pretrained(self.vision_tower_id, dtype=self.dtype).to(self.device).eval()
                    processor = CLIPImageProcessor.from_pretrained(self.vision_tower_id)
                except OSError as exc:
                    raise ConfigError(
                        f"cannot load the CLIP vision tower {self.vision_tower_id!r}: {exc}. Download it "
                        f"(huggingface-cli download {self.vision_tower_id}) or point the vision_tower option at a local folder"
                    ) from exc
                self._vision = (tower, processor)
            return self._vision

    def image_features(self, images: Sequence[Any]) -> Any:
        """Projected patch features, one ``[patches, hidden]`` tensor per image."""
        import torch

        tower, processor = self.vision()
        pixels = processor(images=list(images), return_tensors="pt")["pixel_values"].to(self.device, self.dtype)
        with torch.no_grad():
            out = tower(pixels, output_hidden_states=True)
            feats = out.hidden_states[int(self.config.get("mm_vision_select_layer", -2))]
            select = self.config.get("mm_vision_select_feature", "patch")
            if select == "patch":
                feats = feats[:, 1:]
            elif select != "cls_patch":
                raise ConfigError(f"unsupported mm_vision_select_feature {select!r}")
            return self.projector(feats)


_LOADED: dict[tuple[str, str, str, str | None], LoadedLLMGA] = {}
_LOADED_LOCK = threading.Lock()


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("the llmga planner was asked for CUDA but no GPU is visible; use device='cpu' (slow) or another planner")
    return device


def load_llmga(path: Path, *, device: str = "auto", dtype: str = "auto", vision_tower: str | None = None) -> LoadedLLMGA:
    """Load a checkpoint once per process (keyed by path, device, dtype and vision tower)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path).expanduser().resolve()
    device = resolve_device(device)
    if dtype == "auto":
        dtype = "float16" if device.startswith("cuda") else "float32"
    key = (str(path), device, dtype, vision_tower)
    with _LOADED_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        raw = read_checkpoint_config(path)
        torch_dtype = getattr(torch, dtype)
        started = time.perf_counter()
        config = text_config(raw)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load the tokenizer in {path}: {exc}") from exc
        model = AutoModelForCausalLM.from_pretrained(path, config=config, dtype=torch_dtype)
        model.to(device).eval()
        projector = build_projector(str(raw.get("mm_projector_type", "linear")), int(raw["mm_hidden_size"]), int(config.hidden_size))
        projector.load_state_dict(load_projector_state(path))
        projector.to(device=device, dtype=torch_dtype).eval()
        loaded = LoadedLLMGA(
            path=path,
            config=raw,
            tokenizer=tokenizer,
            model=model,
            projector=projector,
            device=device,
            dtype=torch_dtype,
            vision_tower_id=vision_tower or raw.get("mm_vision_tower"),
        )
        log.info("loaded LLMGA %s on %s in %.1f s", path, device, time.perf_counter() - started)
        _LOADED[key] = loaded
        return loaded


# ---------------------------------------------------------------------------------------------
# Prompting


def _image_from_block(block: dict[str, Any]) -> Any:
    from PIL import Image

    if block.get("type") == "image_url":
        url = block["image_url"]["url"] if isinstance(block.get("image_url"), dict) else block.get("image_url")
        if not str(url).startswith("data:"):
            raise BackendError("the llmga backend reads images from files or data: URLs only")
        data = base64.b64decode(str(url).split(",", 1)[1])
        return Image.open(io.BytesIO(data)).convert("RGB")
    if block.get("path"):
        return Image.open(block["path"]).convert("RGB")
    data = block.get("data") or block.get("base64")
    if data:
        return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
    raise BackendError(f"image block without path or data: {sorted(block)}")


def split_messages(messages: Sequence[BaseMessage]) -> tuple[list[dict[str, str]], list[Any]]:
    """Chat dicts with ``<image>`` placeholders, and the images in placeholder order."""
    turns: list[dict[str, str]] = []
    images: list[Any] = []
    for message in messages:
        content = message.content
        if isinstance(content, str):
            text = content.replace(IMAGE_PLACEHOLDER, " ")
        else:
            parts: list[str] = []
            for block in content:
                if isinstance(block, str):
                    parts.append(block.replace(IMAGE_PLACEHOLDER, " "))
                elif block.get("type") == "text":
                    parts.append(str(block.get("text", "")).replace(IMAGE_PLACEHOLDER, " "))
                elif block.get("type") in ("image", "image_url"):
                    images.append(_image_from_block(block))
                    parts.append(IMAGE_PLACEHOLDER)
            text = "\n".join(parts)
        role = message_role(message)
        turns.append({"role": role if role in ("system", "user", "assistant") else "user", "content": text})
    return turns, images


def render_prompt(tokenizer: Any, turns: list[dict[str, str]], template: str) -> str:
    """The prompt string: the tokenizer's chat template, or LLaVA's ``vicuna_v1`` / ``llama_2``."""
    if template == "auto":
        template = "chat_template" if getattr(tokenizer, "chat_template", None) else "vicuna_v1"
    if template == "chat_template":
        return tokenizer.apply_chat_template(turns, add_generation_prompt=True, tokenize=False)
    system = "\n".join(t["content"] for t in turns if t["role"] == "system") or LLAVA_SYSTEM
    dialogue = [t for t in turns if t["role"] != "system"]
    eos = tokenizer.eos_token or "</s>"
    if template == "vicuna_v1":
        text = system + " "
        for turn in dialogue:
            if turn["role"] == "user":
                text += f"USER: {turn['content']} "
            else:
                text += f"ASSISTANT: {turn['content']}{eos}"
        return text + "ASSISTANT:"
    if template == "llama_2":
        text, first = "", True
        for turn in dialogue:
            if turn["role"] == "user":
                content = f"<<SYS>>\n{system}\n<</SYS>>\n\n{turn['content']}" if first else turn["content"]
                text += f"[INST] {content} [/INST]"
                first = False
            else:
                text += f" {turn['content']} {eos}"
        return text
    raise ConfigError(f"unknown conversation template {template!r} (auto, chat_template, vicuna_v1, llama_2)")


@dataclass
class LLMGABackend:
    checkpoint: Path
    device: str = "auto"
    dtype: str = "auto"
    vision_tower: str | None = None
    conv_template: str = "auto"
    name: str = ""
    accepts_images: bool = True

    def __post_init__(self) -> None:
        self.name = self.name or f"llmga:{Path(self.checkpoint).name}"

    def loaded(self) -> LoadedLLMGA:
        return load_llmga(Path(self.checkpoint), device=self.device, dtype=self.dtype, vision_tower=self.vision_tower)

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
        import torch

        if not messages:
            raise ValueError("generate() needs at least one message")
        state = self.loaded()
        turns, images = split_messages(messages)
        if json_schema is not None:
            turns.insert(0, {"role": "system", "content": schema_instruction(json_schema)})
        prompt = render_prompt(state.tokenizer, turns, self.conv_template)
        embeds = self._embed(state, prompt, images)
        attention = torch.ones(embeds.shape[:2], dtype=torch.long, device=state.device)
        kwargs: dict[str, Any] = {"max_new_tokens": max_tokens, "do_sample": temperature > 0}
        if temperature > 0:
            kwargs["temperature"] = temperature
        pad = state.tokenizer.pad_token_id if state.tokenizer.pad_token_id is not None else state.tokenizer.eos_token_id
        started = time.perf_counter()
        # Sampling draws from torch's RNG: fork it so a seed stays local to this call.
        with torch.random.fork_rng(devices=[torch.device(state.device)] if state.device.startswith("cuda") else []), torch.no_grad():
            if seed is not None:
                torch.manual_seed(seed)
            out = state.model.generate(inputs_embeds=embeds, attention_mask=attention, pad_token_id=pad, **kwargs)
        elapsed = time.perf_counter() - started
        # With inputs_embeds only, generate returns just the new tokens.
        new_tokens = out[0]
        text = cut_at(state.tokenizer.decode(new_tokens, skip_special_tokens=True).strip(), stop)
        return Generation(text=text, prompt_tokens=int(embeds.shape[1]), completion_tokens=int(new_tokens.shape[0]), seconds=elapsed)

    @staticmethod
    def _embed(state: LoadedLLMGA, prompt: str, images: list[Any]) -> Any:
        """Token embeddings of the prompt with each ``<image>`` replaced by its patch features."""
        import torch

        segments = prompt.split(IMAGE_PLACEHOLDER)
        if len(segments) - 1 != len(images):
            raise BackendError(f"prompt has {len(segments) - 1} image slots for {len(images)} images")
        features = state.image_features(images) if images else []
        embed = state.model.get_input_embeddings()
        pieces = []
        for i, segment in enumerate(segments):
            ids = state.tokenizer(segment, add_special_tokens=(i == 0), return_tensors="pt")["input_ids"].to(state.device)
            if ids.shape[1]:
                pieces.append(embed(ids)[0])
            if i < len(images):
                pieces.append(features[i].to(pieces[-1].dtype if pieces else state.dtype))
        if not pieces:
            raise BackendError("empty prompt")
        return torch.cat(pieces, dim=0).unsqueeze(0)
