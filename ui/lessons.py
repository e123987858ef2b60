"""Corrected targets an artist taught with "Learn from this", kept on disk per reference
picture: closing the app does not forget them, and they come back whenever that picture is the
reference again.  No Qt here.

Each lesson is one compressed ``.npz`` (the target as 8-bit RGB, the corrected mask as 0/1)
written through a temporary file; only the latest :data:`KEEP_PER_REFERENCE` lessons of a
reference and the :data:`KEEP_REFERENCES` most recently taught references stay.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from icm_core.imageio import atomic_write_bytes

KEEP_PER_REFERENCE = 8
KEEP_REFERENCES = 16


def default_folder() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("icm-matting")) / "lessons"


class Lessons:
    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder is not None else default_folder()

    def recall(self, reference_key: str | None) -> list[tuple[np.ndarray, np.ndarray]]:
        """The lessons taught for ``reference_key`` (oldest first): float32 RGB, float32 0/1."""
        if reference_key is None:
            return []
        lessons = []
        for path in sorted((self.folder / reference_key).glob("*.npz")):
            try:
                with np.load(path) as data:
                    lessons.append((data["image"].astype(np.float32) / 255, data["mask"].astype(np.float32)))
            except (OSError, ValueError, KeyError):  # a damaged file is skipped, not fatal
                continue
        return lessons

    def add(self, reference_key: str, image: np.ndarray, mask: np.ndarray) -> None:
        folder = self.folder / reference_key
        folder.mkdir(parents=True, exist_ok=True)
        existing = sorted(folder.glob("*.npz"))
        number = int(existing[-1].stem) + 1 if existing else 0
        buffer = io.BytesIO()
        np.savez_compressed(buffer, image=np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8),
                            mask=(mask > 0.5).astype(np.uint8))
        atomic_write_bytes(folder / f"{number:06d}.npz", buffer.getvalue())
        for old in existing[: max(0, len(existing) + 1 - KEEP_PER_REFERENCE)]:
            old.unlink()
        taught = sorted((p for p in self.folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
        for stale in taught[: max(0, len(taught) - KEEP_REFERENCES)]:
            for path in stale.glob("*"):
                path.unlink()
            stale.rmdir()
