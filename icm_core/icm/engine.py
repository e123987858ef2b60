"""The ``icm`` engine: In-Context Matting on Stable Diffusion 2.1 features.

``encode_reference`` runs the reference pass once and keeps only the reference tokens the
decoder needs; ``matte`` runs one target pass and the decoder.  Differences from the official
code: letterbox instead of centre-crop-and-stretch, seeded random draws (per pass, from the
seed and the image bytes, so a pass does not depend on call order), a partial-coverage
fallback with a warning for thin masks instead of silent zero guidance, several references
at once, no mutation of inputs or caches, no unused work.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import weights
from ..api import (CancelToken, Hints, InvalidInput, MatteResult, ProgressCallback, Reference,
                   check_cancel, report)
from ..engines.base import (EngineBase, Option, check_declared, check_references, is_out_of_memory,
                            memory_guard)
from ..geometry import Letterbox, resize
from ..validate import (check_follow, check_hints, check_image, check_mask, check_result,
                        check_seed)
from .widths import widths_problem

LOW_MEMORY_BYTES = 8 << 30  # below this much free memory, slice the attention computation


@dataclass(frozen=True)
class IcmReference:
    """Reference tokens [K,C] (CPU, float32) for the decoder; never modified."""

    tokens: object
    size: int


def pick_device(device: str = "auto"):
    import torch

    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _free_memory(device) -> int:
    import torch

    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:  # Linux: what can be had without swapping, page cache included
        with open("/proc/meminfo", encoding="ascii") as info:
            return next(int(line.split()[1]) * 1024 for line in info
                        if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return LOW_MEMORY_BYTES  # unknown elsewhere: slice, the safe choice


NUMERICAL_ADVICE = ("Try --engine-option dtype=float32 (float16 can overflow), or check the "
                    "weights: icm-matting weights verify.")


class IcmEngine(EngineBase):
    name = "icm"
    label = "In-Context Matting (SD 2.1)"
    REQUIREMENTS = ("torch", "diffusers", "transformers", "safetensors")
    EXTRA = "icm"
    # each noise sample costs one UNet pass
    PRESETS = {"fast": {"ensemble_size": 1}, "balanced": {"ensemble_size": 4},
               "best": {"ensemble_size": 8}}
    OPTIONS = (
        Option("checkpoint", str, None,
               "the ICM checkpoint (default: weights locate, $ICM_MATTING_CHECKPOINT)"),
        Option("sd", str, None,
               "SD 2.1 folder, file or hub id (default: weights locate, $ICM_MATTING_SD)"),
        Option("device", str, "auto", "auto: CUDA, then Apple MPS, else the CPU",
               choices=("auto", "cpu", "cuda", "mps")),
        Option("dtype", str, None, "default float16 on CUDA, float32 elsewhere",
               choices=("float32", "float16", "bfloat16")),
        Option("ensemble_size", int, 4, "noise samples averaged per image; each costs one "
               "UNet pass", low=1, high=64),
        Option("size", int, 768, "model input side (px)", low=64, high=2048, multiple=64),
        Option("timestep", int, 200, "diffusion timestep of the features", low=0, high=999),
        Option("attention_slicing", bool, "auto", "one attention head at a time: less memory, "
               "slower (auto: < 8 GB free)", choices=("auto",)),
        Option("decoder_widths", dict, None, "decoder layer widths, for small test models",
               entries=widths_problem),
    )

    @classmethod
    def weights_fingerprint(cls, options: dict) -> dict[str, str]:
        """What identifies the weights it computes with (a batch records it; compared on resume)."""
        checkpoint = weights.checkpoint_path(options.get("checkpoint"))
        return {"icm-checkpoint": weights.sha256(checkpoint),
                "stable-diffusion": str(weights.sd_source(options.get("sd")))}

    @classmethod
    def setup_problem(cls) -> str:
        """What is missing of the checkpoint and SD 2.1, without loading or downloading."""
        hub_id = weights.undownloaded_hub_id()
        if hub_id:  # say the one command that fetches it
            return f"Stable Diffusion {hub_id} is not downloaded yet: run `icm-matting weights download`."
        return " ".join(f"{_sentence(entry.role)}: {entry.problem}" for entry in weights.status()
                        if entry.path is None and entry.role != "prompt embedding")

    @classmethod
    def uses_gpu(cls, options: dict) -> bool:
        device = str(options.get("device", "auto"))
        if device == "auto":
            try:
                import torch
            except ImportError:
                return False
            return torch.cuda.is_available()
        return device.startswith("cuda")

    def __init__(
        self,
        checkpoint: str | os.PathLike | None = None,
        sd: str | os.PathLike | None = None,
        *,
        device: str = "auto",
        dtype: str | None = None,
        ensemble_size: int = 4,
        size: int = 768,
        timestep: int = 200,
        attention_slicing: bool | str = "auto",
        decoder_widths: dict | None = None,
    ):
        check_declared(self.name, self.OPTIONS, locals())  # before torch loads
        import torch

        from .extractor import FeatureExtractor
        from .model import DecoderDims

        self.device = pick_device(device)
        dtype = getattr(torch, dtype) if dtype else (
            torch.float16 if self.device.type == "cuda" else torch.float32)
        checkpoint_file = weights.checkpoint_path(checkpoint)  # fail fast, before loading SD
        source = weights.sd_source(sd)
        prompt = weights.empty_prompt_embedding(source)
        stable = weights.load_sd(source, device=self.device, dtype=dtype)
        extractor = FeatureExtractor(stable.unet, stable.vae, stable.scheduler, prompt,
                                     ensemble_size=ensemble_size, timestep=timestep)
        sides = extractor.feature_sides(size)
        dims = DecoderDims(feature_channels=extractor.feature_channels(),
                           attention_tokens=tuple(s * s for s in sides), **(decoder_widths or {}))
        decoder = weights.load_decoder(dims, checkpoint_file)
        self._setup(extractor, decoder, size, attention_slicing)

    @classmethod
    def from_components(cls, extractor, decoder, *, size: int = 768,
                        attention_slicing: bool | str = "auto") -> "IcmEngine":
        """An engine around an already built extractor and decoder (benchmarks, tests)."""
        engine = cls.__new__(cls)
        engine.device = extractor.device
        engine._setup(extractor, decoder, size, attention_slicing)
        return engine

    def _setup(self, extractor, decoder, size, attention_slicing) -> None:
        self.extractor, self.size = extractor, size
        self.forget()  # the last target's (pixels digest, seed) and features: fast corrections
        self.decoder = decoder.eval().to(self.device)
        if attention_slicing == "auto":
            attention_slicing = _free_memory(self.device) < LOW_MEMORY_BYTES
        self.extractor.recorder.slice_heads = 1 if attention_slicing else None

    # --- protocol ---------------------------------------------------------------------------

    def encode_reference(self, image: np.ndarray, mask: np.ndarray, *, seed: int = 0,
                         memory: bool = False) -> Reference:
        """``memory`` changes nothing here: a mask is always taught exactly as it covers the
        feature cells, and combined references all vote alike."""
        import torch

        from .fusion import reference_tokens

        check_image(image, "reference image")
        check_mask(mask, image.shape, "reference mask")
        check_seed(seed)
        box = Letterbox.fit(image.shape[:2], self.size)
        pixels = self._model_input(box.apply(image))
        feature = self._guarded(lambda: self.extractor.reference_feature(
            pixels, self._draws(pixels, seed)))
        mask_canvas = torch.from_numpy(np.ascontiguousarray(box.apply(mask, fill=0.0)))[None, None]
        tokens = reference_tokens(feature.cpu(), mask_canvas, partial_fallback=True)
        return Reference(self.name, IcmReference(tokens.clone(), self.size),
                         (tuple(image.shape[:2]),))

    def combine(self, references: Sequence[Reference]) -> Reference:
        import torch

        self._check_references(references)
        tokens = torch.cat([r.data.tokens for r in references])
        sizes = tuple(s for r in references for s in r.image_sizes)
        return Reference(self.name, IcmReference(tokens, self.size), sizes)

    def matte(
        self,
        target: np.ndarray,
        reference: Reference,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        seed: int = 0,
        foreground: bool = False,
        hints: Hints | None = None,
        preview: bool = False,
        follow: np.ndarray | None = None,
    ) -> MatteResult:
        """``follow`` (where a shot's subject was) is checked and not used: ICM keeps every
        look-alike the reference matches.  ``hints`` (keep / remove strokes) act after the
        decoder: its alpha becomes the prior of a graph cut with the strokes as hard labels, and
        the trimap, matting and alpha are pinned there (lite also re-classifies look-alikes at
        its token stage).  The target's Stable Diffusion features are kept for the last
        target, so a new stroke reruns only the decoder and the refinement; ``preview`` skips
        the matting."""
        import torch

        check_image(target, "target image")
        self._check_references([reference])
        check_seed(seed)
        keep = remove = None
        if hints is not None:
            keep, remove = check_hints(hints, target.shape)
        if follow is not None:
            check_follow(follow, target.shape)
        timings = {}
        started = time.perf_counter()
        report(progress, 0.0, "Fitting the target")
        check_cancel(cancel)
        box = Letterbox.fit(target.shape[:2], self.size)
        pixels = self._model_input(box.apply(target))
        report(progress, 0.1, "Stable Diffusion features")
        key = (hashlib.blake2b(pixels.numpy().tobytes(), digest_size=16).digest(), seed)
        if self._last_target[0] != key:
            with self.extractor.cancellable(cancel):  # within a block, not a whole pass
                features = self._guarded(lambda: self.extractor.target_features(
                    pixels, self._draws(pixels, seed)))
            self._last_target = (key, features)
        features = self._last_target[1]
        timings["features"] = time.perf_counter() - started
        check_cancel(cancel)
        report(progress, 0.8, "Decoding alpha")
        with torch.inference_mode():
            out = self.decoder(reference.data.tokens.to(self.device), features,
                               pixels.to(self.device, torch.float32))
        coarse = out.alpha[0, 0].float().cpu().numpy()
        check_result(MatteResult(coarse), self.name, NUMERICAL_ADVICE)  # before hints hide it
        timings["decoder"] = time.perf_counter() - started - timings["features"]
        check_cancel(cancel)
        report(progress, 0.9, "Full resolution")
        if hints is not None:
            return self._corrected(target, box, coarse, keep, remove, seed, preview, foreground,
                                   timings, progress)
        alpha = self._full_resolution(target, box, coarse)
        result = MatteResult(alpha=alpha, timings=timings)
        if foreground:
            from ..refine import estimate_foreground

            result.foreground = estimate_foreground(target, *self._model_view(target, box, coarse))
        timings["total"] = time.perf_counter() - started
        report(progress, 1.0, "Done")
        return check_result(result, self.name, NUMERICAL_ADVICE)

    def forget(self) -> None:
        """Drop the kept target features (they are recomputed on the next matte)."""
        self._last_target = (None, None)

    # --- helpers ----------------------------------------------------------------------------

    def _corrected(self, target, box, coarse, keep, remove, seed, preview, foreground, timings,
                   progress) -> MatteResult:
        from ..refine import RefineSettings, estimate_foreground, preview_alpha, refine_alpha

        prior = self._model_view(target, box, coarse)[1]
        settings = RefineSettings(seed=seed)
        if preview:
            alpha = preview_alpha(target, prior, keep=keep, remove=remove, settings=settings)
            return check_result(MatteResult(alpha, None, timings), self.name, NUMERICAL_ADVICE)
        alpha, matting_image, matting_alpha, _ = refine_alpha(target, prior, keep=keep,
                                                              remove=remove, settings=settings)
        colours = estimate_foreground(target, matting_image, matting_alpha) if foreground else None
        report(progress, 1.0, "Done")
        return check_result(MatteResult(alpha, colours, timings), self.name, NUMERICAL_ADVICE)

    def _full_resolution(self, target: np.ndarray, box: Letterbox, coarse: np.ndarray):
        """The model's alpha (letterboxed canvas) at the target's full size: carried up with
        the edge-aware guided upsampling shared with lite (icm_core.refine.upsampling), driven
        by the full-resolution picture; a target no larger than the model input is just cropped
        back."""
        from ..refine.upsampling import guided_upsample

        if box.scale >= 1.0:
            return np.clip(box.crop_back(coarse), 0.0, 1.0).astype(np.float32)
        low_image, low_alpha = self._model_view(target, box, coarse)
        return guided_upsample(target, low_image, low_alpha)

    @staticmethod
    def _model_view(target: np.ndarray, box: Letterbox, coarse: np.ndarray):
        """The target as the model saw it (without padding) and the model's alpha there."""
        rows, cols = box.valid()
        return resize(target, box.inner), np.clip(coarse[rows, cols], 0.0, 1.0)

    def _model_input(self, canvas: np.ndarray):
        import torch

        pixels = torch.from_numpy(np.ascontiguousarray(canvas, dtype=np.float32))
        return (pixels.permute(2, 0, 1)[None] * 2.0 - 1.0).contiguous()

    def _draws(self, pixels, seed: int):
        """The pass's random draws, from a generator seeded by (seed, the image's bytes)."""
        import torch

        from .extractor import Draws

        digest = hashlib.blake2b(digest_size=8)
        digest.update(int(seed).to_bytes(8, "little", signed=True))
        digest.update(pixels.numpy().tobytes())
        generator = torch.Generator().manual_seed(int.from_bytes(digest.digest(), "little") >> 1)
        return Draws.sample(self.extractor.latent_shape(pixels.shape[-1], pixels.shape[0]),
                            generator)

    def _check_references(self, references: Sequence[Reference]) -> None:
        check_references(references, self.name, IcmReference)
        if any(reference.data.size != self.size for reference in references):
            raise InvalidInput("This reference was encoded at another model size; encode it again.")

    def _guarded(self, compute):
        """Run a UNet pass; on out-of-memory retry once with sliced attention, then explain."""
        import torch

        if self.extractor.recorder.slice_heads is not None:
            with memory_guard(MEMORY_ADVICE):
                return compute()
        try:
            return compute()
        except Exception as error:
            if not (isinstance(error, torch.OutOfMemoryError) or is_out_of_memory(error)):
                raise
        self.extractor.recorder.slice_heads = 1
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        return self._guarded(compute)


MEMORY_ADVICE = ("Not enough memory for the icm engine even with sliced attention. Close other "
                 "programs, use ensemble_size=1 or 2, or the lite engine.")


def _sentence(role: str) -> str:
    role = role.replace("icm", "ICM")
    return role[:1].upper() + role[1:]
