"""Stable Diffusion features for ICM: VAE encode → noise at t = 200 → one UNet pass with the
empty-prompt embedding; keep the outputs of ``up_blocks[0]`` and ``up_blocks[1]`` and, for the
target, the self-attention probabilities at (S/32)² and (S/16)² tokens.

Differences from the official extractor that do not change the result: the image goes through
the VAE encoder once and the ensemble draws its samples from that one posterior; the UNet stops
after the last block whose output or attention is needed (``up_blocks[3]`` never runs, the
reference pass stops after ``up_blocks[1]``); probabilities are computed only for ``attn1``
(self-attention) at the two stored sizes and only in the target pass; layer outputs elsewhere
use ``scaled_dot_product_attention``.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange

from ..api import CancelToken, check_cancel
from .fusion import TargetFeatures


def _resnet(block, input_tensor):
    """diffusers' ResnetBlock2D forward for the VAE encoder (no time embedding, no resampling)
    with the activations and the residual sum in place and intermediates released early."""
    hidden = F.silu(block.norm1(input_tensor), inplace=True)
    hidden = block.conv1(hidden)
    hidden = F.silu(block.norm2(hidden), inplace=True)
    hidden = block.conv2(block.dropout(hidden))
    shortcut = input_tensor if block.conv_shortcut is None else block.conv_shortcut(input_tensor)
    return hidden.add_(shortcut).div_(block.output_scale_factor)


def encode_posterior(vae, images: torch.Tensor):
    """``vae.encode(images).latent_dist`` with the same numbers and a lower peak memory: the
    encoder runs at full image resolution while the UNet's weights are resident, and diffusers'
    forward keeps about two more full-resolution tensors alive (≈0.3 GB at 768²)."""
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    encoder = vae.encoder
    hidden = encoder.conv_in(images)
    for block in encoder.down_blocks:
        for resnet in block.resnets:
            hidden = _resnet(resnet, hidden)
        for downsampler in block.downsamplers or ():
            hidden = downsampler(hidden)
    hidden = encoder.mid_block(hidden)
    hidden = encoder.conv_out(encoder.conv_act(encoder.conv_norm_out(hidden)))
    if vae.quant_conv is not None:
        hidden = vae.quant_conv(hidden)
    return DiagonalGaussianDistribution(hidden)


class _Stop(Exception):
    """Raised by a forward hook to end the UNet pass once every needed output exists."""


class AttentionRecorder:
    """Accumulates head- and ensemble-averaged self-attention maps per token count."""

    def __init__(self):
        self.token_counts: frozenset[int] = frozenset()
        self.ensemble = 1
        self.slice_heads: int | None = None
        self.sums: dict[int, torch.Tensor] = {}
        self.layers: dict[int, int] = {}

    def start(self, token_counts, ensemble: int) -> None:
        self.token_counts, self.ensemble = frozenset(token_counts), ensemble
        self.sums, self.layers = {}, {}

    def stop(self) -> None:
        self.token_counts = frozenset()

    def wants(self, tokens: int) -> bool:
        return tokens in self.token_counts

    def attend(self, query, key, value, scale: float) -> torch.Tensor:
        """Softmax attention [B·E,heads,N,d] with the probabilities computed explicitly (in fp32)
        and added to this layer's per-image sum; one batch entry (or head slice) at a time."""
        batch, heads, tokens, _ = query.shape
        step = self.slice_heads or heads
        total = self.sums.setdefault(
            tokens, query.new_zeros(batch // self.ensemble, tokens, tokens, dtype=torch.float32)
        )
        layer_sum = torch.zeros_like(total)
        out = torch.empty_like(query)
        for b in range(batch):
            for h in range(0, heads, step):
                q, k = query[b, h : h + step].float(), key[b, h : h + step].float()
                probs = (q @ k.transpose(-1, -2) * scale).softmax(dim=-1)
                out[b, h : h + step] = (probs.to(value.dtype) @ value[b, h : h + step])
                layer_sum[b // self.ensemble] += probs.sum(dim=0)
        total += layer_sum / (self.ensemble * heads)
        self.layers[tokens] = self.layers.get(tokens, 0) + 1
        return out

    def maps(self, tokens: int) -> torch.Tensor:
        """[B,r,r,r²]: row (qy, qx) is query pixel's distribution over the keys."""
        if tokens not in self.sums:
            raise RuntimeError(f"no self-attention layer with {tokens} tokens ran")
        side = int(round(tokens**0.5))
        mean = self.sums[tokens] / self.layers[tokens]
        return rearrange(mean, "b (h w) k -> b h w k", h=side, w=side)


class SelfAttentionProcessor:
    """diffusers attention processor for the UNet's ``attn1`` modules: SDPA normally, explicit
    probabilities (recorded) when the recorder asks for this token count."""

    def __init__(self, recorder: AttentionRecorder):
        self.recorder = recorder

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None,
                 temb=None, **kwargs):
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        split = "b n (h d) -> b h n d"
        query = rearrange(attn.to_q(hidden_states), split, h=attn.heads)
        key = rearrange(attn.to_k(context), split, h=attn.heads)
        value = rearrange(attn.to_v(context), split, h=attn.heads)
        if self.recorder.wants(query.shape[2]) and encoder_hidden_states is None:
            out = self.recorder.attend(query, key, value, attn.scale)
        elif self.recorder.slice_heads:
            step = self.recorder.slice_heads
            out = torch.cat([
                F.scaled_dot_product_attention(
                    query[:, h : h + step], key[:, h : h + step], value[:, h : h + step],
                    scale=attn.scale)
                for h in range(0, attn.heads, step)
            ], dim=1)
        else:
            out = F.scaled_dot_product_attention(query, key, value, scale=attn.scale)
        out = attn.to_out[1](attn.to_out[0](rearrange(out, "b h n d -> b n (h d)")))
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


@dataclass(frozen=True)
class Draws:
    """The two random draws of one pass, [B·E,4,h,w] each, batch-major ensemble order."""

    vae: torch.Tensor
    noise: torch.Tensor

    @classmethod
    def sample(cls, shape, generator: torch.Generator) -> "Draws":
        return cls(torch.randn(shape, generator=generator), torch.randn(shape, generator=generator))


class FeatureExtractor:
    """Wraps a diffusers UNet2DConditionModel, AutoencoderKL and scheduler (all frozen)."""

    def __init__(self, unet, vae, scheduler, prompt_embeds: torch.Tensor, *,
                 ensemble_size: int = 4, timestep: int = 200):
        self.unet, self.vae, self.scheduler = unet.eval(), vae.eval(), scheduler
        self.prompt_embeds = prompt_embeds
        self.ensemble_size, self.timestep = ensemble_size, timestep
        self.recorder = AttentionRecorder()
        self.unet.set_attn_processor({
            name: SelfAttentionProcessor(self.recorder) if name.endswith("attn1.processor")
            else processor
            for name, processor in self.unet.attn_processors.items()
        })

    @property
    def device(self) -> torch.device:
        return self.unet.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.dtype

    @contextmanager
    def cancellable(self, cancel: CancelToken | None):
        """Honour ``cancel`` before every VAE-encoder and UNet block while inside: a UNet pass
        takes tens of seconds on a CPU, a block a few.  The hooks only read the token, so the
        numbers do not change; they are removed on the way out, whatever happens."""
        if cancel is None:
            yield
            return

        def check(module, args):
            check_cancel(cancel)

        encoder = self.vae.encoder
        blocks = [*(d for block in encoder.down_blocks for d in block.downsamplers or ()),
                  encoder.mid_block, *self.unet.down_blocks, self.unet.mid_block,
                  *self.unet.up_blocks]
        hooks = [block.register_forward_pre_hook(check) for block in blocks]
        try:
            yield
        finally:
            for hook in hooks:
                hook.remove()

    def latent_shape(self, size: int, batch: int = 1) -> tuple[int, ...]:
        factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        side = size // factor
        return (batch * self.ensemble_size, self.vae.config.latent_channels, side, side)

    def feature_sides(self, size: int) -> tuple[int, int]:
        """Spatial sides of up_blocks[0] and up_blocks[1] outputs for a ``size``² input."""
        latent = self.latent_shape(size)[-1]
        levels = len(self.unet.config.block_out_channels)
        return latent // 2 ** (levels - 2), latent // 2 ** (levels - 3)

    def feature_channels(self) -> tuple[int, int]:
        out = list(reversed(self.unet.config.block_out_channels))
        return out[0], out[1]

    def noisy_latents(self, images: torch.Tensor, draws: Draws, *, replicate: bool = False):
        """``images`` [B,3,S,S] in [-1,1] → UNet input [B·E,4,h,w].  ``replicate`` encodes every
        ensemble copy separately, as the official code does (same result, E× the work)."""
        e = self.ensemble_size
        if replicate:
            images = images.repeat_interleave(e, dim=0)
        posterior = encode_posterior(self.vae, images)
        mean, std = posterior.mean, posterior.std
        if not replicate:
            mean, std = mean.repeat_interleave(e, dim=0), std.repeat_interleave(e, dim=0)
        latents = (mean + std * draws.vae.to(mean)) * self.vae.config.scaling_factor
        timesteps = torch.full((latents.shape[0],), self.timestep, dtype=torch.long)
        return self.scheduler.add_noise(latents, draws.noise.to(latents), timesteps)

    def _unet(self, noisy: torch.Tensor, last_block: int | None) -> list[torch.Tensor]:
        """Run the UNet; return the ensemble-mean outputs of up_blocks[0] and [1]; stop after
        ``up_blocks[last_block]`` (None: run everything, as the official code)."""
        outputs = []

        def keep(module, args, output):
            outputs.append(output)

        def stop(module, args, output):
            raise _Stop

        blocks = self.unet.up_blocks
        hooks = [blocks[0].register_forward_hook(keep), blocks[1].register_forward_hook(keep)]
        if last_block is not None:
            hooks.append(blocks[last_block].register_forward_hook(stop))
        context = self.prompt_embeds.to(noisy).expand(noisy.shape[0], -1, -1)
        timesteps = torch.full((noisy.shape[0],), self.timestep, device=noisy.device)
        try:
            self.unet(noisy, timesteps, encoder_hidden_states=context)
        except _Stop:
            pass
        finally:
            for hook in hooks:
                hook.remove()
        e = self.ensemble_size
        return [rearrange(o, "(b e) c h w -> b e c h w", e=e).float().mean(dim=1) for o in outputs]

    @torch.no_grad()
    def reference_feature(self, images: torch.Tensor, draws: Draws, *,
                          official_work: bool = False) -> torch.Tensor:
        """The correspondence feature [B,C,h,w] (ensemble mean of up_blocks[1])."""
        size = images.shape[-1]
        noisy = self.noisy_latents(images.to(self.device, self.dtype), draws,
                                   replicate=official_work)
        if official_work:  # attention maps computed and thrown away, all blocks run
            self.recorder.start([s * s for s in self.feature_sides(size)], self.ensemble_size)
        try:
            return self._unet(noisy, None if official_work else 1)[1]
        finally:
            self.recorder.stop()

    @torch.no_grad()
    def target_features(self, images: torch.Tensor, draws: Draws, *,
                        official_work: bool = False) -> TargetFeatures:
        size = images.shape[-1]
        noisy = self.noisy_latents(images.to(self.device, self.dtype), draws,
                                   replicate=official_work)
        tokens = [s * s for s in self.feature_sides(size)]
        self.recorder.start(tokens, self.ensemble_size)
        try:
            # up_blocks[2] hosts the last (S/16)² self-attention layers
            coarse, fine = self._unet(noisy, None if official_work else 2)
            attention = tuple(self.recorder.maps(t) for t in tokens)
        finally:
            self.recorder.stop()
        return TargetFeatures(fine, attention, (coarse, fine))
