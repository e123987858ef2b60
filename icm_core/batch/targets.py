"""What to matte and where its results go: sources collected from files, folders and globs, one
target per image or video frame, output names, and the shots matted in order with a memory."""

from __future__ import annotations

import glob
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .. import video
from ..api import InvalidInput, UnreadableFile
from ..imageio import IMAGE_SUFFIXES

OUTPUT_ENDINGS = ("_alpha.png", "_cutout.png", "_alpha.mov")


@dataclass(frozen=True, eq=False)
class Target:
    """One image file, or one frame of a video file, and where its results go."""

    source: Path
    frame: int | None
    outputs: dict[str, Path]

    @property
    def key(self) -> str:
        return str(self.source) if self.frame is None else f"{self.source}#{self.frame}"

    @property
    def label(self) -> str:
        return self.source.name if self.frame is None else f"{self.source.name} frame {self.frame}"


# --- shared with `icm-matting matte` ------------------------------------------------------------

def _stems(sources: list[Path]) -> list[str]:
    """Output name stems; stems that collide get the parent folder's name."""
    counts = Counter(source.stem for source in sources)
    stems = [f"{s.parent.name}_{s.stem}" if counts[s.stem] > 1 else s.stem for s in sources]
    # "..png" has the stem ".": as a path part it would vanish and put results beside --out
    return [stem if stem.strip(".") else f"_{stem}" for stem in stems]


def _plan(base: Path, cutout: bool) -> dict[str, Path]:
    plan = {"alpha": base.with_name(f"{base.name}_alpha.png")}
    if cutout:
        plan["cutout"] = base.with_name(f"{base.name}_cutout.png")
    return plan


def _check_unique(plans: list[dict[str, Path]]) -> None:
    names = [p for plan in plans for p in plan.values()]
    if len(set(names)) != len(names):
        raise InvalidInput("Two targets would write the same output file; rename one of them.")


def output_paths(targets: list[Path], out: Path, cutout: bool) -> list[dict[str, Path]]:
    """One dict of output paths per target image: ``out/STEM_alpha.png`` (+ ``_cutout.png``)."""
    plans = [_plan(out / stem, cutout) for stem in _stems(targets)]
    _check_unique(plans)
    return plans


# --- what to matte ------------------------------------------------------------------------------

def collect_sources(inputs: list[str], out: Path | None = None) -> list[Path]:
    """Files, folders (their images and videos, sorted) and globs → distinct paths in order.

    Results of a job in ``out`` are left out of folders and globs, so a job can read and write
    one folder.
    """
    known = IMAGE_SUFFIXES | video.SUFFIXES
    out = out.resolve() if out else None

    def usable(path: Path) -> bool:
        ours = out is not None and path.is_relative_to(out) and path.name.endswith(OUTPUT_ENDINGS)
        return path.is_file() and path.suffix.lower() in known and not ours

    sources: list[Path] = []
    for item in inputs:
        path = Path(item)
        if glob.has_magic(item):
            matches = [Path(m) for m in sorted(glob.glob(item, recursive=True))]
            found = [m for m in matches if usable(m.resolve())]
            found += [f for m in matches if m.is_dir() for f in sorted(m.iterdir()) if usable(f.resolve())]
            if not found:
                raise InvalidInput(f"{item} matches no image or video file.")
        elif path.is_dir():
            found = [f for f in sorted(path.iterdir()) if usable(f.resolve())]
            if not found:
                raise InvalidInput(f"The folder {path} holds no image or video file.")
        elif path.is_file():
            found = [path]
        else:
            raise UnreadableFile(f"{path} does not exist.")
        sources += [f.resolve() for f in found]
    return list(dict.fromkeys(sources))


def plan_targets(sources: list[Path], out: Path, cutout: bool) -> list[Target]:
    """Images give ``out/STEM_alpha.png``; a video's frames give ``out/STEM/NNNNNN_alpha.png``."""
    targets = []
    for source, stem in zip(sources, _stems(sources)):
        if video.is_video(source):
            targets += [Target(source, index, _plan(out / stem / f"{index:06d}", cutout))
                        for index in range(video.frame_count(source))]
        else:
            targets.append(Target(source, None, _plan(out / stem, cutout)))
    _check_unique([t.outputs for t in targets])
    return targets


def plan_shots(targets: list[Target], shot: bool) -> dict[str, str]:
    """Target key → name of the shot it is a frame of, with ``shot`` True (opt-in: on
    benchmarks/lite_sequence.py it lowers MSE by the margin aimed at, but not temporal
    instability): each video's frames, runs of
    numbered images (:func:`icm_core.sequence.numbered_shots`), and the other images, in the
    order given, as one more shot."""
    from ..sequence import numbered_shots

    if not shot:
        return {}
    shots = {t.key: str(t.source) for t in targets if t.frame is not None}
    images = [t for t in targets if t.frame is None]
    for run in numbered_shots([t.source for t in images]):
        first, last = images[run[0]].source, images[run[-1]].source
        shots.update((images[i].key, f"{first.parent / first.name}…{last.name}") for i in run)
    shots.update((t.key, "the images") for t in images if t.key not in shots)
    return shots
