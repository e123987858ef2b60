"""One pixel budget (``validate.MAX_PIXELS``, what the engines take) for every decoder, checked
from the file's header before any pixel is allocated: tiny files that declare huge pictures are
refused with :class:`UnreadableFile` and cost no memory; any decoder's own error is an
``UnreadableFile`` too."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from icm_core import imageio
from icm_core.api import InvalidInput, UnreadableFile
from icm_core.validate import MAX_PIXELS

ROOT = Path(__file__).resolve().parents[1]


def _float_rgb_tiff(width: int, height: int, tile: int | None = None) -> bytes:
    """An uncompressed 32-bit float RGB TIFF (Pillow cannot read these; OpenCV can), with
    pixel data for 16×16 px whatever size it declares."""
    payload = np.linspace(0, 1, 16 * 16 * 3, dtype="<f4").tobytes()
    short, long = 3, 4
    tags = {256: (long, [width]), 257: (long, [height]), 258: (short, [32] * 3),
            259: (short, [1]), 262: (short, [2]), 277: (short, [3]), 284: (short, [1]),
            339: (short, [3] * 3)}
    if tile:
        tags.update({322: (long, [tile]), 323: (long, [tile]), 324: (long, [0]),
                     325: (long, [len(payload)])})
    else:
        tags.update({273: (long, [0]), 278: (long, [height]), 279: (long, [len(payload)])})
    ifd_size = 2 + 12 * len(tags) + 4
    extra, entries = b"", b""
    data_offset = 8 + ifd_size + 2 * 6  # the two 3-short arrays go between the IFD and the pixels
    for tag, (kind, values) in sorted(tags.items()):
        if tag in (273, 324):
            values = [data_offset]
        packed = struct.pack("<" + ("H" if kind == short else "I") * len(values), *values)
        if len(packed) > 4:
            entries += struct.pack("<HHII", tag, kind, len(values), 8 + ifd_size + len(extra))
            extra += packed
        else:
            entries += struct.pack("<HHI", tag, kind, len(values)) + packed.ljust(4, b"\0")
    assert 8 + ifd_size + len(extra) == data_offset
    return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(tags)) + entries + \
        b"\0\0\0\0" + extra + payload


def _png(width: int, height: int, depth: int = 8) -> bytes:
    """A grey PNG of zeros, compressed row by row (a decompression bomb when large)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    compressor = zlib.compressobj(9)
    row = bytes(1 + width * depth // 8)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def test_the_crafted_float_tiff_is_a_real_picture(tmp_path):
    """(The builder below is right: at its true size OpenCV decodes it.)"""
    path = tmp_path / "small.tif"
    path.write_bytes(_float_rgb_tiff(16, 16))
    expected = np.linspace(0, 1, 16 * 16 * 3, dtype=np.float32).reshape(16, 16, 3)
    np.testing.assert_array_equal(imageio.read_image(path), expected)


BOMBS = {
    # Pillow cannot read it; OpenCV would allocate 4.8 GB before reading a pixel
    "float-tiff-20000x20000": (lambda: _float_rgb_tiff(20000, 20000), "20000×20000 px (400 MP)"),
    "float-tiff-8000x8000": (lambda: _float_rgb_tiff(8000, 8000), "8000×8000 px (64 MP)"),
    "float-tiff-huge-tiles": (lambda: _float_rgb_tiff(64, 64, tile=16384), "has tiles of 16384×16384"),
    "png-100mp": (lambda: _png(10000, 10000), "10000×10000 px (100 MP)"),  # Pillow's own limit: 120 MP
    "png-16bit-8000x8000": (lambda: _png(8000, 8000, 16), "8000×8000 px (64 MP)"),  # OpenCV decodes it
}

MEASURE = """
import resource, sys
from icm_core.api import InvalidInput, UnreadableFile
from icm_core.imageio import read_image, read_mask
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for reader in (read_image, read_mask):
    try:
        reader(sys.argv[1])
    except UnreadableFile as error:
        message = str(error)
    else:
        message = "read"
print(message)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)  # MB
"""


@pytest.mark.parametrize("name", BOMBS)
def test_a_small_file_declaring_a_huge_picture_is_refused_from_its_header(tmp_path, name):
    make, size = BOMBS[name]
    path = tmp_path / "bomb.img"
    path.write_bytes(make())
    assert path.stat().st_size < 200_000
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          timeout=300)
    assert done.returncode == 0, done.stderr
    message, grown_mb = done.stdout.strip().splitlines()
    assert message.startswith(str(path)) and size in message and "limit is 60 MP" in message
    assert int(grown_mb) < 64  # nothing near the declared picture was allocated


def test_the_budget_is_the_engines_limit(tmp_path):
    """A picture just within the budget is read; one row more is refused."""
    width = 10_000
    inside, outside = tmp_path / "inside.png", tmp_path / "outside.png"
    inside.write_bytes(_png(width, MAX_PIXELS // width))
    outside.write_bytes(_png(width, MAX_PIXELS // width + 1))
    assert imageio.read_mask(inside).shape == (MAX_PIXELS // width, width)
    with pytest.raises(UnreadableFile, match="limit is 60 MP"):
        imageio.read_mask(outside)


@pytest.mark.parametrize("data", [
    _float_rgb_tiff(16, 16)[:200],  # header and tags, no pixels: OpenCV's TIFF reader fails
    _float_rgb_tiff(16, 16)[:40],  # the tags cut off
    b"II*\x00" + struct.pack("<I", 10 ** 9),  # the tags lie beyond the end
], ids=["no-pixels", "cut-tags", "tags-beyond-the-end"])
def test_every_decoders_error_is_unreadable_file(tmp_path, data):
    path = tmp_path / "damaged.tif"
    path.write_bytes(data)
    with pytest.raises(UnreadableFile) as raised:
        imageio.read_image(path)
    assert str(path) in str(raised.value)


def test_video_frames_are_held_to_the_budget(tmp_path, monkeypatch):
    av = pytest.importorskip("av", reason="videos need PyAV (the batch extra)")
    from icm_core import video

    path = tmp_path / "clip.mov"
    frames = (np.zeros((48, 64, 3), np.uint8) for _ in range(2))
    video.write_alpha_video(path, frames, (np.zeros((48, 64), np.uint8) for _ in range(2)),
                            Fraction(25))
    assert av is not None and len(list(video.read_frames(path))) == 2
    monkeypatch.setattr(video, "MAX_PIXELS", 64 * 48 - 1)
    for read in (video.frame_count, lambda p: list(video.read_frames(p))):
        with pytest.raises(UnreadableFile, match="64×48 px frames"):
            read(path)


def test_the_apps_file_list_refuses_a_huge_picture_from_its_header(tmp_path):
    """Adding it says why at once, and its thumbnail is never decoded (a PNG has no reduced
    decode, so a 100 MP one would be allocated whole)."""
    from ui.hostapi import FileHost

    bomb = tmp_path / "huge.png"
    bomb.write_bytes(_png(10_000, 10_000))
    host = FileHost()
    with pytest.raises(InvalidInput, match="10000×10000 px.*limit is 60 MP"):
        host.add([bomb])
    assert host.layers() == []
