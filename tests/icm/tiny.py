"""Tiny random Stable-Diffusion-like pipelines and ICM decoders, saved like the real ones."""

from __future__ import annotations

import json
from pathlib import Path

import torch

TINY_WIDTHS = dict(attention_out=8, feature_out=8, convstream_out=(4, 8, 8),
                   fusion_out=(8, 8, 8, 8))
TINY_SIZE = 128  # model input side for engine tests: features at 4² and 8²


def build_tiny_sd(folder: Path, seed: int = 0) -> Path:
    """A diffusers SD folder (unet, vae, scheduler, text encoder, tokenizer) with SD 2.1's
    topology and tiny widths, written with save_pretrained."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16, 16, 16), norm_num_groups=8, layers_per_block=2,
        attention_head_dim=(2, 2, 4, 4), cross_attention_dim=16, use_linear_projection=True,
        upcast_attention=True, sample_size=16,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
    vae = AutoencoderKL(block_out_channels=(8, 8, 16, 16), norm_num_groups=8,
                        down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4)
    scheduler = DDIMScheduler.from_pretrained(
        Path(__file__).resolve().parents[2] / "icm_core" / "icm" / "sd21", subfolder="scheduler")
    text = CLIPTextModel(CLIPTextConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, vocab_size=260,
                                        max_position_embeddings=77,
                                        bos_token_id=258, eos_token_id=259, pad_token_id=0))
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    scheduler.save_pretrained(folder / "scheduler")
    text.save_pretrained(folder / "text_encoder")
    tokenizer_dir = folder / "tokenizer"
    vocab = {"!": 0, "<|startoftext|>": 258, "<|endoftext|>": 259}
    vocab.update({chr(c) + "</w>": c for c in range(97, 123)})
    CLIPTokenizer(vocab=vocab, merges=[], pad_token="!", model_max_length=77).save_pretrained(tokenizer_dir)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    return folder


def tiny_decoder_state(size: int = TINY_SIZE, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random decoder for the tiny pipeline at ``size``², with the checkpoint's key prefix;
    BatchNorm statistics are randomised too so that eval-mode BN matters."""
    from icm_core.icm.model import CHECKPOINT_PREFIX, DecoderDims, IcmDecoder

    torch.manual_seed(seed)
    sides = (size // 32, size // 16)
    decoder = IcmDecoder(DecoderDims(feature_channels=(16, 16),
                                     attention_tokens=tuple(s * s for s in sides), **TINY_WIDTHS))
    for name, tensor in decoder.state_dict().items():
        if name.endswith("running_var"):
            tensor.uniform_(0.5, 2.0)
        elif name.endswith(("running_mean", "bn.bias")):
            tensor.normal_(0, 0.1)
    return {CHECKPOINT_PREFIX + k: v.clone() for k, v in decoder.state_dict().items()}
