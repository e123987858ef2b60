"""``icm_core.engines.availability``: a cheap probe a panel can call when it opens."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from icm_core import engines, weights
from icm_core.api import InvalidInput


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
    lite = engines.engine_class("lite")
    monkeypatch.setattr(lite, "REQUIREMENTS", ("torch", "no_such_package_xyz"))
    assert lite.missing_packages() == ["no_such_package_xyz"]
    ok, reason = engines.availability("lite")
    assert not ok and "(missing no_such_package_xyz)" in reason
    assert "run `pip install -e .` in" in reason  # lite comes with the base install: no extra
    assert engines.availability("nope") == (False, "Unknown engine 'nope'.")


def test_each_engine_declares_what_callers_ask_it():
    """Batch, the panel, the GIMP bridge and the CLI read these instead of branching on a name."""
    from icm_core.engines.base import QUALITIES

    for name in engines.engine_names():
        engine = engines.engine_class(name)
        assert engine.name == name and engine.label and engine.REQUIREMENTS
        assert list(engine.PRESETS) == list(QUALITIES)
        for quality in QUALITIES:
            preset = engine.preset(quality)
            for key, value in preset.items():
                engines.option(name, key).check(name, value)  # a preset sets declared options
            preset.clear()
            assert engine.preset(quality)  # a copy: the caller may add to it
    lite, icm = engines.engine_class("lite"), engines.engine_class("icm")
    assert [lite.preset(q)["quality"] for q in QUALITIES] == list(QUALITIES)
    assert [icm.preset(q)["ensemble_size"] for q in QUALITIES] == [1, 4, 8]
    assert (lite.EXTRA, icm.EXTRA) == ("", "icm")
    with pytest.raises(InvalidInput, match="'ultra' is not one of fast, balanced, best"):
        lite.preset("ultra")


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
