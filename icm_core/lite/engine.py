"""``lite``: training-free in-context matting on EfficientNet-Lite2 features (ONNX Runtime).

Reference: descriptors of the reference image split into subject and background tokens by
the brushed mask.  Target: in-context similarity gives a coarse probability on a token grid
(:mod:`icm_core.lite.incontext`); :func:`icm_core.refine.refine_alpha` snaps it to the
target's edges, mattes the boundary band and returns the alpha at full resolution.

A target's expensive state (features, token affinity, the reference's votes) is kept in a
bounded LRU, so matting it again with correction hints recomputes only the cheap stages.
"""

from __future__ import annotations

import hashlib
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from ..api import CancelToken, Hints, MatteResult, ProgressCallback, Reference, check_cancel, report
from ..engines.base import (QUALITIES, EngineBase, Option, check_declared, check_reference,
                            check_references, memory_guard)
from ..validate import (check_follow, check_hints, check_image, check_mask, check_result,
                        check_seed)

FEATURE_SIDE = 640  # long side of the network input: tokens of 16 px on a 640 px picture


@dataclass(frozen=True)
class Preset:
    """What a quality preset sets; explicit engine options override the first two."""

    feature_side: int  # long side of the network input
    matting_side: int  # long side of the closed-form matting
    graph_cut_iterations: int = 5  # GrabCut's; fewer are faster and a little coarser


#: best mattes larger pictures finer but keeps balanced's features (finer tokens lose thin
#: structures such as leaves); fast runs fewer GrabCut iterations, its largest stage.
QUALITY = {"fast": Preset(448, 640, graph_cut_iterations=3),
           "balanced": Preset(FEATURE_SIDE, 1024),
           "best": Preset(FEATURE_SIDE, 1536)}
#: numpy's BLAS threads while lite works: its matrix products are small, so a second thread
#: waiting for a busy core costs more than it saves, and one thread gives the same sums (hence
#: mattes) in the panel and in batch workers (icm_core.batch.TARGET_THREADS).
BLAS_THREADS = 1
PREVIEW_WORK_SIDE = 320  # a preview after a correction stroke: graph cut at this long side
#: a reference's completion is the mask proper when the salient object its strokes lie on joined
#: and the picture's own reading reaches beyond it by at most this share of it (scribbled and
#: half masks on both sets: ≤ 0.02 where the salient object is the whole subject, 0.08-0.7
#: where it is a part; 0.05 and 0.1 by leave-one-group-out, benchmarks/lite_quality.py --mask)
OWN_BEYOND_EXTENT = 0.05
CACHE_MB = 256  # kept target states; the most recent one is always kept
CACHE_MB_MAX = 65536  # a budget, not an allocation, but beyond 64 GB it is surely a typo


@dataclass
class _TargetState:
    tokens: object  # incontext.TargetTokens
    votes: dict = field(default_factory=dict)  # id(reference tokens) → (weakref, Evidence)
    salient: np.ndarray | None = None  # objectness prior on the token grid, once asked for
    salient_map: np.ndarray | None = None  # the salient-object network's output, once asked for
    # (id(reference tokens), seed, followed cells, long side) → (weakref, its segmentation
    # without corrections)
    segmentations: dict = field(default_factory=dict)

    def evidence(self, reference_tokens):
        from .incontext import evidence

        key = id(reference_tokens)
        kept = self.votes.get(key)
        if kept is None or kept[0]() is not reference_tokens:
            kept = (weakref.ref(reference_tokens), evidence(reference_tokens, self.tokens))
            self.votes = {k: v for k, v in self.votes.items() if v[0]() is not None}
            self.votes[key] = kept
        return kept[1]

    def remember(self, reference_tokens, seed: int, followed: bytes, side: int,
                 subject: np.ndarray) -> None:
        """Keep ``subject``, the segmentation without corrections made at long side ``side``
        (``followed``: the cells a shot's recent subject pinned, as bytes; empty outside shots)."""
        self.segmentations = {k: v for k, v in self.segmentations.items() if v[0]() is not None}
        key = (id(reference_tokens), seed, followed, side)
        self.segmentations[key] = (weakref.ref(reference_tokens), subject)

    def segmentation(self, reference_tokens, seed: int, followed: bytes,
                     side: int) -> np.ndarray | None:
        """The kept segmentation without corrections, at long side ``side`` or finer."""
        for (*key, kept_side), (alive, subject) in self.segmentations.items():
            if key == [id(reference_tokens), seed, followed] and kept_side >= side \
                    and alive() is reference_tokens:
                return subject
        return None

    @property
    def nbytes(self) -> int:
        return (self.tokens.nbytes + sum(v[1].neighbours.nbytes * 2 for v in self.votes.values())
                + sum(v[1].nbytes for v in self.segmentations.values()))


class LiteEngine(EngineBase):
    name = "lite"
    label = "Lite (built in)"
    REQUIREMENTS = ("onnxruntime", "scipy", "cv2", "maxflow")
    PRESETS = {quality: {"quality": quality} for quality in QUALITIES}
    OPTIONS = (
        Option("quality", str, "balanced", ", ".join(f"{name} {p.feature_side}/{p.matting_side}"
                                                     for name, p in QUALITY.items())
               + ": feature/matting side",
               choices=tuple(QUALITY)),
        Option("feature_side", int, None, "long side (px) of the feature network's input "
               "(default: quality's)", low=128, high=2048),
        Option("matting_side", int, None, "long side (px) of the closed-form matting "
               "(default: quality's)", low=256, high=4096),
        Option("completion", bool, True, "add back object parts the graph cut dropped "
               "(~0.1 s)"),
        Option("complete_reference", bool, True, "complete a reference's strokes to the "
               "whole subject before encoding"),
        Option("one_instance", bool, True, "keep as many look-alikes as the reference "
               "paints, not every one"),
        Option("objectness", bool, False, "learned salient-object prior, heeded as far as "
               "the reference agrees"),
        Option("device", str, "cpu", "lite runs on the CPU only", choices=("cpu",)),
        Option("threads", int, 1, "ONNX Runtime threads for the feature network", low=1,
               high_is_cores=True),
        Option("cache_mb", int, CACHE_MB, "memory (MB) for targets kept for quick re-matting",
               low=0, high=CACHE_MB_MAX),
    )

    def __init__(self, quality: str = "balanced", feature_side: int | None = None,
                 matting_side: int | None = None, completion: bool = True,
                 complete_reference: bool = True, one_instance: bool = True,
                 objectness: bool = False, device: str = "cpu",
                 threads: int = 1, cache_mb: int = CACHE_MB):
        check_declared(self.name, self.OPTIONS, locals())
        preset = QUALITY[quality]
        feature_side = preset.feature_side if feature_side is None else feature_side
        matting_side = preset.matting_side if matting_side is None else matting_side
        self.quality = quality
        self.feature_side = feature_side
        self.matting_side = matting_side
        self.completion = bool(completion)
        self.complete_reference = bool(complete_reference)
        self.one_instance = bool(one_instance)
        self.objectness = bool(objectness)
        self.graph_cut_iterations = preset.graph_cut_iterations
        self.threads = threads
        self.cache_bytes = cache_mb * 2**20
        self._targets: OrderedDict[tuple, _TargetState] = OrderedDict()

    @classmethod
    def weights_fingerprint(cls, options: dict) -> dict[str, str]:
        """What identifies the weights it computes with (a batch records it; compared on resume)."""
        from . import objectness
        from .backbone import MODEL_SHA256  # the loaders refuse any other file

        weights = {"efficientnet-lite2": MODEL_SHA256}
        if options.get("objectness"):
            weights["u2netp"] = objectness.MODEL_SHA256
        return weights

    @classmethod
    def uses_gpu(cls, options: dict) -> bool:
        return False

    def _describe(self, image: np.ndarray) -> np.ndarray:
        from .backbone import describe

        return describe(image, self.feature_side, self.threads)

    def _salient(self, image: np.ndarray) -> np.ndarray | None:
        """The picture's saliency on its token grid (kept with its state); None without the
        objectness option."""
        from .objectness import saliency

        if not self.objectness:
            return None
        state = self._target_state(image)
        if state.salient is None:
            state.salient = saliency(image, state.tokens.grid, salient=self._salient_map(image))
        return state.salient

    def _salient_map(self, image: np.ndarray) -> np.ndarray:
        """The picture's salient-object map (:func:`~icm_core.lite.objectness.saliency_map`,
        kept with its state: a reference brushed stroke by stroke runs the network once)."""
        from .objectness import saliency_map

        state = self._target_state(image)
        if state.salient_map is None:
            state.salient_map = saliency_map(image, self.threads)
        return state.salient_map

    def _descriptors(self, image: np.ndarray) -> np.ndarray:
        """The picture's (C, h, w) descriptors, from its kept state (computed once)."""
        tokens = self._target_state(image).tokens
        return tokens.tokens.T.reshape(-1, *tokens.grid)

    def _target_state(self, target: np.ndarray) -> _TargetState:
        """The target's kept state, computed on first use; least recently used states go first
        once they exceed the cache budget."""
        from .incontext import target_tokens

        # sha256: hardware-accelerated on current CPUs, twice as fast as blake2b on big pictures
        key = (target.shape, hashlib.sha256(np.ascontiguousarray(target).data).digest())
        state = self._targets.pop(key, None)
        if state is None:
            state = _TargetState(target_tokens(self._describe(target)))
        self._targets[key] = state
        while len(self._targets) > 1 and sum(s.nbytes for s in self._targets.values()) > self.cache_bytes:
            self._targets.popitem(last=False)
        return state

    def forget(self) -> None:
        """Drop every kept target state (memory back; recomputed on the next matte)."""
        self._targets.clear()

    def encode_reference(self, image: np.ndarray, mask: np.ndarray, *, seed: int = 0,
                         memory: bool = False) -> Reference:
        """The reference's tokens; with ``complete_reference`` (default) the brushed mask is
        also completed (:meth:`complete_reference_mask`, its graph cut seeded by ``seed``).  A
        completion that the salient object the strokes lie on reaches, in agreement with the
        picture's own reading, is the mask proper; otherwise what either mask's reading takes
        as subject is taught as subject, and only what both take as background as background.
        A ``memory`` frame (a shot's earlier frame, its mask the matte's sure reading) is
        taught as its mask says, and has less say than the user's references
        (``incontext.MEMORY_MARGIN``)."""
        from .incontext import follows_edges, reference_tokens
        from .instances import painted_instances

        check_image(image, "reference image")
        check_mask(mask, image.shape, "reference mask")
        check_seed(seed)
        completed, salient_reach = None, False  # salient_reach: the agreed salient extent joined
        if self.complete_reference and not memory:
            alpha, salient_reach = self._completion(image, mask, preview=False, seed=seed)
            completed = (alpha >= 0.5).astype(np.float32)
        with memory_guard(_MEMORY_ADVICE), threadpool_limits(BLAS_THREADS, user_api="blas"):
            if salient_reach:
                tokens = reference_tokens(self._descriptors(image), completed, self._salient(image))
            else:
                tight = completed is None or follows_edges(image, mask)
                tokens = reference_tokens(self._descriptors(image), mask, self._salient(image),
                                          completed, memory, tight)
        if not memory:  # a memory frame's mask is a sure reading, not the subjects painted
            painted = mask if completed is None else np.maximum(mask > 0.5, completed)
            tokens = replace(tokens, instances=painted_instances(painted))
        return Reference(self.name, tokens, (image.shape[:2],))

    def complete_reference_mask(self, image: np.ndarray, strokes: np.ndarray, *,
                                preview: bool = False, seed: int = 0) -> np.ndarray:
        """What the engine takes the subject of a reference to be from the artist's strokes
        (an alpha, the image's size): the reference picture matted with its strokes as the
        subject of its own tokens (:func:`~icm_core.lite.incontext.stroke_tokens`; no keep
        hints), so the unpainted rest of the subject joins wherever the picture's own evidence
        ties it to the strokes, and the salient object the strokes lie on joins as far as it
        reaches (:func:`~icm_core.lite.objectness.salient_extent`: parts unlike the strokes,
        such as a panda's white face beside its red body).  The painted pixels are always
        subject.  ``preview`` gives the quick reading for showing it live while the artist
        brushes."""
        check_image(image, "reference image")
        check_mask(strokes, image.shape, "reference mask")
        return self._completion(image, strokes, preview=preview, seed=seed)[0]

    def _completion(self, image: np.ndarray, strokes: np.ndarray, *, preview: bool,
                    seed: int) -> tuple[np.ndarray, bool]:
        """:meth:`complete_reference_mask`'s alpha, and whether the salient extent joined and
        the picture's own reading agrees with it (reaches at most OWN_BEYOND_EXTENT of it
        beyond it: more, and the salient part is only part of the subject, as a sheep's lit
        back beside its shaded body)."""
        from .incontext import stroke_tokens
        from .objectness import salient_extent

        painted = strokes > 0.5
        with memory_guard(_MEMORY_ADVICE), threadpool_limits(BLAS_THREADS, user_api="blas"):
            tokens = stroke_tokens(self._descriptors(image), strokes, self._salient(image))
            extent = salient_extent(self._salient_map(image), strokes)
        own = Reference(self.name, tokens, (image.shape[:2],))
        alpha = self.matte(image, own, seed=seed, preview=preview).alpha
        reach = extent >= 0.5
        beyond = float(((alpha >= 0.5) & ~reach).sum())
        agreed = bool(reach.any()) and beyond <= OWN_BEYOND_EXTENT * float(reach.sum())
        return np.maximum(np.maximum(alpha, extent), painted.astype(np.float32)), agreed

    def combine(self, references: Sequence[Reference]) -> Reference:
        from .incontext import combine

        check_references(references, self.name)
        return Reference(
            self.name,
            combine([r.data for r in references]),
            tuple(size for r in references for size in r.image_sizes),
        )

    def _coarse_maps(self, state: _TargetState, votes, reference_tokens, fix, salient,
                     objectness: float, followed: np.ndarray | None = None):
        """The target's coarse maps with the corrections ``fix`` (or None); with
        ``one_instance``, as many subjects kept as the reference paints, and every one that
        holds a keep stroke or lies in the ``followed`` cells (where a shot's recent subject
        was, :func:`~icm_core.lite.instances.followed_cells`)."""
        from .corrections import corrected_maps
        from .instances import keep_supported

        maps = corrected_maps(state.tokens, votes, fix, salient, objectness)
        if not self.one_instance:
            return maps
        pinned = None if fix is None else fix.keep
        if followed is not None:
            pinned = followed if pinned is None else pinned | followed
        return keep_supported(maps, reference_tokens.instances, pinned)

    def matte(self, target: np.ndarray, reference: Reference, *,
              progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
              seed: int = 0, foreground: bool = False, hints: Hints | None = None,
              preview: bool = False, follow: np.ndarray | None = None) -> MatteResult:
        from ..refine import (RefineSettings, Settled, estimate_foreground, preview_alpha,
                              refine_alpha, segment_subject)
        from .corrections import correct
        from .instances import followed_cells

        check_image(target, "target image")
        check_reference(reference, self.name)
        check_seed(seed)
        keep = remove = None
        if hints is not None:
            keep, remove = check_hints(hints, target.shape)
        if follow is not None:
            follow = check_follow(follow, target.shape)
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        # (stage, fraction of the work done when it ends), in order
        stages = [("similarity", 0.25), ("graph cut", 0.45), ("trimap", 0.5), ("matting", 0.8),
                  ("upsampling", 0.9 if foreground else 1.0)] + ([("foreground", 1.0)] if foreground else [])
        names = [name for name, _ in stages] + ["done"]
        fractions = dict(stages)

        def finished(name: str) -> None:
            """Record the stage just finished, honour cancel, announce the next stage."""
            nonlocal clock
            now = time.perf_counter()
            timings[name] = now - clock
            clock = now
            check_cancel(cancel)
            report(progress, fractions[name], names[names.index(name) + 1])

        report(progress, 0.0, "similarity")
        check_cancel(cancel)
        with memory_guard(_MEMORY_ADVICE), threadpool_limits(BLAS_THREADS, user_api="blas"):
            state = self._target_state(target)
            check_cancel(cancel)  # the network and the similarity each take a fraction of a second
            votes = state.evidence(reference.data)
            fix = None if hints is None else correct(state.tokens, votes, reference.data, keep,
                                                     remove, hints.brushed)
            objectness = reference.data.objectness if self.objectness else 0.0
            salient = self._salient(target) if objectness > 0 else None
            followed = None if follow is None else followed_cells(follow, state.tokens.grid)
            # the segmentation kept for corrections depends on what the shot followed
            followed_key = b"" if followed is None else np.packbits(followed).tobytes()
            coarse = self._coarse_maps(state, votes, reference.data, fix, salient, objectness,
                                       followed)
            finished("similarity")
            settings = RefineSettings(seed=seed, iterations=self.graph_cut_iterations,
                                      completion=self.completion, matting_side=self.matting_side,
                                      preview_side=PREVIEW_WORK_SIDE)
            settled = None
            if fix is not None:  # what the strokes do not reach stays as it was without them
                side = settings.preview_side if preview else settings.work_side
                before = state.segmentation(reference.data, seed, followed_key, side)
                if before is None:
                    plain = self._coarse_maps(state, votes, reference.data, None, salient,
                                              objectness, followed)
                    before = segment_subject(target, plain.probability, plain.cross, settings,
                                             side)
                    state.remember(reference.data, seed, followed_key, side, before)
                grid = state.tokens.grid
                settled = Settled(before, fix.keep_reach.reshape(grid),
                                  fix.remove_reach.reshape(grid))
            if preview:  # live feedback while correcting: no matting, no colours
                alpha = preview_alpha(target, coarse.probability, coarse.cross, keep=keep,
                                      remove=remove, settings=settings, settled=settled)
                return check_result(MatteResult(alpha, None, timings | {"preview": time.perf_counter() - clock}),
                                    self.name, _NUMERICAL_ADVICE)
            alpha, matting_image, matting_alpha, subject = refine_alpha(
                target, coarse.probability, coarse.cross, keep=keep, remove=remove,
                settings=settings, settled=settled, checkpoint=finished,
            )
            if fix is None:
                state.remember(reference.data, seed, followed_key, settings.work_side, subject)
            finished("upsampling")
            colours = None
            if foreground:
                colours = estimate_foreground(target, matting_image, matting_alpha)
                finished("foreground")
        return check_result(MatteResult(alpha, colours, timings), self.name, _NUMERICAL_ADVICE)


_NUMERICAL_ADVICE = "Please report this with the picture and the reference."
_MEMORY_ADVICE = ("Not enough memory for this picture: close other programs, or lower the "
                  "matting resolution (matting_side) or the picture size.")
