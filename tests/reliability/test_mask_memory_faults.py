"""Mask memory under faults: a read-only folder and two processes sharing one folder."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ui.mask_memory import MaskMemory

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (40, 60)


def _read_only(*args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


def test_a_read_only_memory_still_recalls(tmp_path, monkeypatch):
    """os.utime failed there: recall raised OSError and the picture could not become the
    reference."""
    memory = MaskMemory(tmp_path)
    memory.keep_mask("picture", np.ones(SHAPE, np.float32))
    memory.flush()
    monkeypatch.setattr(os, "utime", _read_only)
    assert memory.recall("picture", SHAPE).min() == 1.0


def test_forgetting_in_a_read_only_memory_is_logged_not_raised(tmp_path, monkeypatch, caplog):
    memory = MaskMemory(tmp_path)
    memory.keep_mask("picture", np.ones(SHAPE, np.float32))
    memory.flush()
    monkeypatch.setattr(Path, "unlink", _read_only)
    memory._write("picture", np.zeros(SHAPE, np.float32))  # as the writer thread runs it
    assert "could not be forgotten" in caplog.text


WRITER = """
    import sys
    import numpy as np
    from ui.mask_memory import MaskMemory
    folder, who, count, keep = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    memory = MaskMemory(folder, keep=keep)
    for index in range(count):  # on this thread, so that any exception ends the process
        memory._write(f"{who}-{index:03d}", np.full((40, 60), 0.5, np.float32))
"""


def _two_writers(folder: Path, count: int, keep: int) -> None:
    processes = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER), str(folder),
                                   who, str(count), str(keep)], cwd=ROOT,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)},
                                  stderr=subprocess.PIPE, text=True) for who in "ab"]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err


@pytest.mark.parametrize("round_", range(3))
def test_two_processes_sharing_the_folder_lose_no_write(tmp_path, round_):
    _two_writers(tmp_path, count=60, keep=1000)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(f"{who}-{i:03d}.png" for who in "ab" for i in range(60))


def test_two_processes_evicting_together_neither_fails(tmp_path):
    """Beyond the bound both processes remove the least recently used masks; a file the other
    process removed first raised FileNotFoundError in the writer (lost with its future)."""
    _two_writers(tmp_path, count=300, keep=5)
    names = [p.name for p in tmp_path.iterdir()]
    assert len(names) <= 6, names  # the bound, give or take the other's last write
    assert not [name for name in names if name.startswith(".")]  # no temporary left
