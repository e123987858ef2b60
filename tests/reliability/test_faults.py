"""Faults lose nothing: a full or read-only disk, exhausted memory, damaged weights.

(A real address-space cap (RLIMIT_AS) is not tested here: under it OpenBLAS sometimes aborts
the process itself, which no code of ours can catch; the messages torch and OpenCV gave under
such a cap are replayed below.)

(A job killed mid-series and resumed is covered by tests/batch/test_batch_local.py; an engine
exception and cancel in the panel's worker by tests/ui/test_ui_panel.py and test_ui_worker.py.)
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from icm_core import imageio
from icm_core.api import OutputError, WeightsCorrupt
from icm_core.icm.checkpoint import load_decoder_weights

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, timeout: int = 240) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def test_disk_full_leaves_earlier_results_and_no_partial_file(tmp_path):
    """A real EFBIG from the kernel (file-size limit) while writing: the new file does not
    appear, an overwritten file keeps its old content, no temporary file is left."""
    result = _run(f"""
        import resource, signal
        from pathlib import Path
        import numpy as np
        from icm_core import imageio
        from icm_core.api import OutputError
        folder = Path({str(tmp_path)!r})
        earlier = imageio.write_alpha(folder / "earlier_alpha.png", np.full((8, 8), 0.5, np.float32))
        before = earlier.read_bytes()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        noise = np.random.default_rng(0).random((256, 256), dtype=np.float32)  # ~65 KB as PNG
        for path, overwrite in ((folder / "new_alpha.png", False), (earlier, True)):
            try:
                imageio.write_alpha(path, noise, overwrite=overwrite)
            except OutputError as error:
                print("REFUSED", path.name, error)
        assert earlier.read_bytes() == before
        print("INTACT")
    """)
    assert result.stdout.count("REFUSED") == 2, result.stdout
    assert "File too large" in result.stdout and "INTACT" in result.stdout
    assert not (tmp_path / "new_alpha.png").exists()
    assert _leftovers(tmp_path) == []


def test_read_only_output_folder(tmp_path, monkeypatch):
    """(As root, permissions do not stop writes: the rename fails the way a read-only mount does.)"""
    earlier = imageio.write_alpha(tmp_path / "a_alpha.png", np.zeros((8, 8), np.float32))
    before = earlier.read_bytes()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(OutputError, match="Read-only"):
        imageio.write_alpha(earlier, np.ones((8, 8), np.float32), overwrite=True)
    with pytest.raises(OutputError, match="Read-only"):
        imageio.write_alpha(tmp_path / "b_alpha.png", np.ones((8, 8), np.float32))
    assert earlier.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_alpha.png"]


@pytest.mark.parametrize("message", [
    "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you tried "
    "to allocate 39321600 bytes. Error code 12 (Cannot allocate memory)",  # torch
    "OpenCV(5.0.0) alloc.cpp:73: error: (-4:Insufficient memory) Failed to allocate 144000000 bytes",
])
def test_library_allocation_failures_become_out_of_memory(monkeypatch, message):
    """Seen under a real memory cap: torch and OpenCV say it in words, not with MemoryError."""
    import cv2

    from icm_core import synthetic
    from icm_core.api import OutOfMemory
    from icm_core.engines import get_engine

    engine = get_engine("lite", feature_side=128, matting_side=256)
    scene = synthetic.scene(0, (48, 48))
    reference = engine.encode_reference(scene.image, (scene.alpha > 0.5).astype(np.float32))
    kind = cv2.error if "OpenCV" in message else RuntimeError

    def exhausted(*args, **kwargs):
        raise kind(message)

    monkeypatch.setattr("icm_core.lite.corrections.corrected_maps", exhausted)
    with pytest.raises(OutOfMemory, match="matting_side"):
        engine.matte(scene.image, reference)


def test_wrong_shape_and_truncated_weights_are_named():
    decoder = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    state = {k: v.clone() for k, v in decoder.state_dict().items()}
    state["0.weight"] = torch.zeros(5, 4)
    with pytest.raises(WeightsCorrupt, match=r"wrong shapes: 0.weight \(5, 4\) \(expected \(3, 4\)\)"):
        load_decoder_weights(decoder, state)
    del state["1.bias"]
    with pytest.raises(WeightsCorrupt, match="missing keys: 1.bias"):
        load_decoder_weights(decoder, state)


def test_targets_finished_between_manifest_rewrites_survive_a_kill(tmp_path):
    """The manifest is rewritten at most twice a second; a target finished just before a kill
    is in the journal, so --resume does not redo it.  A line cut short by the kill is ignored."""
    from icm_core.batch import JOURNAL_NAME, Manifest

    entries = {key: {"key": key, "status": "pending", "input_sha256": None} for key in "abc"}
    manifest = Manifest(tmp_path / "icm-batch.json", {"format": "icm-matting batch manifest"}, entries)
    manifest.save()
    for key in "ab":
        entries[key].update(status="done", input_sha256=f"sha-{key}")
        manifest.finished(key)  # within the interval: only the journal is written
    with open(tmp_path / JOURNAL_NAME, "a") as stream:
        stream.write('{"key": "c", "status": "do')  # the kill
    loaded = Manifest.load(tmp_path / "icm-batch.json")
    assert [loaded.entries[k]["status"] for k in "abc"] == ["done", "done", "pending"]
    assert loaded.entries["b"]["input_sha256"] == "sha-b"
    loaded.save()
    assert not (tmp_path / JOURNAL_NAME).exists()
    assert Manifest.load(tmp_path / "icm-batch.json").entries["a"]["status"] == "done"


@pytest.mark.parametrize("pickled", [
    b"\x80\x02cbuiltins\nfo\x00o\n)\x81.",  # a class name with a NUL byte
    b"\x80\x02}q\x00h\x07.",  # a reference to a memo entry that does not exist
])
def test_damaged_pickle_inside_a_checkpoint_is_weights_corrupt(tmp_path, pickled):
    """Found by the fuzzer: these raised ValueError and KeyError."""
    import zipfile

    from icm_core.icm.checkpoint import read_checkpoint

    path = tmp_path / "model.ckpt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickled)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/version", "3\n")
    with pytest.raises(WeightsCorrupt, match="damaged|could not be read safely"):
        read_checkpoint(path)


def test_checkpoint_claiming_several_disks_is_weights_corrupt(tmp_path):
    """Found by the fuzzer: zipfile.is_zipfile raised BadZipFile for this end record."""
    import io as _io

    from icm_core.icm.checkpoint import read_checkpoint

    buffer = _io.BytesIO()
    torch.save({"state_dict": {"w": torch.ones(2)}}, buffer)
    data = bytearray(buffer.getvalue())
    locator = data.rindex(b"PK\x06\x07")  # the zip64 end locator torch writes
    data[locator + 4:locator + 8] = (3).to_bytes(4, "little")  # "the end record is on disk 3"
    path = tmp_path / "model.ckpt"
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsCorrupt):
        read_checkpoint(path)
