"""LLMGA loading code on tiny random checkpoints written in LLMGA's layout (LLaMA and Qwen2)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
import torch
from langchain_core.messages import HumanMessage, SystemMessage
from PIL import Image
from safetensors.torch import save_file

from agent.llm import llmga
from agent.llm.llmga import LLMGABackend, load_llmga, render_prompt
from tools.errors import ConfigError
from tools.llm.protocol import LLMBackend
from tools.llm.tags import extract_gen_image_prompts

WORDS = "a the car road red blue truck image gen_image USER ASSISTANT : . , make it bigger sky".split()


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["<unk>", "<s>", "</s>", "<pad>", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>")


def write_tiny_checkpoint(root: Path, base: str) -> tuple[Path, dict[str, torch.Tensor]]:
    """An LLMGA-layout folder: config.json with mm_* keys, one safetensors file holding the LLM and
    ``model.mm_projector.*``, tokenizer files, and a separate tiny CLIP vision tower folder."""
    from transformers import AutoConfig, AutoModelForCausalLM, CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    tower_dir = root / "clip-tiny"
    vision_cfg = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8)
    CLIPVisionModel(vision_cfg).save_pretrained(tower_dir)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(tower_dir)

    tokenizer = _tokenizer()
    common = dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=3)
    lm = AutoModelForCausalLM.from_config(AutoConfig.for_model(base, **common)).eval()
    state = {k: v.contiguous() for k, v in lm.state_dict().items()}
    projector = {"model.mm_projector.0.weight": torch.randn(32, 16), "model.mm_projector.0.bias": torch.randn(32),
                 "model.mm_projector.2.weight": torch.randn(32, 32), "model.mm_projector.2.bias": torch.randn(32)}
    ckpt = root / f"llmga-tiny-{base}"
    ckpt.mkdir()
    save_file({**state, **projector}, str(ckpt / "model.safetensors"), metadata={"format": "pt"})
    tokenizer.save_pretrained(ckpt)
    config = {**common, "model_type": {"llama": "llava", "qwen2": "llava_qwen2"}[base], "architectures": ["LlavaLlamaForCausalLM"],
              "mm_vision_tower": str(tower_dir), "mm_hidden_size": 16, "mm_projector_type": "mlp2x_gelu",
              "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch", "mm_use_im_start_end": False}
    (ckpt / "config.json").write_text(json.dumps(config))
    return ckpt, {**state, **projector}


@pytest.fixture(autouse=True)
def _fresh_cache():
    llmga._LOADED.clear()
    yield
    llmga._LOADED.clear()


@pytest.mark.parametrize("base", ["llama", "qwen2"])
def test_tiny_checkpoint_loads_weights_and_generates(tmp_path: Path, base: str) -> None:
    ckpt, written = write_tiny_checkpoint(tmp_path, base)
    backend = LLMGABackend(checkpoint=ckpt, device="cpu")
    assert isinstance(backend, LLMBackend)

    state = backend.loaded()
    # The LLM and the projector hold the written weights, not a fresh random init.
    assert torch.equal(state.model.get_input_embeddings().weight, written["model.embed_tokens.weight"])
    assert torch.equal(state.projector[2].weight, written["model.mm_projector.2.weight"])
    assert type(state.model).__name__.lower().startswith(base)
    assert state._vision is None  # no image yet: the tower is not loaded

    messages = [SystemMessage("make it bigger"), HumanMessage("a red car")]
    first = backend.generate(messages, max_tokens=6)
    second = backend.generate(messages, max_tokens=6)
    assert first.text == second.text  # greedy decoding is deterministic
    assert 1 <= first.completion_tokens <= 6 and first.prompt_tokens > 0
    assert load_llmga(ckpt, device="cpu") is state  # loaded once per process


def test_image_blocks_are_spliced_as_projected_patches(tmp_path: Path) -> None:
    ckpt, _ = write_tiny_checkpoint(tmp_path, "llama")
    backend = LLMGABackend(checkpoint=ckpt, device="cpu")
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(buf, format="PNG")
    picture = {"type": "image", "source_type": "base64", "data": base64.b64encode(buf.getvalue()).decode(), "mime_type": "image/png"}
    text_only = backend.generate([HumanMessage("the car")], max_tokens=2)
    with_image = backend.generate([HumanMessage(content=[picture, {"type": "text", "text": "the car"}])], max_tokens=2)
    # 32 px / 8 px patches = 16 patch features replace one placeholder in the prompt
    assert with_image.prompt_tokens == text_only.prompt_tokens + 16
    assert backend.loaded()._vision is not None


def test_schema_goes_into_the_prompt(tmp_path: Path) -> None:
    ckpt, _ = write_tiny_checkpoint(tmp_path, "llama")
    state = load_llmga(ckpt, device="cpu")
    turns = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert render_prompt(state.tokenizer, turns, "vicuna_v1") == "S USER: U ASSISTANT:"
    assert render_prompt(state.tokenizer, turns, "llama_2") == "[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST]"


def test_missing_pieces_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an LLMGA checkpoint"):
        load_llmga(tmp_path, device="cpu")
    ckpt, _ = write_tiny_checkpoint(tmp_path, "llama")
    backend = LLMGABackend(checkpoint=ckpt, device="cpu", vision_tower=str(tmp_path / "no-such-tower"))
    picture = {"type": "image", "path": str(tmp_path / "p.png")}
    Image.new("RGB", (8, 8)).save(tmp_path / "p.png")
    with pytest.raises(ConfigError, match="vision tower"):
        backend.generate([HumanMessage(content=[picture])], max_tokens=1)


def test_llmga_style_answer_yields_detailed_prompt() -> None:
    answer = "Here you go. <gen_image>A big blue truck on a coastal road, golden hour, 35mm photo</gen_image></s>"
    assert extract_gen_image_prompts(answer) == ["A big blue truck on a coastal road, golden hour, 35mm photo"]


@pytest.mark.real_weights
@pytest.mark.gpu
def test_real_llmga_checkpoint(tmp_path: Path) -> None:
    """Set LLMGA_TEST_CHECKPOINT to a downloaded LLMGA folder (its CLIP tower in the HF cache)."""
    import os

    path = os.environ.get("LLMGA_TEST_CHECKPOINT")
    if not path:
        pytest.skip("LLMGA_TEST_CHECKPOINT not set")
    backend = LLMGABackend(checkpoint=Path(path))
    gen = backend.generate([HumanMessage("Generate an image of a cat on a sofa.")], max_tokens=200)
    assert extract_gen_image_prompts(gen.text), gen.text
