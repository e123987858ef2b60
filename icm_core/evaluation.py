"""In-context evaluation of an engine on a dataset (see :mod:`icm_core.datasets`).

For each group the reference is encoded once and every other member is matted.  Prediction
and ground truth are both shrunk (area interpolation) so the long side is at most
:data:`SCORING_MAX_SIDE`, then scored over the whole image and, when the member has a trimap,
over its unknown region too.  ``seconds`` is the wall time of ``engine.matte`` for one target:
file decoding, scoring and the once-per-group reference encoding are not included.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from . import imageio, metrics
from .api import InvalidInput, OutputError
from .datasets import Dataset, Group, Member
from .engines.base import Engine
from .geometry import resize, scale_to_fit

SCORING_MAX_SIDE = 1024
SCORES_FORMAT = "icm-matting eval scores/1"  # marks a scores file that a later eval may replace
_SCORES_HEAD = re.compile(r'\s*\{\s*"format"\s*:\s*"' + re.escape(SCORES_FORMAT) + '"')
SHEET_TILE_HEIGHT = 192  # contact sheet rows: image | GT | prediction | error, this many px tall


@dataclass
class TargetScore:
    group: str
    id: str
    scores: dict[str, float]  # whole image: mse, sad, grad, conn
    seconds: float
    unknown: dict[str, float] | None = None  # over the trimap's unknown region, if any

    def as_json(self) -> dict:
        entry = {"group": self.group, "id": self.id, **self.scores, "seconds": self.seconds}
        if self.unknown is not None:
            entry["unknown"] = self.unknown
        return entry


@dataclass
class Report:
    dataset: str
    engine: str
    input_max_side: int | None = None
    targets: list[TargetScore] = field(default_factory=list)
    reference_seconds: dict[str, float] = field(default_factory=dict)  # per group; table only

    def group_names(self) -> list[str]:
        return list(dict.fromkeys(target.group for target in self.targets))

    def summary(self, group: str | None = None) -> dict:
        """Means over the group's targets (all targets when ``group`` is None)."""
        chosen = [t for t in self.targets if group is None or t.group == group]
        summary = {name: _mean(t.scores[name] for t in chosen) for name in metrics.METRIC_NAMES}
        summary["seconds_per_target"] = _mean(t.seconds for t in chosen)
        summary["targets"] = len(chosen)
        with_trimap = [t.unknown for t in chosen if t.unknown is not None]
        if with_trimap:
            summary["unknown"] = {name: _mean(u[name] for u in with_trimap) for name in metrics.METRIC_NAMES}
            summary["unknown"]["targets"] = len(with_trimap)
        return summary

    def as_json(self) -> dict:
        return {
            "overall": self.summary(),
            "groups": {name: self.summary(name) for name in self.group_names()},
            "targets": [target.as_json() for target in self.targets],
        }

    def table(self) -> str:
        """A per-group and overall table for the terminal."""
        header = f"{'group':<16}{'targets':>8}{'MSE':>10}{'SAD':>10}{'Grad':>10}{'Conn':>10}{'s/target':>10}"
        scored_at = min(SCORING_MAX_SIDE, self.input_max_side or SCORING_MAX_SIDE)
        inputs = f", inputs shrunk to {self.input_max_side} px" if self.input_max_side else ""
        lines = [f"{self.dataset} — engine {self.engine}{inputs}, whole image at long side ≤ {scored_at} px", header]
        rows = [(name, self.summary(name)) for name in self.group_names()] + [("overall", self.summary())]
        for index, (name, summary) in enumerate(rows):
            if index == len(rows) - 1:
                lines.append("-" * len(header))
            lines.append(
                f"{name:<16}{summary['targets']:>8}{summary['mse']:>10.4f}{summary['sad']:>10.2f}"
                f"{summary['grad']:>10.2f}{summary['conn']:>10.2f}{summary['seconds_per_target']:>10.2f}"
            )
        unknown_rows = [(name, summary["unknown"]) for name, summary in rows if "unknown" in summary]
        if unknown_rows:
            lines += ["", "trimap unknown region only", header.replace("s/target", "").rstrip()]
            lines += [
                f"{name:<16}{u['targets']:>8}{u['mse']:>10.4f}{u['sad']:>10.2f}{u['grad']:>10.2f}{u['conn']:>10.2f}"
                for name, u in unknown_rows
            ]
        lines.append("s/target = wall time of engine.matte per target (no file decoding, no reference encoding)")
        if self.reference_seconds:
            encode = _mean(self.reference_seconds.values())
            lines.append(f"reference encoding: {encode:.2f} s per group (once, reused for all its targets)")
        return "\n".join(lines)


def score(
    prediction: np.ndarray, gt: np.ndarray, trimap: np.ndarray | None = None, max_side: int = SCORING_MAX_SIDE
) -> tuple[dict[str, float], dict[str, float] | None]:
    """Scores over the whole image and over the trimap's unknown region (None without trimap)."""
    if prediction.shape != gt.shape:
        raise InvalidInput(f"The prediction {prediction.shape} and ground truth {gt.shape} sizes differ.")
    size = scale_to_fit(gt.shape, max_side)
    prediction, gt = resize(prediction, size), resize(gt, size)
    whole = metrics.compute_all(prediction, gt)
    if trimap is None:
        return whole, None
    # nearest neighbour keeps the trimap's three levels (area averaging would blur them)
    trimap = cv2.resize(trimap, size[::-1], interpolation=cv2.INTER_NEAREST)
    region = metrics.unknown_region(trimap)
    return whole, (metrics.compute_all(prediction, gt, region) if region.any() else None)


def evaluate(
    dataset: Dataset,
    engine: Engine,
    *,
    limit_groups: int | None = None,
    input_max_side: int | None = None,
    save_dir: Path | None = None,
    on_target: Callable[[TargetScore], None] | None = None,
    seed: int = 0,
    mask_style: str = "exact",
    mask_seed: int = 0,
) -> Report:
    """Run the in-context protocol; ``on_target`` is called after each scored target.

    ``mask_style`` (see :func:`reference_mask`, drawn with ``mask_seed``) stands in for how
    carefully an artist brushes.

    ``input_max_side`` shrinks images before the engine sees them (a quick, non-standard run);
    the prediction is scored against the ground truth at the same size.
    """
    groups = dataset.groups[:limit_groups] if limit_groups is not None else dataset.groups
    if not groups:
        raise InvalidInput(f"The dataset {dataset.name!r} has no groups to evaluate in context.")
    if save_dir is not None:
        _check_outputs_free(save_dir, groups)
    report = Report(dataset.name, getattr(engine, "name", type(engine).__name__), input_max_side)
    for group in groups:
        image, mask = _load(group.reference, input_max_side)
        mask = reference_mask(mask, mask_style, mask_seed)
        started = time.perf_counter()
        reference = engine.encode_reference(image, mask)
        report.reference_seconds[group.name] = time.perf_counter() - started
        sheet_rows = []
        for member in group.targets:
            image, gt = _load(member, input_max_side)
            started = time.perf_counter()
            prediction = engine.matte(image, reference, seed=seed).alpha
            seconds = time.perf_counter() - started
            trimap = member.load_trimap()
            if trimap is not None and trimap.shape != gt.shape:
                trimap = cv2.resize(trimap, gt.shape[::-1], interpolation=cv2.INTER_NEAREST)
            try:
                whole, unknown = score(prediction, gt, trimap)
            except InvalidInput as error:
                raise InvalidInput(f"{group.name}/{member.id}: {error}") from None
            target = TargetScore(group.name, member.id, whole, seconds, unknown)
            report.targets.append(target)
            if save_dir is not None:
                imageio.write_alpha(save_dir / group.name / f"{member.id}.png", prediction)
                sheet_rows.append(_sheet_row(image, gt, prediction, target))
            if on_target is not None:
                on_target(target)
        if save_dir is not None:
            imageio.write_image(_sheet_path(save_dir, group), _stack_rows(sheet_rows))
    return report


def input_files(dataset: Dataset, manifest: Path) -> dict[Path, str]:
    """Every file an evaluation reads, with what it is (for messages)."""
    files = {manifest: "dataset manifest"}
    for member in [m for group in dataset.groups for m in group.members] + list(dataset.singles):
        files.update({member.image_path: f"image of {member.id}", member.alpha_path: f"alpha of {member.id}"})
        if member.trimap_path is not None:
            files[member.trimap_path] = f"trimap of {member.id}"
    return files


def check_scores_path(path: Path, inputs: dict[Path, str]) -> None:
    """Before the evaluation: the scores file can be written, and it replaces nothing but the
    scores of an earlier evaluation (never an input, never any other file)."""
    imageio.refuse_inputs_as_outputs({path: "scores file (--json)"}, inputs)
    if path.is_dir():
        raise OutputError(f"{path} is a folder: give --json a file name, e.g. {path / 'scores.json'}.")
    if path.exists() or path.is_symlink():
        try:  # the marker comes first in the files this module writes: no need to read it all
            with open(path, "rb") as stream:
                head = stream.read(4096).decode("utf-8", "replace")
        except OSError:
            head = ""
        if not _SCORES_HEAD.match(head):
            raise OutputError(f"{path} already exists and is not the scores of an earlier eval; "
                              "give --json a new file name.")
    imageio.check_writable_folder(path.parent, "--json")


def write_scores(path: Path, report: Report) -> None:
    text = json.dumps({"format": SCORES_FORMAT, **report.as_json()}, indent=1)
    imageio.atomic_write_bytes(path, (text + "\n").encode("utf-8"))


MASK_STYLES = ("exact", "half", "rough", "scribble")
#: a scribbled reference: SCRIBBLE_STROKES thick strokes along the subject's shape that cover a
#: share of it drawn from SCRIBBLE_COVER (the way the app invites a person to brush)
SCRIBBLE_STROKES = (2, 5)
SCRIBBLE_COVER = (0.15, 0.35)
SCRIBBLE_SIDE = 512  # strokes are planned at this long side, then drawn at the mask's size


def reference_mask(alpha: np.ndarray, style: str = "exact", seed: int = 0) -> np.ndarray:
    """The reference mask an artist might brush over a ground-truth alpha.

    * ``exact`` — alpha ≥ 0.5 (the protocol);
    * ``half`` — only the subject's left half (split at its bounding box's middle column): a
      stroke that covers part of the subject, the rest left unpainted;
    * ``rough`` — a fat brush: the subject grown by 3 % of the picture's long side;
    * ``scribble`` — a few thick strokes inside the subject along its shape (see
      :func:`scribble`), reproducible from the ground truth and ``seed``.
    """
    mask = (alpha >= 0.5).astype(np.float32)
    if style == "exact" or not mask.any():
        return mask
    if style == "half":
        columns = np.flatnonzero(mask.any(axis=0))
        middle = (columns[0] + columns[-1] + 1) // 2
        mask[:, middle:] = 0
        return mask
    if style == "rough":
        radius = max(1, round(0.03 * max(mask.shape)))
        brush = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        return cv2.dilate(mask, brush)
    if style == "scribble":
        return scribble(mask, seed)
    raise InvalidInput(f"Unknown mask style {style!r}: choose one of {', '.join(MASK_STYLES)}.")


@dataclass
class LeaveOneGroupOut:
    """How a tuned choice generalises: for each group, the candidate best on all *other* groups
    and its score on the group left out, beside the in-sample choice (best on every group)."""

    chosen: dict[str, str]  # left-out group → candidate chosen without it
    left_out: dict[str, float]  # left-out group → its score under that choice
    in_sample_choice: str
    in_sample: dict[str, float]  # group → score under the in-sample choice

    @property
    def left_out_mean(self) -> float:
        return _mean(self.left_out.values())

    @property
    def in_sample_mean(self) -> float:
        return _mean(self.in_sample.values())

    def table(self) -> str:
        lines = [f"{'left-out group':<30}{'chosen':>20}{'left-out':>10}{'in-sample':>10}"]
        for group, score in self.left_out.items():
            lines.append(f"{group:<30}{self.chosen[group]:>20}{score:>10.4f}"
                         f"{self.in_sample[group]:>10.4f}")
        lines.append("-" * len(lines[0]))
        ratio = self.left_out_mean / self.in_sample_mean if self.in_sample_mean else float("nan")
        lines.append(f"{'mean over groups':<30}{self.in_sample_choice:>20}"
                     f"{self.left_out_mean:>10.4f}{self.in_sample_mean:>10.4f}"
                     f"   (left-out / in-sample {ratio:.2f})")
        return "\n".join(lines)


def leave_one_group_out(scores: dict[str, dict[str, float]]) -> LeaveOneGroupOut:
    """``scores``: candidate → group → score (lower is better; every candidate scored on the
    same groups).  Groups weigh equally, whatever their number of targets; ties go to the
    candidate listed first."""
    candidates = list(scores)
    groups = list(scores[candidates[0]])
    if len(groups) < 2:
        raise InvalidInput("Leave-one-group-out needs at least two groups.")

    def best(among: list[str]) -> str:
        return min(candidates, key=lambda c: _mean(scores[c][g] for g in among))

    chosen = {g: best([other for other in groups if other != g]) for g in groups}
    overall = best(groups)
    return LeaveOneGroupOut(chosen, {g: scores[chosen[g]][g] for g in groups}, overall,
                            dict(scores[overall]))


def scribble(mask: np.ndarray, seed: int = 0) -> np.ndarray:
    """2–5 thick strokes inside a subject mask along its shape, covering 15–35 % of it.

    The brush's radius is an eighth to a fifth of the subject's inscribed radius.  Each stroke
    starts at a random point deep enough for the brush and walks on, turning as little as it
    can while the brush stays inside the subject and, where it can, on unpainted ground, until
    it has painted its share; the walk is planned at SCRIBBLE_SIDE px and drawn at the mask's
    size, inside the subject.
    """
    height, width = mask.shape
    scale = min(1.0, SCRIBBLE_SIDE / max(height, width))
    small = cv2.resize(mask, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA) >= 0.5
    if small.sum() < 16:
        return (mask >= 0.5).astype(np.float32)
    rng = np.random.default_rng([seed, int(small.sum())])  # each subject its own strokes
    depth = cv2.distanceTransform(small.astype(np.uint8), cv2.DIST_L2, 5)
    radius = max(1.0, rng.uniform(0.12, 0.2) * float(depth.max()))
    inside = depth >= radius
    strokes = int(rng.integers(SCRIBBLE_STROKES[0], SCRIBBLE_STROKES[1] + 1))
    share = rng.uniform(*SCRIBBLE_COVER) * small.sum()
    canvas = np.zeros(small.shape, np.uint8)
    thickness = max(1, round(radius))
    turns = np.radians([0, 20, 40, 60, 90, 120, 150, 180])
    for stroke in range(strokes):
        goal = canvas.sum() + (share - canvas.sum()) / (strokes - stroke)
        starts = np.argwhere(inside & (canvas == 0))
        if not len(starts) or canvas.sum() >= share:
            break
        point = starts[rng.integers(len(starts))][::-1].astype(float)
        heading = rng.uniform(0, 2 * np.pi)
        cv2.circle(canvas, tuple(int(v) for v in point), thickness, 1, -1)
        for _ in range(400):
            if canvas.sum() >= goal:
                break
            side = rng.choice((-1, 1))
            options = [heading + sign * side * turn for turn in turns for sign in (1, -1)]
            steps = [point + radius * np.array([np.cos(h), np.sin(h)]) for h in options]
            ok = [(h, q) for h, q in zip(options, steps) if _at(inside, q)]
            if not ok:
                break
            fresh = [(h, q) for h, q in ok if not _at(canvas, q)]
            heading, following = (fresh or ok)[0]
            cv2.line(canvas, tuple(int(v) for v in point), tuple(int(v) for v in following), 1,
                     2 * thickness)
            point = following
    painted = cv2.resize(canvas.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return ((painted >= 0.5) & (mask >= 0.5)).astype(np.float32)


def _at(grid: np.ndarray, point: np.ndarray) -> bool:
    x, y = int(round(point[0])), int(round(point[1]))
    return 0 <= y < grid.shape[0] and 0 <= x < grid.shape[1] and bool(grid[y, x])


def count_targets(dataset: Dataset, limit_groups: int | None = None) -> int:
    groups = dataset.groups[:limit_groups] if limit_groups is not None else dataset.groups
    return sum(len(group.targets) for group in groups)


def _load(member: Member, max_side: int | None) -> tuple[np.ndarray, np.ndarray]:
    image, alpha = member.load_image(), member.load_alpha()
    if image.shape[:2] != alpha.shape:
        raise InvalidInput(
            f"{member.id}: the image is {image.shape[1]}×{image.shape[0]} px but its alpha "
            f"{alpha.shape[1]}×{alpha.shape[0]} px."
        )
    if max_side is not None:
        size = scale_to_fit(alpha.shape, max_side)
        image, alpha = resize(image, size), resize(alpha, size)
    return image, alpha


def _sheet_path(save_dir: Path, group: Group) -> Path:
    return save_dir / f"{group.name}_sheet.png"


def _check_outputs_free(save_dir: Path, groups: Iterable[Group]) -> None:
    """Refuse before any work if a result file already exists (results never overwrite)."""
    for group in groups:
        paths = [_sheet_path(save_dir, group)] + [save_dir / group.name / f"{m.id}.png" for m in group.targets]
        taken = [path for path in paths if path.exists()]
        if taken:
            raise OutputError(f"{taken[0]} already exists; choose an empty --save-dir.")


def _sheet_row(image: np.ndarray, gt: np.ndarray, prediction: np.ndarray, target: TargetScore) -> np.ndarray:
    """image | GT | prediction | |error| heat map, SHEET_TILE_HEIGHT px tall, uint8 RGB."""
    height, width = gt.shape
    size = (SHEET_TILE_HEIGHT, max(1, round(width * SHEET_TILE_HEIGHT / height)))
    grey = [np.repeat(resize(alpha, size)[..., None], 3, axis=2) for alpha in (gt, prediction)]
    error = imageio.quantize(resize(np.abs(prediction - gt), size), 8)
    heat = cv2.applyColorMap(error, cv2.COLORMAP_INFERNO)[..., ::-1]  # OpenCV colour maps are BGR
    tiles = [imageio.quantize(tile, 8) for tile in (resize(image, size), *grey)] + [heat]
    gap = np.full((SHEET_TILE_HEIGHT, 4, 3), 255, np.uint8)
    row = np.ascontiguousarray(np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1))
    label = f"{target.id}  MSE {target.scores['mse']:.4f}  SAD {target.scores['sad']:.3g}"
    cv2.rectangle(row, (0, 0), (min(row.shape[1] - 1, 7 * len(label) + 8), 18), (0, 0, 0), thickness=-1)
    cv2.putText(row, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return row


def _stack_rows(rows: list[np.ndarray]) -> np.ndarray:
    """Rows one under another (4 px apart, white), as float RGB for the image writer."""
    width = max(row.shape[1] for row in rows)
    padded = [np.pad(row, ((0, 4), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    return np.concatenate(padded, axis=0)[:-4].astype(np.float32) / 255.0


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return float(np.mean(values)) if values else float("nan")
