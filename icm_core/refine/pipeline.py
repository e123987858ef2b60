"""The two refinement pipelines: the final one (segmentation, trimap, closed-form matting,
guided upsampling) and the quick preview shown while the artist corrects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from ..geometry import resize, scale_to_fit
from .closed_form import MATTING_MIN_SIDE, closed_form_alpha
from .masks import pin, shrink
from .segmentation import segment
from .trimap import trimap_from_segmentation
from .upsampling import guided_coefficients, guided_upsample


@dataclass(frozen=True)
class RefineSettings:
    """How the stages run; the engines fill it from their options."""

    seed: int = 0  # GrabCut's colour-model k-means is randomised
    iterations: int = 5  # GrabCut's; fewer are faster and a little coarser
    completion: bool = False  # add back the parts of the subject GrabCut dropped
    work_side: int = 640  # graph cut resolution (long side)
    matting_side: int = 1024  # closed-form matting resolution (long side)
    preview_side: int = 320  # the preview's graph cut resolution (long side)


#: a stroke's reach (:func:`icm_core.lite.corrections.reach`) below which the segmentation
#: keeps what it was without the strokes
SETTLED_REACH = 0.03


@dataclass(frozen=True)
class Settled:
    """What correction strokes leave as it was: the segmentation without them (``subject``,
    boolean, any size) wherever neither the keep strokes' nor the remove strokes' reach (any
    grid, in [0, 1]) is SETTLED_REACH; where only keep strokes reach, the subject only grows
    from it, and where only remove strokes reach, it only shrinks.  Pinned stroke pixels and
    GrabCut's colour models learnt over the whole picture would otherwise flip look-alike
    regions far from the strokes, or drop leaves beside a keep stroke."""

    subject: np.ndarray
    keep_reach: np.ndarray
    remove_reach: np.ndarray

    def keep_unreached(self, subject: np.ndarray) -> np.ndarray:
        size = subject.shape[::-1]
        before = cv2.resize(self.subject.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
        adds, drops = (cv2.resize(reach, size, interpolation=cv2.INTER_LINEAR) >= SETTLED_REACH
                       for reach in (self.keep_reach, self.remove_reach))
        grown, shrunk = subject | before, subject & before
        return np.where(adds & drops, subject,
                        np.where(adds, grown, np.where(drops, shrunk, before)))


class Refined(NamedTuple):
    alpha: np.ndarray  # at the image's full size
    matting_image: np.ndarray  # the picture at the matting resolution
    matting_alpha: np.ndarray  # the alpha there (for foreground colours)
    subject: np.ndarray  # the segmentation (boolean, at the work side)


def _no_checkpoint(stage: str) -> None:
    pass


def refine_alpha(image: np.ndarray, probability: np.ndarray, support: np.ndarray | None = None,
                 *, keep: np.ndarray | None = None, remove: np.ndarray | None = None,
                 settings: RefineSettings = RefineSettings(), settled: Settled | None = None,
                 checkpoint: Callable[[str], None] = _no_checkpoint) -> Refined:
    """Coarse ``probability`` (any size) → alpha at ``image``'s full size.

    ``support`` is the in-context evidence (:func:`~.segmentation.segment`).  The matting
    image and alpha of the result (at the matting resolution) let callers estimate foreground
    colours cheaply.  ``checkpoint(stage)`` is called between stages with the name of the
    stage just finished (engines raise there to cancel).  ``keep`` / ``remove`` (boolean,
    ``image``'s size) are corrections: hard labels for the graph cut, pinned in the trimap
    and in the returned alpha (1 / 0); ``settled`` keeps what they do not reach.
    """
    _, segmented = _segment_at(settings.work_side, image, probability, support, keep, remove,
                               settings, settled)
    checkpoint("graph cut")
    matting_image, subject, trimap = _trimap(image, probability, segmented, keep, remove,
                                             settings.matting_side)
    checkpoint("trimap")
    matting_alpha = closed_form_alpha(matting_image, trimap, subject)
    checkpoint("matting")
    alpha = guided_upsample(image, matting_image, matting_alpha)
    return Refined(pin(alpha, keep, remove), matting_image, matting_alpha, segmented)


def preview_alpha(image: np.ndarray, probability: np.ndarray, support: np.ndarray | None = None,
                  *, keep: np.ndarray | None = None, remove: np.ndarray | None = None,
                  settings: RefineSettings = RefineSettings(),
                  settled: Settled | None = None) -> np.ndarray:
    """A quick alpha at ``image``'s size for live feedback: the graph cut at the preview side,
    its edges softened by a guided filter on the picture instead of matting, then resized.
    Corrections are pinned and ``settled`` kept as in :func:`refine_alpha`."""
    work_image, subject = _segment_at(settings.preview_side, image, probability, support, keep,
                                      remove, settings, settled)
    coeffs = guided_coefficients(work_image, subject.astype(np.float32), radius=2, eps=1e-3)
    soft = coeffs[..., 3] + (coeffs[..., :3] * work_image).sum(-1)
    alpha = cv2.resize(soft, image.shape[:2][::-1], interpolation=cv2.INTER_LINEAR)
    return np.clip(pin(alpha, keep, remove), 0.0, 1.0, out=alpha)


def segment_subject(image: np.ndarray, probability: np.ndarray, support: np.ndarray | None,
                    settings: RefineSettings, side: int) -> np.ndarray:
    """The segmentation without corrections at long side ``side`` (:func:`refine_alpha`'s at
    the work side, :func:`preview_alpha`'s at the preview side)."""
    return _segment_at(side, image, probability, support, None, None, settings)[1]


def _segment_at(side: int, image: np.ndarray, probability: np.ndarray,
                support: np.ndarray | None, keep: np.ndarray | None, remove: np.ndarray | None,
                settings: RefineSettings, settled: Settled | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The picture at long side ``side`` and the subject segmented there."""
    work_size = scale_to_fit(image.shape[:2], side)
    work_image = resize(image, work_size)
    keep, remove = shrink(keep, work_size), shrink(remove, work_size)
    subject = segment(work_image, probability, support, seed=settings.seed, keep=keep,
                      remove=remove, completion=settings.completion, iterations=settings.iterations)
    if settled is not None:
        subject = pin(settled.keep_unreached(subject), keep, remove)
    return work_image, subject


def _trimap(image: np.ndarray, probability: np.ndarray, subject: np.ndarray,
            keep: np.ndarray | None, remove: np.ndarray | None, side: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The picture at the matting side, the subject there and its trimap, corrections pinned
    in both; the band widens where the coarse ``probability`` was unsure."""
    matting_size = scale_to_fit(image.shape[:2], side, MATTING_MIN_SIDE)
    matting_image = resize(image, matting_size)
    subject = cv2.resize(subject.astype(np.uint8), matting_size[::-1],
                         interpolation=cv2.INTER_NEAREST) > 0
    coarse = cv2.resize(probability, matting_size[::-1], interpolation=cv2.INTER_LINEAR)
    uncertainty = 1.0 - np.abs(2.0 * coarse - 1.0)
    trimap = trimap_from_segmentation(subject, uncertainty, matting_image)
    keep_here, remove_here = shrink(keep, matting_size), shrink(remove, matting_size)
    pin(trimap, keep_here, remove_here)
    pin(subject, keep_here, remove_here)
    return matting_image, subject, trimap
