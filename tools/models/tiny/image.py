"""Tiny Stable Diffusion parts and condition estimators: ``UNet2DConditionModel``, ``AutoencoderKL``,
``CLIPTextModel`` + ``CLIPTokenizer``, ``ControlNetModel``, ``DPTForDepthEstimation``,
``VitPoseForPoseEstimation`` at the sizes diffusers uses in its own pipeline tests (``get_dummy_components``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

CROSS_DIM = 32
BLOCKS = (32, 64)


def _byte_vocab() -> dict[str, int]:
    """CLIP's byte-level alphabet, each byte alone and as a word end, plus the two specials.

    With no merges every character is a token, so a sentence of n characters is about n tokens:
    a real 200-token prompt is easy to write in a test.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + extra)
            extra += 1
    chars = [chr(c) for c in codes]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({f"{c}</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def _unet(in_channels: int = 4, **extra):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        block_out_channels=BLOCKS,
        layers_per_block=1,
        sample_size=32,
        in_channels=in_channels,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=CROSS_DIM,
        norm_num_groups=32,
        **extra,
    )


def _build_sd(dest: Path) -> None:
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab = _byte_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=vocab["<|startoftext|>"],
            eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=vocab["<|endoftext|>"],
            hidden_size=CROSS_DIM,
            intermediate_size=37,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(vocab),
            max_position_embeddings=77,
        )
    )
    vae = AutoencoderKL(
        block_out_channels=list(BLOCKS),
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
        norm_num_groups=32,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False, steps_offset=1
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=_unet(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(dest)


def _build_unet(in_channels: int, **extra) -> Callable[[Path], None]:
    def build(dest: Path) -> None:
        _unet(in_channels, **extra).save_pretrained(dest / "unet")

    return build


def _build_gligen_unet(dest: Path) -> None:
    """GLIGEN's gated UNet; its gates start at zero (tanh(0) = 0: boxes ignored), so they are opened
    here for the same reason as the ControlNet's output convolutions below."""
    import torch

    unet = _unet(4, attention_type="gated")
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if name.endswith(("alpha_attn", "alpha_dense")):
                param.fill_(1.0)
    unet.save_pretrained(dest / "unet")


def _build_controlnet(dest: Path) -> None:
    import torch
    from diffusers import ControlNetModel

    controlnet = ControlNetModel(
        block_out_channels=BLOCKS,
        layers_per_block=1,
        in_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        cross_attention_dim=CROSS_DIM,
        conditioning_embedding_out_channels=(16, 32),
        norm_num_groups=32,
    )
    # A fresh ControlNet's output convolutions are zero (training starts from "no effect"), so an
    # untrained one would ignore its condition; random ones let tests see the condition arrive
    # (as diffusers' own ControlNet pipeline tests do).
    with torch.no_grad():
        zero = [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block, controlnet.controlnet_cond_embedding.conv_out]
        for conv in zero:
            torch.nn.init.normal_(conv.weight, std=0.1)
    controlnet.save_pretrained(dest)


def _build_depth(dest: Path) -> None:
    """A tiny DPT (the architecture of Intel/dpt-hybrid-midas, without the hybrid backbone)."""
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    config = DPTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=CROSS_DIM,
        num_hidden_layers=4,
        backbone_out_indices=[0, 1, 2, 3],
        num_attention_heads=4,
        intermediate_size=37,
        neck_hidden_sizes=[16, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=16,
        is_hybrid=False,
    )
    DPTForDepthEstimation(config).save_pretrained(dest)
    DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(dest)


def _build_pose(dest: Path) -> None:
    """A tiny ViTPose (the architecture of usyd-community/vitpose-base-simple): 17 COCO keypoints."""
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation, VitPoseImageProcessor

    backbone = VitPoseBackboneConfig(
        image_size=[64, 48], patch_size=[8, 8], hidden_size=CROSS_DIM, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=37, out_indices=[2],
    )
    VitPoseForPoseEstimation(VitPoseConfig(backbone_config=backbone, use_simple_decoder=True, num_labels=17)).save_pretrained(dest)
    VitPoseImageProcessor(size={"height": 64, "width": 48}).save_pretrained(dest)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "sd": _build_sd,
    "sd-inpaint": _build_unet(9),
    "sd-pix2pix": _build_unet(8),
    "sd-gligen": _build_gligen_unet,
    "controlnet": _build_controlnet,
    "dpt": _build_depth,
    "vitpose": _build_pose,
}
