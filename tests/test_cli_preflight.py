"""What can be checked before the work is checked before the first target: the extras a command
needs (a base install has no torch, diffusers, safetensors or huggingface_hub) and that output
folders can be written.  Each ends in one line naming what to do, exit status 2, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from icm_cli.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "icm_core" / "examples"
# the icm extra's packages, as missing as in `pip install -e .` alone
ICM_EXTRA = ("torch", "diffusers", "transformers", "safetensors", "huggingface_hub",
             "tensorboard", "accelerate")
BASE_INSTALL = (f"import sys\nfor name in {ICM_EXTRA!r}:\n    sys.modules[name] = None\n"
                "from icm_cli.cli import main\nsys.exit(main(sys.argv[1:]))\n")
INSTALL_ICM = 'run `pip install -e ".[icm]"` in the icm-matting folder.'


def _base_install(tmp_path: Path, *argv: str) -> str:
    """Run the CLI as in a base install, in an empty folder; its one line of error."""
    work = tmp_path / "work"
    work.mkdir()
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ICM_MATTING_HOME": str(cache)}
    done = subprocess.run([sys.executable, "-c", BASE_INSTALL, *argv], capture_output=True,
                          text=True, cwd=work, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    assert list(work.iterdir()) == [] and not cache.exists()  # nothing written
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("icm-matting: error: "), lines
    return lines[0].removeprefix("icm-matting: error: ")


@pytest.mark.parametrize("command", ["matte", "batch", "eval"])
def test_the_icm_engine_without_its_extra(tmp_path, command):
    arguments = {"matte": ["--example", "--out", "out"],
                 "batch": ["--reference", str(EXAMPLES / "reference.jpg"), "--mask",
                           str(EXAMPLES / "reference-mask.png"), str(EXAMPLES / "target-1.jpg"),
                           "--out", "out"],
                 "eval": [str(tmp_path / "manifest.json")]}[command]
    message = _base_install(tmp_path, command, *arguments, "--engine", "icm")
    assert message == ("The icm engine needs torch, diffusers, transformers, safetensors (not "
                       "installed): " + INSTALL_ICM)


@pytest.mark.parametrize("argv, message", [
    (["train", "--train", "set/manifest.json", "--out", "run"],
     "Training needs torch, diffusers, transformers, safetensors, tensorboard (not installed): "),
    (["weights", "download"], "Downloading Stable Diffusion needs huggingface_hub (not installed): "),
    (["weights", "locate", "--checkpoint", "icm.ckpt"],
     "Reading an ICM checkpoint needs torch, safetensors (not installed): "),
    (["weights", "verify"], "Verifying the weights needs torch, safetensors (not installed): "),
], ids=["train", "weights-download", "weights-locate", "weights-verify"])
def test_commands_that_need_the_icm_extra_say_so(tmp_path, argv, message):
    assert _base_install(tmp_path, *argv) == message + INSTALL_ICM


def test_lite_needs_no_extra(tmp_path):
    """(The blocker above does not break the base install itself.)"""
    done = subprocess.run([sys.executable, "-c", BASE_INSTALL, "matte", "--example", "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "out").glob("*_alpha.png"))) == 4


# --- output folders that cannot be written --------------------------------------------------

@pytest.fixture
def read_only(tmp_path):
    """A folder nobody may write into: a read-only file system as root (for whom permissions
    do not count), else a folder without write permission."""
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "earlier.png").write_bytes(b"an earlier result")
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot make a read-only folder as root here: {mounted.stderr!r}")
    remounted = subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True)
    try:
        if remounted.returncode != 0 or os.access(folder, os.W_OK):
            pytest.skip("bind mounts stay writable here")
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _one_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("icm-matting: error: "), lines
    return lines[0]


@pytest.mark.parametrize("command", ["matte", "batch"])
@pytest.mark.parametrize("inside", [False, True], ids=["out", "out-below"])
def test_an_out_folder_that_cannot_be_written_is_refused_before_matting(
        read_only, tmp_path, capsys, monkeypatch, command, inside):
    out = read_only / "sub" if inside else read_only
    before = _tree(tmp_path)
    matted = []
    monkeypatch.setattr("icm_core.batch.in_process.matte_one", lambda *a, **k: matted.append(a))
    code = main([command, "--reference", str(EXAMPLES / "reference.jpg"), "--mask",
                 str(EXAMPLES / "reference-mask.png"), str(EXAMPLES / "target-1.jpg"),
                 "--out", str(out)])
    assert code == 2 and matted == []
    message = _one_line(capsys)
    assert ("Cannot create" in message) == inside and str(read_only) in message
    assert "choose another --out" in message
    assert _tree(tmp_path) == before


def test_eval_outputs_that_cannot_be_written_are_refused_before_evaluating(read_only, tmp_path, capsys):
    from synthetic_data import write_disc_dataset

    manifest = write_disc_dataset(tmp_path / "set")
    before = _tree(tmp_path)
    for option, path in (("--json", read_only / "scores.json"), ("--save-dir", read_only / "sheets")):
        assert main(["eval", str(manifest), "--engine", "lite", option, str(path)]) == 2
        message = _one_line(capsys)
        assert str(read_only) in message and f"choose another {option}" in message
        assert _tree(tmp_path) == before
