"""The training loop: sample in-context pairs, decode from cached SD features, optimise,
validate, checkpoint, log.

Reproducibility: everything random in a step (which pictures, views, flips, reference and its
guidance style) is drawn from a generator seeded by (seed, step, sample), and the decoder's
initial weights from ``seed``; so a run resumed from its saved state (decoder, optimiser,
scheduler, step, torch RNG) continues exactly as if it had not been stopped.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import resource
import sys
import time
import warnings
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import evaluation, weights
from ..api import IcmError, IcmWarning, InvalidInput, OutputError, write_failure
from ..datasets import load_manifest
from ..geometry import Letterbox
from ..icm.checkpoint import decoder_state_dict, load_decoder_weights, read_checkpoint
from ..icm.fusion import reference_tokens
from ..icm.model import CHECKPOINT_PREFIX, DecoderDims, IcmDecoder
from . import losses
from .cache import FeatureCache, content_key
from .config import TrainConfig, check
from .data import TrainingSet, View, foreground_background, make_view, unknown_band
from .features import Backbone, flip_features, model_input, stack
from .guidance import guidance_mask, pick_style

STATE_FILE = "training-state.pt"
LAST, BEST = "last.safetensors", "best.safetensors"
START_FILES = ("config.json", "log.csv", "tensorboard")  # written as a run starts
LOG_COLUMNS = ("step", "epoch", "lr", "loss", *losses.ALL_TERMS, "val_mse", "val_sad",
               "val_grad", "val_conn", "seconds", "features_computed")
# settings that must not change when a run is resumed (the others may, e.g. steps, logging)
RUN_DEFINING = ("train", "segmentation", "val", "checkpoint", "sd", "decoder_widths", "batch_size",
                "accumulate", "lr", "warmup_steps", "warmup_start", "weight_decay", "size",
                "ensemble_size", "timestep", "crops", "draws", "flip", "guidance",
                "loss_weights", "unknown_band", "segmentation_band", "seed", "cache_dtype")


@dataclass
class Summary:
    steps: int
    last: Path
    best: Path | None
    best_val_mse: float | None
    seconds: float
    peak_memory_bytes: int
    losses: list[float] = field(default_factory=list)  # mean training loss per logged interval
    features_computed: int = 0


def pick_device(name: str) -> torch.device:
    from ..icm.engine import pick_device as engine_pick

    device = engine_pick(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInput("device cuda was asked for but torch sees no CUDA GPU.")
    return device


def peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    if device.type == "mps":
        return int(torch.mps.driver_allocated_memory())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def check_output_folder(out: Path, resume: bool) -> None:
    """Before any work: the folder must be creatable/writable and hold no other run."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"The output {out} is a file; give a folder.")
    existing = out if out.exists() else next((p for p in out.parents if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"The output folder {out} cannot be written (no writable folder at "
                          f"{existing}); choose another --out.")
    has_state = (out / STATE_FILE).is_file()
    if resume and not has_state:
        raise InvalidInput(f"--resume: {out} holds no saved training state ({STATE_FILE}).")
    linked = [name for name in (*START_FILES, STATE_FILE, LAST, BEST) if (out / name).is_symlink()]
    if resume and linked:  # log.csv is appended to in place: a link would be written through
        raise OutputError(f"--resume: {out / linked[0]} is a symbolic link; refusing to write "
                          "through it. Replace it with the file itself.")
    if not resume and out.exists() and any(out.iterdir()):
        raise OutputError(f"The output folder {out} is not empty; use --resume to continue the "
                          "run saved there, or choose a new folder (results never overwrite).")


def build_extractor(config: TrainConfig, device: torch.device):
    from ..icm.extractor import FeatureExtractor

    dtype = {"float16": torch.float16, "float32": torch.float32}.get(config.feature_dtype) or (
        torch.float16 if device.type == "cuda" else torch.float32)
    source = weights.sd_source(config.sd)
    prompt = weights.empty_prompt_embedding(source)
    stable = weights.load_sd(source, device=device, dtype=dtype)
    return FeatureExtractor(stable.unet, stable.vae, stable.scheduler, prompt,
                            ensemble_size=config.ensemble_size, timestep=config.timestep)


def decoder_dims(extractor, config: TrainConfig) -> DecoderDims:
    sides = extractor.feature_sides(config.size)
    try:
        return DecoderDims(feature_channels=extractor.feature_channels(),
                           attention_tokens=tuple(s * s for s in sides),
                           **{k: tuple(v) if isinstance(v, list) else v
                              for k, v in (config.decoder_widths or {}).items()})
    except TypeError as error:
        raise InvalidInput(f"decoder_widths: {error}.") from None


def save_weights(decoder: IcmDecoder, path: Path, metadata: dict) -> None:
    """The decoder as the icm engine loads it (``in_context_decoder.*``), written atomically."""
    from safetensors.torch import save_file

    state = {CHECKPOINT_PREFIX + k: v.detach().cpu().contiguous()
             for k, v in decoder.state_dict().items()}
    temporary = path.with_name(path.name + ".partial")
    try:
        save_file(state, str(temporary), metadata={k: str(v) for k, v in metadata.items()})
        temporary.replace(path)
    except BaseException:
        with suppress(OSError):
            temporary.unlink(missing_ok=True)
        raise


def warmup(config: TrainConfig) -> Callable[[int], float]:
    """The official LambdaLinearScheduler: linear from warmup_start to 1, then 1."""
    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return config.warmup_start + (1.0 - config.warmup_start) * step / config.warmup_steps
        return 1.0
    return factor


class Trainer:
    def __init__(self, config: TrainConfig, *, extractor=None):
        # --- every check before anything is written ---
        check(config)
        self.config = config
        self.out = Path(config.out).expanduser()
        self.data = TrainingSet(config.train, config.segmentation,
                                allow_outside=config.allow_outside_paths)
        self.val = None
        if config.val:
            self.val = load_manifest(config.val, allow_outside=config.allow_outside_paths)
            if not self.val.groups:
                raise InvalidInput(f"The validation manifest {config.val} has no groups.")
        check_output_folder(self.out, config.resume)
        self.device = pick_device(config.device) if extractor is None else extractor.device
        self.extractor = extractor or build_extractor(config, self.device)
        dims = decoder_dims(self.extractor, config)
        torch.manual_seed(config.seed)
        self.decoder = IcmDecoder(dims)
        if config.checkpoint:
            path = Path(config.checkpoint).expanduser()
            load_decoder_weights(self.decoder, decoder_state_dict(read_checkpoint(path)),
                                 source=str(path))
        self.decoder.to(self.device).train()
        # fused: one kernel over all parameters, 3.5x faster than the per-tensor loop on a CPU
        self.optimizer = torch.optim.AdamW(self.decoder.parameters(), lr=config.lr,
                                           weight_decay=config.weight_decay, fused=True)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, warmup(config))
        self.amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.step, self.best = 0, None
        if config.resume:
            self._load_state()
        cache_dir = config.cache_dir or (weights.cache_dir() / "features")
        self.cache = FeatureCache(cache_dir, int(config.cache_max_gb * 1e9),
                                  getattr(torch, config.cache_dtype))
        self.backbone = Backbone(self.extractor, self.cache)
        self.items = [(p, v) for p in range(len(self.data)) for v in range(config.crops)]
        self.terms = {name: w for name, w in config.loss_weights.items() if w > 0}

    # --- state -----------------------------------------------------------------------------

    def _load_state(self) -> None:
        try:
            state = torch.load(self.out / STATE_FILE, map_location="cpu", weights_only=True)
        except Exception as error:  # noqa: BLE001 - a damaged file fails in many ways
            raise InvalidInput(f"--resume: {self.out / STATE_FILE} cannot be read ({error}); "
                               "start a new run in another folder.") from None
        saved = json.loads(state["config"])
        current = json.loads(json.dumps(self.config.as_json()))  # tuples → lists, as saved
        changed = [k for k in RUN_DEFINING if saved.get(k) != current[k]]
        if changed:
            raise InvalidInput(f"--resume: these settings differ from the saved run's: "
                               f"{', '.join(changed)}. Resume with the same settings.")
        load_decoder_weights(self.decoder, state["decoder"], source=str(self.out / STATE_FILE))
        self.decoder.to(self.device)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.step = int(state["step"])
        self.best = None if state["best"] is None else float(state["best"])

    def _save_state(self) -> None:
        state = {
            "config": json.dumps(self.config.as_json(), sort_keys=True),
            "step": self.step, "best": self.best,
            "decoder": {k: v.detach().cpu() for k, v in self.decoder.state_dict().items()},
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "torch_rng": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        save_weights(self.decoder, self.out / LAST, {"step": self.step})
        temporary = self.out / (STATE_FILE + ".partial")
        try:
            torch.save(state, temporary)
            temporary.replace(self.out / STATE_FILE)
        except (OSError, RuntimeError) as error:  # torch's zip writer: "file write failed"
            with suppress(OSError):
                temporary.unlink(missing_ok=True)
            if isinstance(error, RuntimeError) and "write" not in str(error):
                raise
            raise write_failure(f"the run folder {self.out}", error) from None

    # --- samples ---------------------------------------------------------------------------

    def _item(self, index: int) -> tuple[int, int, int]:
        """(picture, view, epoch) of the ``index``-th sample of the run."""
        epoch, position = divmod(index, len(self.items))
        order = np.random.default_rng([self.config.seed, epoch]).permutation(len(self.items))
        picture, view = self.items[order[position]]
        return picture, view, epoch

    def _view(self, member, view: int) -> View:
        """A picture's view at the model size, made once then read from the cache (keyed by
        the files' path, size and modification time): decoding big photographs would
        otherwise dominate a step that reads cached features."""
        files = [p for p in (member.image_path, member.alpha_path, member.trimap_path) if p]
        stamps = [f"{p}|{stat.st_size}|{stat.st_mtime_ns}" for p, stat in
                  ((p, p.stat()) for p in files)]
        key = content_key("view", *stamps, f"{view} {self.config.size} {member.alpha_floor} "
                          f"{member.alpha_channel} {member.exif_transpose}")
        arrays = self.cache.get(key)
        if arrays is None:
            made = make_view(member, view, self.config.size)
            fresh = {"image": made.image, "alpha": made.alpha, "trimap": made.trimap}
            arrays = self.cache.put(key, {k: torch.from_numpy(v) for k, v in fresh.items()
                                          if v is not None})
        trimap = arrays.get("trimap")
        return View(arrays["image"].numpy(), arrays["alpha"].numpy(),
                    None if trimap is None else trimap.numpy())

    def _sample(self, index: int, step: int) -> dict:
        config = self.config
        rng = np.random.default_rng([config.seed, step, index])
        picture_index, view_index, epoch = self._item(index)
        picture = self.data.pictures[picture_index]
        others = [i for i in self.data.groups[picture.group] if i != picture_index]
        reference_index = others[int(rng.integers(len(others)))]
        reference = self.data.pictures[reference_index]
        target = self._view(picture.member, view_index)
        ref = self._view(reference.member, int(rng.integers(config.crops)))
        draw, ref_draw = (int(rng.integers(config.draws)) for _ in range(2))
        features = self.backbone.features(target.image, draw)
        ref_features = self.backbone.features(ref.image, ref_draw)
        extra = None
        if "composition" in self.terms and not picture.segmentation:
            extra = self.backbone.cached_extra("fg/bg", target.image, target.alpha, lambda: dict(
                zip(("foreground", "background"),
                    foreground_background(target.image, target.alpha))))
        image, alpha = target.image, target.alpha
        band = config.segmentation_band if picture.segmentation else config.unknown_band
        unknown = unknown_band(alpha, round(band * config.size),
                               None if picture.segmentation else target.trimap)
        mask = guidance_mask(ref.alpha, pick_style(config.guidance, rng), rng)
        if config.flip and rng.random() < 0.5:
            features = flip_features(features)
            image, alpha, unknown = image[:, ::-1], alpha[:, ::-1], unknown[:, ::-1]
            if extra is not None:
                extra = {k: v[:, ::-1] for k, v in extra.items()}
        if config.flip and rng.random() < 0.5:
            ref_features = flip_features(ref_features)
            mask = mask[:, ::-1]
        with warnings.catch_warnings():  # thin guidance falls back to partly covered cells
            warnings.simplefilter("ignore", IcmWarning)
            tokens = reference_tokens(ref_features.correspondence,
                                      torch.from_numpy(np.ascontiguousarray(mask))[None, None])
        return dict(features=features, tokens=tokens, image=model_input(image),
                    alpha=torch.from_numpy(np.ascontiguousarray(alpha))[None, None],
                    unknown=torch.from_numpy(np.ascontiguousarray(unknown))[None, None],
                    segmentation=picture.segmentation, epoch=epoch, extra=extra)

    # --- one optimiser step ----------------------------------------------------------------

    def _forward_loss(self, samples: list[dict]) -> tuple[torch.Tensor, dict[str, float]]:
        device = self.device
        features = stack([s["features"] for s in samples], device)
        images = torch.cat([s["image"] for s in samples]).to(device)
        with torch.autocast(device.type, dtype=torch.float16, enabled=self.amp):
            alpha = self.decoder([s["tokens"].to(device) for s in samples], features, images).alpha
        alpha = alpha.float()
        total, parts = alpha.new_zeros(()), {}
        for i, sample in enumerate(samples):
            extra = sample["extra"]
            colours = {} if extra is None else {
                k: torch.from_numpy(np.ascontiguousarray(v)).permute(2, 0, 1)[None].to(device)
                for k, v in extra.items()}
            terms = losses.sample_losses(alpha[i : i + 1], sample["alpha"].to(device),
                                         sample["unknown"].to(device),
                                         segmentation=sample["segmentation"], **colours)
            for name, value in terms.items():
                if name in self.terms:
                    total = total + self.terms[name] * value / len(samples)
                    parts[name] = parts.get(name, 0.0) + float(value.detach()) / len(samples)
        return total, parts

    def train_step(self) -> dict[str, float]:
        config = self.config
        self.optimizer.zero_grad(set_to_none=True)
        logged: dict[str, float] = {"loss": 0.0}
        for micro in range(config.accumulate):
            first = (self.step * config.accumulate + micro) * config.batch_size
            samples = [self._sample(first + j, self.step) for j in range(config.batch_size)]
            loss, parts = self._forward_loss(samples)
            if not torch.isfinite(loss):
                raise IcmError(f"The training loss became {float(loss)} at step {self.step}; "
                               "lower lr or check the data.")
            self.scaler.scale(loss / config.accumulate).backward()
            logged["loss"] += float(loss.detach()) / config.accumulate
            for name, value in parts.items():
                logged[name] = logged.get(name, 0.0) + value / config.accumulate
            logged["epoch"] = samples[-1]["epoch"]
        self.scaler.step(self.optimizer)
        self.scaler.update()
        logged["lr"] = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        self.step += 1
        return logged

    # --- validation ------------------------------------------------------------------------

    @torch.no_grad()
    def validate(self, dataset=None) -> dict[str, float]:
        """Mean whole-image MSE, SAD, Grad, Conn over the validation targets (in-context
        protocol, letterboxed like the icm engine, the decoder's alpha cropped back)."""
        dataset = dataset or self.val
        self.decoder.eval()
        scores = []
        try:
            for group in dataset.groups:
                image = group.reference.load_image()
                box = Letterbox.fit(image.shape[:2], self.config.size)
                feature = self.backbone.features(box.apply(image)).correspondence
                mask = box.apply(group.reference_mask(), fill=0.0)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", IcmWarning)
                    tokens = reference_tokens(feature, torch.from_numpy(mask)[None, None])
                for member in group.targets:
                    image, gt = member.load_image(), member.load_alpha()
                    box = Letterbox.fit(image.shape[:2], self.config.size)
                    canvas = box.apply(image)
                    features = stack([self.backbone.features(canvas)], self.device)
                    alpha = self.decoder(tokens.to(self.device), features,
                                         model_input(canvas).to(self.device)).alpha
                    prediction = np.clip(box.crop_back(alpha[0, 0].float().cpu().numpy()), 0, 1)
                    scores.append(evaluation.score(prediction, gt, member.load_trimap())[0])
        finally:
            self.decoder.train()
        return {name: float(np.mean([s[name] for s in scores])) for name in scores[0]}

    # --- the run ---------------------------------------------------------------------------

    def run(self, on_step: Callable[[int, dict], None] | None = None) -> Summary:
        """Train to ``config.steps``; ``on_step(step, logged)`` after every step."""
        config = self.config
        threads = torch.get_num_threads()
        if config.threads:
            torch.set_num_threads(config.threads)
        try:
            return self._run(on_step)
        finally:
            torch.set_num_threads(threads)

    def _run(self, on_step) -> Summary:
        from safetensors import SafetensorError

        created = not self.out.exists()
        try:
            try:
                return self._train(on_step)
            except (OSError, SafetensorError) as error:  # data read errors are ours already
                raise write_failure(f"the run folder {self.out}", error) from None
        except BaseException:
            if not self.config.resume and not (self.out / STATE_FILE).exists():
                self._remove_start(created)  # nothing to resume: leave the folder reusable
            raise

    def _remove_start(self, created: bool) -> None:
        """Remove what a start wrote (the folder too if it made it and nothing else is there):
        the start files, and last.safetensors of a first save whose state was not written."""
        for name in (*START_FILES, LAST):
            path = self.out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with suppress(OSError):
                    path.unlink(missing_ok=True)
        if created:
            try:
                self.out.rmdir()
            except OSError:
                pass  # not empty (best.safetensors) or never made

    def _train(self, on_step) -> Summary:
        from tqdm import tqdm

        config = self.config
        self.out.mkdir(parents=True, exist_ok=True)
        if not config.resume:
            (self.out / "config.json").write_text(json.dumps(config.as_json(), indent=1) + "\n")
        log = CsvLog(self.out / "log.csv", keep_until=self.step)
        board = _board(self.out / "tensorboard", self.step)
        started, interval, summary_losses = time.perf_counter(), [], []
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        bar = tqdm(total=config.steps, initial=self.step, desc="train", unit="step",
                   file=sys.stderr, disable=not config.progress)
        try:
            if self.val is not None and self.step == 0:  # the starting point, for comparison
                scores = {f"val_{k}": v for k, v in self.validate().items()}
                log.write(0, scores)
                bar.write(f"step 0: validation MSE {scores['val_mse']:.5f}")
                for name, value in scores.items() if board is not None else ():
                    board.add_scalar(name, value, 0)
            while self.step < config.steps:
                logged = self.train_step()
                interval.append(logged["loss"])
                bar.update(1)
                bar.set_postfix_str(f"loss {logged['loss']:.4f}")
                row = {}
                if self.step % config.log_every == 0 or self.step == config.steps:
                    summary_losses.append(float(np.mean(interval)))
                    interval = []
                    row.update(logged, seconds=time.perf_counter() - started,
                               features_computed=self.backbone.computed)
                validating = self.val is not None and (
                    self.step % config.val_every == 0 or self.step == config.steps)
                if validating:
                    scores = self.validate()
                    row.update({f"val_{k}": v for k, v in scores.items()})
                    bar.write(f"step {self.step}: validation MSE {scores['mse']:.5f} "
                              f"SAD {scores['sad']:.3f}")
                    if self.best is None or scores["mse"] < self.best:
                        self.best = scores["mse"]
                        save_weights(self.decoder, self.out / BEST,
                                     {"step": self.step, "val_mse": scores["mse"]})
                if row:
                    log.write(self.step, row)
                    if board is not None:
                        for name, value in row.items():
                            board.add_scalar(name if name.startswith("val_") else f"train/{name}",
                                             value, self.step)
                if self.step % config.checkpoint_every == 0 or self.step == config.steps:
                    self._save_state()
                if on_step is not None:
                    on_step(self.step, logged)
        finally:
            bar.close()
            log.close()
            if board is not None:
                board.close()
        best = self.out / BEST if (self.out / BEST).is_file() else None
        return Summary(self.step, self.out / LAST, best, self.best, time.perf_counter() - started,
                       peak_memory(self.device), summary_losses, self.backbone.computed)


class CsvLog:
    """log.csv with fixed columns; on resume, rows after the saved step are dropped."""

    def __init__(self, path: Path, keep_until: int):
        rows = []
        if path.is_file():
            with path.open(newline="") as old:
                rows = [r for r in csv.DictReader(old) if int(r["step"]) <= keep_until]
        self.file = path.open("w", newline="")
        self.writer = csv.DictWriter(self.file, LOG_COLUMNS, extrasaction="ignore")
        self.writer.writeheader()
        self.writer.writerows(rows)
        self.file.flush()

    def write(self, step: int, row: dict) -> None:
        self.writer.writerow({"step": step, **{k: (f"{v:.6g}" if isinstance(v, float) else v)
                                               for k, v in row.items()}})
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def _board(folder: Path, step: int):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        warnings.warn("TensorBoard logs need the tensorboard package (pip install tensorboard); "
                      "log.csv is written regardless.", IcmWarning, stacklevel=2)
        return None
    return SummaryWriter(str(folder), purge_step=step)


def train(config: TrainConfig, *, extractor=None, on_step=None) -> Summary:
    """Check everything, then train; see :class:`Trainer`."""
    return Trainer(config, extractor=extractor).run(on_step)
