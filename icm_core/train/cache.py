"""On-disk cache of frozen Stable Diffusion features, keyed by content, bounded in size.

The backbone never trains, so a view's features (for one ensemble draw) are a pure function of
the backbone, the model-input pixels and the draw: the key hashes exactly these.  Entries are
safetensors files stored in ``dtype`` (float16 halves the disk); the trainer always uses the
stored values, also right after computing them, so a run gives the same numbers whether its
features came from the cache or not.  When the folder exceeds ``max_bytes`` the least
recently used entries (by modification time, refreshed on every read) are deleted.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import suppress
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..api import write_failure


def content_key(*parts: bytes | str) -> str:
    digest = hashlib.blake2b(digest_size=20)
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


class FeatureCache:
    def __init__(self, folder: str | os.PathLike, max_bytes: int, dtype: torch.dtype):
        self.folder, self.max_bytes, self.dtype = Path(folder), int(max_bytes), dtype
        self.hits = self.misses = 0
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise write_failure(f"the feature cache {self.folder} (cache_dir)", error) from None
        self._sizes = {path: path.stat().st_size for path in self.folder.glob("*/*.safetensors")}

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.safetensors"

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        """Float32 tensors, or None when absent (a damaged entry counts as absent)."""
        path = self._path(key)
        try:
            tensors = load_file(path)
        except (SafetensorError, OSError):
            self.misses += 1
            return None
        with suppress(OSError):  # a read-only cache still serves what it holds
            os.utime(path)  # recently used
        self.hits += 1
        return {name: tensor.float() for name, tensor in tensors.items()}

    def put(self, key: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Store ``tensors`` and return them as the cache will give them back (float32 of the
        stored precision)."""
        stored = {name: t.detach().to("cpu", self.dtype).contiguous()
                  for name, t in tensors.items()}
        path = self._path(key)
        temporary = path.with_suffix(".partial")
        try:
            path.parent.mkdir(exist_ok=True)
            save_file(stored, str(temporary))
            temporary.replace(path)
            self._sizes[path] = path.stat().st_size
        except (OSError, SafetensorError) as error:  # safetensors reports a full disk its own way
            with suppress(OSError):
                temporary.unlink(missing_ok=True)
            raise write_failure(f"the feature cache {self.folder} (cache_dir)", error) from None
        self._evict(keep=path)
        return {name: tensor.float() for name, tensor in stored.items()}

    def size_bytes(self) -> int:
        return sum(self._sizes.values())

    def _evict(self, keep: Path) -> None:
        if self.size_bytes() <= self.max_bytes:
            return
        by_age = sorted(self._sizes, key=lambda p: p.stat().st_mtime_ns if p.exists() else 0)
        for path in by_age:
            if self.size_bytes() <= self.max_bytes:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                del self._sizes[path]
