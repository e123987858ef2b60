"""Reading the targets' inputs in the dispatching process: file bytes or decoded video frames,
each with the sha256 that tells a resumed job whether it changed."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from .. import video
from ..api import UnreadableFile
from .targets import Target


def sha256_bytes(data: bytes | np.ndarray) -> str:
    digest = hashlib.sha256()
    if isinstance(data, np.ndarray):  # a decoded frame: its shape is part of its identity
        digest.update(repr((data.shape, str(data.dtype))).encode())
        data = np.ascontiguousarray(data).data
    digest.update(data)
    return digest.hexdigest()


def read_inputs(targets: list[Target]) -> Iterator[tuple[Target, Any, str | None, str | None]]:
    """``(target, payload, input sha256, read error)`` in order; each video is decoded once."""
    from ..imageio import read_bytes

    index = 0
    while index < len(targets):
        target = targets[index]
        if target.frame is None:
            try:
                data = read_bytes(target.source)
                yield target, data, sha256_bytes(data), None
            except UnreadableFile as error:
                yield target, None, None, str(error)
            index += 1
            continue
        run = {}
        while index < len(targets) and targets[index].source == target.source:
            run[targets[index].frame] = targets[index]
            index += 1
        yield from _read_frames(target.source, run)


def _read_frames(source, run: dict[int, Target]):
    """The frames of one video that ``run`` (frame number → target) asks for, decoded once."""
    try:
        for number, frame in enumerate(video.read_frames(source)):
            if number in run:
                yield run.pop(number), frame, sha256_bytes(frame), None
            if not run:
                break
        problem = "the video has fewer frames than counted"
    except UnreadableFile as error:
        problem = str(error)
    for missing in run.values():
        yield missing, None, None, f"{source}: frame {missing.frame} unreadable: {problem}"
