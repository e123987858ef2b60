"""Alpha videos (``--alpha-video``): a video's frame colours and their written alphas as one
lossless ``out/STEM_alpha.mov``, once all its frames are done."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from .. import video
from .job import Job
from .manifest import Manifest
from .targets import Target


def _alphas_8bit(frames: list[Target]) -> Iterator[np.ndarray]:
    import cv2

    for target in frames:
        alpha = cv2.imread(str(target.outputs["alpha"]), cv2.IMREAD_UNCHANGED)
        yield alpha if alpha.dtype == np.uint8 else ((alpha.astype(np.uint32) + 128) // 257).astype(np.uint8)


def alpha_video_path(frame: Target) -> Path:
    """``out/STEM_alpha.mov`` beside the folder of the video's frame results."""
    folder = frame.outputs["alpha"].parent
    return folder.with_name(f"{folder.name}_alpha.mov")


def write_alpha_videos(job: Job, targets: list[Target], manifest: Manifest) -> list[Path]:
    """For each video whose frames are all done: ``out/STEM_alpha.mov`` (frame colours + alpha)."""
    written = []
    frames_of: dict[Path, list[Target]] = {}
    for target in targets:
        if target.frame is not None:
            frames_of.setdefault(target.source, []).append(target)
    records = manifest.header.setdefault("alpha_videos", {})
    for source, frames in frames_of.items():
        if any(manifest.entries[t.key]["status"] != "done" for t in frames):
            records[str(source)] = None
            continue
        path = alpha_video_path(frames[0])
        colours = islice(video.read_frames(source), len(frames))
        video.write_alpha_video(path, colours, _alphas_8bit(frames), video.frame_rate(source))
        records[str(source)] = str(path.relative_to(job.out))
        written.append(path)
    return written
