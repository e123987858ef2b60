"""Video files for batch jobs (PyAV): count and read frames as 8-bit RGB, and write an
alpha-carrying video (PNG-in-MOV, RGBA, lossless) from frames and their alphas.

PyAV is an optional dependency (the ``batch`` extra); it is imported lazily.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import install_hint
from .api import IcmError, InvalidInput, OutputError, UnreadableFile
from .imageio import create_temporary
from .validate import MAX_PIXELS

SUFFIXES = frozenset({".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".mxf"})


def is_video(path: Path) -> bool:
    return path.suffix.lower() in SUFFIXES


def _av():
    try:
        import av
    except ImportError:
        raise InvalidInput(f"Reading videos needs PyAV: run `{install_hint('batch')}` in the "
                           "icm-matting folder (or `pip install av`).") from None
    return av


def _open(path: Path):
    av = _av()
    try:
        container = av.open(str(path))
    except Exception as error:  # FFmpeg's errors, and PyAV's own on a hostile file
        raise UnreadableFile(f"{path} is not a video we can read ({error}).") from None
    if not container.streams.video:
        container.close()
        raise UnreadableFile(f"{path} has no video stream.")
    stream = container.streams.video[0]
    try:
        _check_frame_size(path, stream.codec_context.width, stream.codec_context.height)
    except UnreadableFile:
        container.close()
        raise
    stream.thread_type = "AUTO"  # decode with frame threads; frames still come out in order
    return container, stream


def _check_frame_size(path: Path, width: int, height: int) -> None:
    """The image files' pixel budget, from the stream's header (and each frame's, which may
    differ) before a frame is converted."""
    if width * height > MAX_PIXELS:
        raise UnreadableFile(f"{path} has {width}×{height} px frames ({width * height / 1e6:.0f} MP); "
                             f"the limit is {MAX_PIXELS / 1e6:.0f} MP: scale the video down first.")


def read_frames(path: Path) -> Iterator[np.ndarray]:
    """Every frame of the first video stream, in order, as ``uint8`` ``H×W×3`` RGB."""
    container, stream = _open(path)
    try:
        for frame in container.decode(stream):
            _check_frame_size(path, frame.width, frame.height)
            yield frame.to_ndarray(format="rgb24")
    except IcmError:
        raise
    except Exception as error:  # FFmpeg's errors, and PyAV's own on a hostile file
        raise UnreadableFile(f"{path} is damaged: {error}.") from None
    finally:
        container.close()


def frame_count(path: Path) -> int:
    """Frames in the first video stream, counted by demuxing (headers' counts are unreliable)."""
    container, stream = _open(path)
    try:
        return sum(1 for packet in container.demux(stream) if packet.size)
    except Exception as error:  # FFmpeg's errors, and PyAV's own on a hostile file
        raise UnreadableFile(f"{path} is damaged: {error}.") from None
    finally:
        container.close()


def frame_rate(path: Path) -> Fraction:
    container, stream = _open(path)
    try:
        return Fraction(stream.average_rate or stream.guessed_rate or 25)
    finally:
        container.close()


def write_alpha_video(path: Path, frames: Iterable[np.ndarray], alphas: Iterable[np.ndarray],
                      rate: Fraction) -> Path:
    """Write RGBA frames (``uint8`` RGB + ``uint8`` alpha) as lossless PNG-in-MOV, which
    compositors (Nuke, Resolve, After Effects, ffmpeg) read with its alpha.  Atomic: the file
    appears complete or not at all."""
    av = _av()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = create_temporary(path, ".part.mov")
    os.close(handle)
    try:
        with av.open(str(temp), "w", format="mov") as container:
            stream = None
            for rgb, alpha in zip(frames, alphas, strict=True):
                if stream is None:
                    stream = container.add_stream("png", rate=rate)
                    stream.height, stream.width = alpha.shape
                    stream.pix_fmt = "rgba"
                rgba = np.concatenate([rgb, alpha[..., None]], axis=2)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(rgba, format="rgba")))
            if stream is not None:
                container.mux(stream.encode())
        os.replace(temp, path)
    except (av.error.FFmpegError, OSError) as error:
        raise OutputError(f"Could not write {path}: {error}.") from None
    finally:
        Path(temp).unlink(missing_ok=True)
    return path
