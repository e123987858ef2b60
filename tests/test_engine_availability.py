"""``icm_core.engines.availability``: a cheap probe a panel can call when it opens."""

from __future__ import annotations

import sys
from pathlib import Path

from icm_core import engines, weights


def test_lite_is_available_out_of_the_box():
    assert engines.availability("lite") == (True, "")


def test_icm_without_weights_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.ENV_HOME, str(tmp_path))
    monkeypatch.delenv(weights.ENV_CHECKPOINT, raising=False)
    monkeypatch.delenv(weights.ENV_SD, raising=False)
    ok, reason = engines.availability("icm")
    assert not ok
    assert reason.startswith("ICM checkpoint: not set up.")
    assert "icm-matting weights locate --checkpoint PATH" in reason
    assert "Stable diffusion: Stable Diffusion 2.1 is not set up" in reason


def test_icm_probe_never_downloads_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.ENV_HOME, str(tmp_path))
    monkeypatch.setenv(weights.ENV_SD, "someone/stable-diffusion-2-1")
    monkeypatch.setattr(weights, "download_sd", lambda *a, **k: (_ for _ in ()).throw(AssertionError))
    ok, reason = engines.availability("icm")
    assert not ok and "not downloaded yet" in reason


def test_missing_packages_and_unknown_engines(monkeypatch):
    monkeypatch.setitem(engines.REQUIREMENTS, "lite", ("torch", "no_such_package_xyz"))
    ok, reason = engines.availability("lite")
    assert not ok and "no_such_package_xyz" in reason and "pip install" in reason
    assert engines.availability("nope") == (False, "Unknown engine 'nope'.")


def test_probe_imports_nothing_heavy():
    import subprocess

    code = (
        "import sys, icm_core.engines as e; e.availability('lite'); e.availability('icm'); "
        "print(sorted(m for m in ('torch', 'diffusers', 'timm', 'pymatting') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_icm_without_torch_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # find_spec("torch") is None: not installed
    assert engines.availability("icm") == (
        False, 'Not installed: run `pip install -e ".[icm]"` in the icm-matting folder (missing torch).'
    )
    assert engines.availability("lite") == (True, "")
