"""Load the official ICM checkpoint without running pickled code.

The released file is a PyTorch-Lightning ``.ckpt`` (or a bare state dict) whose pickle may
name training-time classes (callbacks, configs).  We unpickle with torch's weights-only
unpickler; every global it would refuse is replaced by an inert placeholder class, so an
unknown class is skipped, never imported or called.  Globals from ``os``/``sys`` are refused
outright.  Only the ``in_context_decoder.*`` tensors are kept, and they must match the decoder
exactly (strict): missing, unexpected and mis-shaped keys are named in the error.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..api import IcmWarning, WeightsCorrupt, WeightsMissing
from .model import CHECKPOINT_PREFIX


class Skipped:
    """Stands in for a class or function the checkpoint names but we do not trust."""

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


def _placeholder(full_name: str) -> type:
    return type(full_name.rsplit(".", 1)[-1], (Skipped,), {"skipped_name": full_name})


def read_checkpoint(path: str | Path) -> dict:
    """The raw object of a ``.safetensors`` / ``.ckpt`` / ``.pt`` / ``.pth`` file."""
    path = Path(path)
    if not path.is_file():
        raise WeightsMissing(f"The ICM checkpoint {path} does not exist.")
    if path.suffix == ".safetensors":
        try:
            return load_file(path)
        except (SafetensorError, OSError) as error:
            raise WeightsCorrupt(f"{path} is not a readable safetensors file ({error}); "
                                 "download or convert it again.") from error
    try:
        archive = zipfile.is_zipfile(path)
    except zipfile.BadZipFile:  # e.g. a damaged end record claiming several disks
        archive = False
    if not archive:
        raise WeightsCorrupt(f"{path} is not a PyTorch checkpoint (not a zip archive); it may "
                             "be truncated or an old-format file. Download it again.")
    try:
        unknown = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception as error:  # noqa: BLE001 - any failure here means a damaged archive
        raise WeightsCorrupt(f"{path} is damaged ({error}); download it again.") from error
    refused = [name for name in unknown if name.split(".")[0] in ("os", "sys", "posix", "nt")]
    if refused:
        raise WeightsCorrupt(f"{path} contains code ({', '.join(refused)}); refusing to load it. "
                             "Use the official checkpoint from a trusted source.")
    if unknown:
        warnings.warn(f"Skipping {len(unknown)} non-tensor object(s) in {path.name}: "
                      f"{', '.join(unknown)}", IcmWarning, stacklevel=2)
    try:
        placeholders = [(_placeholder(name), name) for name in unknown]
        with torch.serialization.safe_globals(placeholders):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged pickle fails in many ways (KeyError…)
        raise WeightsCorrupt(f"{path} could not be read safely ({type(error).__name__}: {error}).") from error


def decoder_state_dict(raw: dict) -> dict[str, torch.Tensor]:
    """The decoder tensors (prefix stripped) from a Lightning checkpoint or a bare state dict."""
    state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
    if not isinstance(state, dict):
        raise WeightsCorrupt("The checkpoint holds no state dict.")
    prefixed = {k[len(CHECKPOINT_PREFIX):]: v for k, v in state.items()
                if isinstance(k, str) and k.startswith(CHECKPOINT_PREFIX)}
    chosen = prefixed or {k: v for k, v in state.items() if isinstance(k, str)
                          and k.startswith(("in_context_fusion.", "detail_decoder."))}
    if not chosen:
        raise WeightsCorrupt("The checkpoint has no 'in_context_decoder.*' weights; is it the "
                             "In-Context Matting checkpoint?")
    return {k: v for k, v in chosen.items() if isinstance(v, torch.Tensor)}


def load_decoder_weights(decoder: nn.Module, state: dict[str, torch.Tensor], source="") -> None:
    """Strict load with an error that names what does not fit."""
    expected = decoder.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
                   for k, v in expected.items() if k in state and state[k].shape != v.shape)
    # NaN or infinite weights load without complaint and make every alpha NaN (written as 0)
    broken = sorted(k for k, v in state.items()
                    if k in expected and v.is_floating_point() and not torch.isfinite(v).all())
    if missing or unexpected or wrong or broken:
        parts = [f"{label}: {', '.join(keys[:8])}{' …' if len(keys) > 8 else ''}"
                 for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                     ("wrong shapes", wrong), ("NaN or infinite values", broken))
                 if keys]
        raise WeightsCorrupt(f"The ICM checkpoint {source} does not fit the decoder — "
                             + "; ".join(parts) + ". Download or train it again.")
    decoder.load_state_dict({k: v.to(expected[k].dtype) if v.is_floating_point() else v
                             for k, v in state.items()}, strict=True)
