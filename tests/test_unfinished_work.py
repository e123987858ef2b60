"""Failures leave nothing half done and say so plainly: a target's alpha and cutout appear
together or not at all, a run where every target fails leaves no empty folder, each error starts
a line of its own and names the file once, and Ctrl-C says how to finish a batch."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from icm_core import imageio
from icm_cli.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "icm_core" / "examples"
REFERENCE = ["--reference", str(EXAMPLES / "reference.jpg"), "--mask",
             str(EXAMPLES / "reference-mask.png")]


def test_a_cutout_that_cannot_be_written_takes_its_alpha_with_it(tmp_path, capsys, monkeypatch):
    """A disk that fills after the alpha: the target is not left half finished, so the same
    command afterwards needs no --overwrite."""
    out = tmp_path / "out"
    create = imageio.create_temporary

    def disk_full_for_cutouts(path, *args):
        if path.name.endswith("_cutout.png"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return create(path, *args)

    monkeypatch.setattr(imageio, "create_temporary", disk_full_for_cutouts)
    argv = ["matte", *REFERENCE, str(EXAMPLES / "target-1.jpg"), "--out", str(out), "--cutout"]
    assert main(argv) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == []  # no alpha, no temporary file
    monkeypatch.setattr(imageio, "create_temporary", create)
    assert main(argv) == 0
    assert sorted(os.listdir(out)) == ["target-1_alpha.png", "target-1_cutout.png"]


def test_a_failed_rename_removes_the_files_already_renamed(tmp_path, monkeypatch):
    alpha, cutout = tmp_path / "t_alpha.png", tmp_path / "t_cutout.png"
    replace = os.replace

    def fail_on_the_cutout(source, target):
        if Path(target) == cutout:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        replace(source, target)

    monkeypatch.setattr(os, "replace", fail_on_the_cutout)
    with pytest.raises(imageio.OutputError, match="t_cutout.png"):
        imageio.atomic_write_files({alpha: b"alpha", cutout: b"cutout"})
    assert os.listdir(tmp_path) == []


def test_when_every_target_fails_no_out_folder_is_left(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    out = tmp_path / "out"
    assert main(["matte", *REFERENCE, str(notes), "--out", str(out)]) == 1
    assert not out.exists()


def test_an_error_starts_its_own_line_and_names_the_file_once(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    assert main(["matte", *REFERENCE, str(EXAMPLES / "target-1.jpg"), str(notes),
                 "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "%|" in err  # the progress bar was drawn (not a terminal: lines end in \r only)
    [line] = [line for line in err.split("\n") if "not an image" in line]
    assert line.startswith("icm-matting: notes.txt is not an image format")
    assert line.count("notes.txt") == 1


@pytest.mark.parametrize("command, hint", [("batch", True), ("matte", False)])
def test_ctrl_c_says_how_to_finish_the_job(tmp_path, capsys, monkeypatch, command, hint):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("icm_core.batch.in_process.matte_one", interrupted)
    assert main([command, *REFERENCE, str(EXAMPLES / "target-1.jpg"), "--out",
                 str(tmp_path / "out")]) == 130
    lines = [line for line in capsys.readouterr().err.split("\n") if "interrupted" in line]
    assert len(lines) == 1 and lines[0].startswith("icm-matting: interrupted")
    assert ("run the same command with --resume to finish the job" in lines[0]) == hint


def test_ctrl_c_ends_a_worker_pool_at_once_without_tracebacks(tmp_path):
    """Ctrl-C in a terminal signals every process of the group; the workers' targets in flight
    are dropped (the dispatcher writes every file), nothing prints a traceback."""
    out = tmp_path / "out"
    job = subprocess.Popen(
        [sys.executable, "-m", "icm_cli", "batch", *REFERENCE, "--out", str(out),
         "--workers", "2", *[str(EXAMPLES / f"target-{n}.jpg") for n in (1, 2, 3, 4)]],
        stderr=subprocess.PIPE, text=True, cwd=tmp_path, start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        # as in a terminal: a test run started in the background ignores SIGINT, and so would
        # the batch it starts
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not list(out.glob("*_alpha.png")) and time.monotonic() < deadline:
        time.sleep(0.05)  # a first target done: the workers run, the others are in flight
    os.killpg(job.pid, signal.SIGINT)
    _, err = job.communicate(timeout=60)
    assert job.returncode == 130, err
    assert "Traceback" not in err
    assert err.rstrip().endswith("run the same command with --resume to finish the job")
