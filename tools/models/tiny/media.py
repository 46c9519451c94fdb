"""Tiny video and audio models at the sizes their libraries use in their own tests: diffusers'
``MotionAdapter`` (AnimateDiff) and Stable Video Diffusion parts, transformers'
``MusicgenForConditionalGeneration`` with a byte-level tokenizer, and audiocraft's ``EncodecModel`` +
``LMModel`` (the AudioGen layout, saved as two state dicts that ``audiogen_architecture`` loads back).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tools.models.tiny.image import BLOCKS

MUSICGEN_RATE = 16_000
MUSICGEN_RATIOS = [8, 5, 5, 8]
"""EnCodec hop of 1600 samples: 10 codec frames per second at 16 kHz keeps a 1 s test to 10 steps."""
AUDIOGEN_RATE = 16_000
AUDIOGEN_BINS = 400


def _build_motion_adapter(dest: Path) -> None:
    """A MotionAdapter whose blocks match the tiny SD UNet (32, 64 channels)."""
    from diffusers import MotionAdapter

    MotionAdapter(
        block_out_channels=BLOCKS,
        motion_layers_per_block=1,
        motion_norm_num_groups=32,
        motion_num_attention_heads=4,
        motion_max_seq_length=32,
    ).save_pretrained(dest)


def _build_svd(dest: Path) -> None:
    """Stable Video Diffusion at diffusers' test size (``get_dummy_components``)."""
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32,
        num_attention_heads=8,
        projection_class_embeddings_input_dim=96,
        addition_time_embed_dim=32,
    )
    scheduler = EulerDiscreteScheduler(
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        interpolation_type="linear",
        num_train_timesteps=1000,
        prediction_type="v_prediction",
        sigma_max=700.0,
        sigma_min=0.002,
        steps_offset=1,
        timestep_spacing="leading",
        timestep_type="continuous",
        use_karras_sigmas=True,
    )
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        latent_channels=4,
    )
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=224, intermediate_size=37, patch_size=32
        )
    )
    feature_extractor = CLIPImageProcessor(crop_size=32, size=32)
    StableVideoDiffusionPipeline(
        vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler, feature_extractor=feature_extractor
    ).save_pretrained(dest)


def byte_tokenizer():
    """A byte-level BPE tokenizer with no merges (every byte a token), made in code: no files to fetch."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    vocab.update({char: i + 3 for i, char in enumerate(sorted(alphabet))})
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def _build_musicgen(dest: Path) -> None:
    """MusicGen (T5 text encoder, EnCodec, delay-pattern decoder) at transformers' test sizes."""
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )

    tokenizer = byte_tokenizer()
    codebook = 64
    text = T5Config(
        vocab_size=len(tokenizer), d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4, pad_token_id=0, eos_token_id=1
    )
    audio = EncodecConfig(
        sampling_rate=MUSICGEN_RATE,
        audio_channels=1,
        hidden_size=32,
        num_filters=4,
        num_residual_layers=1,
        upsampling_ratios=MUSICGEN_RATIOS,
        codebook_size=codebook,
        codebook_dim=32,
        num_lstm_layers=1,
        target_bandwidths=[1.5],
        compress=1,
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=codebook,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        ffn_dim=37,
        num_codebooks=2,
        audio_channels=1,
        pad_token_id=codebook,
        bos_token_id=codebook,
        max_position_embeddings=256,
    )
    config = MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=audio.to_dict(), decoder=decoder.to_dict())
    model = MusicgenForConditionalGeneration(config)
    # EnCodec's codebooks start as zeros (k-means fills them in training): untrained, every code would
    # decode to the same sound, so give each code its own random vector
    import torch

    with torch.no_grad():
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.normal_()
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
            layer.codebook.inited.fill_(True)
    model.generation_config.decoder_start_token_id = codebook
    model.generation_config.pad_token_id = codebook
    model.generation_config.do_sample = True
    model.generation_config.guidance_scale = 3.0
    model.generation_config.max_length = 256
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)


def _build_audiogen(dest: Path) -> None:
    """AudioGen's layout (EnCodec compression model + LM with a text conditioner) at audiocraft's debug size.

    The compression model is audiocraft's own debug builder; the LM is its debug LM with a
    word-level lookup-table text conditioner. Saved as two state dicts plus nothing else: the
    loader rebuilds the same architecture (``audiogen_architecture``) and loads them.
    """
    import torch

    compression, lm = audiogen_architecture()
    torch.save(compression.state_dict(), dest / "compression_state_dict.pt")
    torch.save(lm.state_dict(), dest / "lm_state_dict.pt")


def audiogen_architecture():
    """The tiny AudioGen modules, untrained (audiocraft must be importable: see tools.media.audiocraft_support)."""
    from audiocraft.models import builders
    from audiocraft.models.lm import LMModel
    from audiocraft.modules.codebooks_patterns import DelayedPatternProvider
    from audiocraft.modules.conditioners import ConditionFuser, ConditioningProvider, LUTConditioner, WhiteSpaceTokenizer

    compression = builders.get_debug_compression_model("cpu", sample_rate=AUDIOGEN_RATE)
    dim = 16
    conditioner = LUTConditioner(n_bins=128, dim=dim, output_dim=dim, tokenizer="noop")
    # word-level tokens as AudioGen's debug LM uses, with spaCy's blank English pipeline (no model download)
    conditioner.tokenizer = WhiteSpaceTokenizer(128, language="blank:en", lemma=False)
    lm = LMModel(
        DelayedPatternProvider(n_q=4),
        ConditioningProvider({"description": conditioner}),
        ConditionFuser({"cross": ["description"], "prepend": [], "sum": [], "input_interpolate": []}),
        n_q=4,
        card=AUDIOGEN_BINS,
        dim=dim,
        num_heads=4,
        custom=True,
        num_layers=2,
        cross_attention=True,
        causal=True,
    )
    return compression.eval(), lm.eval()


BUILDERS: dict[str, Callable[[Path], None]] = {
    "motion-adapter": _build_motion_adapter,
    "svd": _build_svd,
    "musicgen": _build_musicgen,
    "audiogen": _build_audiogen,
}
