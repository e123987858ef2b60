"""Brushed reference masks kept on disk, so that closing the app, a crash or choosing another
reference never loses an artist's brushwork: the mask comes back whenever the same picture is
the reference again.  No Qt here.

A picture is recognised by its size and a hash of every fourth pixel of every fourth row
(hashing a 24 MP picture whole would stall the GUI); masks are 8-bit PNGs written through a
temporary file on a background thread, and only the most recently used :data:`KEEP` stay.

Several processes (the app and a Krita window) may share the folder: each mask is a file of
its own, replaced atomically, so no write clobbers another, and a file another process
removed meanwhile is skipped.  Memory is best effort: a read-only or full folder is logged and
never stops the artist (a remembered mask is still recalled).
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from pathlib import Path

import cv2
import numpy as np

from icm_core.api import IcmError
from icm_core.imageio import atomic_write_bytes

KEEP = 64  # masks kept; the least recently used go first
log = logging.getLogger(__name__)


def default_folder() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("icm-matting")) / "reference-masks"


def picture_key(pixels: np.ndarray) -> str:
    sample = np.ascontiguousarray(pixels[::4, ::4])
    digest = hashlib.blake2b(sample.data, digest_size=16).hexdigest()
    return f"{pixels.shape[1]}x{pixels.shape[0]}-{digest}"


class MaskMemory:
    def __init__(self, folder: Path | None = None, keep: int = KEEP):
        self.folder = Path(folder) if folder is not None else default_folder()
        self.keep = keep
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mask-memory")

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.png"

    def recall(self, key: str, shape: tuple[int, int]) -> np.ndarray | None:
        """The mask last kept for the picture ``key`` (float32, ``shape``), or None (also when
        the file is damaged or of another size: a lost memory must never stop the artist)."""
        self.flush()  # a write still in flight comes first
        path = self._path(key)
        if not path.is_file():
            return None
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if mask is None or mask.shape != tuple(shape):
            return None
        with suppress(OSError):  # a read-only memory still remembers; only its order stays
            os.utime(path)  # recently used
        return mask.astype(np.float32) / 255.0

    def keep_mask(self, key: str, mask: np.ndarray) -> None:
        """Keep ``mask`` for ``key`` in the background (an empty mask forgets it)."""
        self._writer.submit(self._write, key, mask)

    def flush(self) -> None:
        """Wait for every write asked for so far."""
        self._writer.submit(lambda: None).result()

    def _write(self, key: str, mask: np.ndarray) -> None:
        path = self._path(key)
        if mask.max() <= 0.0:
            try:
                path.unlink(missing_ok=True)
            except OSError as error:
                log.warning("The reference mask could not be forgotten: %s", error)
            return
        encoded = cv2.imencode(".png", np.uint8(np.clip(mask, 0.0, 1.0) * 255.0 + 0.5))[1]
        try:
            atomic_write_bytes(path, encoded.tobytes())
        except IcmError as error:  # a full or read-only disk must not interrupt painting
            log.warning("The reference mask could not be kept on disk: %s", error)
            return
        self._evict()

    def _evict(self) -> None:
        """Remove all but the :attr:`keep` most recently used masks, whoever wrote them."""
        used = []
        for path in self.folder.glob("*.png"):
            with suppress(OSError):  # removed by another process meanwhile
                used.append((path.stat().st_mtime_ns, path.name))
        for _, name in sorted(used, reverse=True)[self.keep:]:
            with suppress(OSError):
                (self.folder / name).unlink(missing_ok=True)
