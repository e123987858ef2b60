"""``icm-matting install|uninstall krita|gimp`` into temporary folders: exactly what is recorded
is written and removed, nothing of the user's is touched."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from icm_core.api import OutputError
from icm_cli.cli import main as cli
from icm_plugin import install

ROOT = Path(__file__).resolve().parents[2]
KRITARC = """[General]
LastPreset=Basic_tip_default
[python]
enable_tenscripts=true
enable_other=false

[theme]
Theme=Krita dark
"""


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def krita_dirs(tmp_path):
    resources, kritarc = tmp_path / "krita", tmp_path / "config" / "kritarc"
    (resources / "pykrita" / "tenscripts").mkdir(parents=True)
    (resources / "pykrita" / "tenscripts" / "__init__.py").write_text("# someone else's plugin\n")
    kritarc.parent.mkdir()
    kritarc.write_text(KRITARC)
    return resources, kritarc


def test_krita_install_writes_plugin_enables_it_and_uninstall_restores_everything(krita_dirs, capsys):
    resources, kritarc = krita_dirs
    before = tree(resources.parent)
    assert cli(["install", "krita", "--resources", str(resources), "--kritarc", str(kritarc)]) == 0
    plugin = resources / "pykrita" / "icm_matting"
    assert (resources / "pykrita" / "icm_matting.desktop").read_text() == \
        (ROOT / "icm_plugin" / "krita" / "icm_matting.desktop").read_text()
    assert (resources / "actions" / "icm_matting.action").is_file()
    loader = (plugin / "__init__.py").read_text()
    assert loader.startswith('"""ICM Matting for Krita') and loader.rstrip().endswith("load()")
    paths = json.loads((plugin / "paths.json").read_text())
    assert paths["python"] == "%d.%d" % sys.version_info[:2] and str(ROOT) == paths["paths"][0]
    text = kritarc.read_text()
    assert "[python]\nenable_tenscripts=true\nenable_other=false\nenable_icm_matting=true\n" in text
    assert text.replace("enable_icm_matting=true\n", "") == KRITARC  # nothing else changed
    record = json.loads((plugin / install.RECORD).read_text())
    assert set(record["files"]) == {str(p) for p in install.krita_plan(resources, kritarc).files}
    assert "Restart Krita" in capsys.readouterr().out

    assert cli(["install", "krita", "--resources", str(resources), "--kritarc", str(kritarc)]) == 0  # again: fine
    assert cli(["uninstall", "krita", "--resources", str(resources), "--kritarc", str(kritarc)]) == 0
    assert tree(resources.parent) == before
    assert not (resources / "actions").exists()  # the folder we created is gone again
    assert cli(["uninstall", "krita", "--resources", str(resources), "--kritarc", str(kritarc)]) == 0
    assert "nothing to uninstall" in capsys.readouterr().out


def test_install_refuses_to_overwrite_a_file_it_did_not_write(krita_dirs):
    resources, kritarc = krita_dirs
    desktop = resources / "pykrita" / "icm_matting.desktop"
    desktop.write_text("[Desktop Entry]\n# the user's own\n")
    before = tree(resources.parent)
    with pytest.raises(OutputError, match="not written by icm-matting"):
        install.install(install.krita_plan(resources, kritarc))
    assert tree(resources.parent) == before


def test_uninstall_keeps_files_and_settings_changed_since_install(krita_dirs):
    resources, kritarc = krita_dirs
    plan = install.krita_plan(resources, kritarc)
    install.install(plan)
    loader = resources / "pykrita" / "icm_matting" / "__init__.py"
    loader.write_text(loader.read_text() + "# my tweak\n")
    kritarc.write_text(kritarc.read_text().replace("enable_icm_matting=true", "enable_icm_matting=false"))
    lines = install.uninstall(plan)
    assert loader.is_file() and any("changed since install" in line for line in lines)
    assert "enable_icm_matting=false" in kritarc.read_text()
    assert not (resources / "pykrita" / "icm_matting.desktop").exists()
    assert (resources / "pykrita" / "tenscripts" / "__init__.py").is_file()


def test_a_previous_setting_value_comes_back(krita_dirs):
    resources, kritarc = krita_dirs
    kritarc.write_text(KRITARC.replace("enable_other=false", "enable_other=false\nenable_icm_matting=false"))
    original = kritarc.read_text()
    plan = install.krita_plan(resources, kritarc)
    install.install(plan)
    assert "enable_icm_matting=true" in kritarc.read_text()
    install.uninstall(plan)
    assert kritarc.read_text() == original


def test_kritarc_is_created_when_krita_never_ran(tmp_path):
    plan = install.krita_plan(tmp_path / "res", tmp_path / "cfg" / "kritarc")
    install.install(plan)
    assert (tmp_path / "cfg" / "kritarc").read_text() == "[python]\nenable_icm_matting=true\n"
    install.uninstall(plan)
    assert not (tmp_path / "res").exists()


def test_default_locations_follow_xdg(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert install.default_krita_resources() == tmp_path / "data" / "krita"
    assert install.default_kritarc() == tmp_path / "config" / "kritarc"
    assert install.default_gimp_plugins() == tmp_path / "config" / "GIMP" / "3.0" / "plug-ins"
    for version in ("3.0", "3.2", "2.10"):
        (tmp_path / "config" / "GIMP" / version).mkdir(parents=True)
    assert install.default_gimp_plugins() == tmp_path / "config" / "GIMP" / "3.2" / "plug-ins"


def test_gimp_install_writes_an_executable_plugin_and_its_bridge(tmp_path):
    plugins = tmp_path / "plug-ins"
    assert cli(["install", "gimp", "--plugins", str(plugins)]) == 0
    script = plugins / "icm-matting" / "icm-matting.py"
    assert script.read_bytes() == (ROOT / "icm_plugin" / "gimp" / "icm-matting.py").read_bytes()
    assert script.stat().st_mode & stat.S_IXUSR
    bridge = json.loads((plugins / "icm-matting" / "bridge.json").read_text())
    assert bridge["python"] == sys.executable and str(ROOT) in bridge["paths"]
    assert cli(["uninstall", "gimp", "--plugins", str(plugins)]) == 0
    assert not plugins.exists()


def test_installed_loader_shows_what_to_do_when_packages_are_missing(krita_dirs, tmp_path):
    """The loader imports under any Python; with nothing importable it builds the help text."""
    resources, kritarc = krita_dirs
    install.install(install.krita_plan(resources, kritarc))
    code = (
        "import sys, types; sys.modules['krita'] = types.ModuleType('krita');"
        "sys.path.insert(0, sys.argv[1]);"
        "import importlib.util as u; spec = u.spec_from_file_location('loader', sys.argv[2]);"
        "m = u.module_from_spec(spec); spec.loader.exec_module(m);"
        "print(m.instructions('icm-matting was installed with Python 3.99', ['torch']))"
    )
    loader = ROOT / "icm_plugin" / "krita" / "loader.py"
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path), str(loader)], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=""))
    assert run.returncode == 0, run.stderr
    assert "cannot import: torch" in run.stdout and "icm-matting install krita" in run.stdout
    assert "venv" in run.stdout and "restart Krita" in run.stdout


def test_no_path_file_when_krita_runs_another_python(krita_dirs, monkeypatch):
    resources, kritarc = krita_dirs
    monkeypatch.setattr(install, "krita_python_version", lambda: "3.10")
    plan = install.krita_plan(resources, kritarc)
    assert not any(path.name == "paths.json" for path in plan.files)
    assert any("runs Python 3.10" in note for note in plan.notes)


def test_this_systems_krita_python_is_detected():
    import shutil

    if shutil.which("krita") is None:
        pytest.skip("Krita is not installed")
    assert re.fullmatch(r"3\.\d+", install.krita_python_version() or "")


def test_krita_on_another_python_gets_its_own_environment(krita_dirs, tmp_path, monkeypatch, capsys):
    """Issue 22 point 12: `install krita` when Krita embeds another Python makes (or reuses) a
    virtual environment of that version with the system's packages visible, installs this
    checkout there and registers the plugin from it, saying each step; a missing interpreter
    is one clear line and exit status 2."""
    resources, kritarc = krita_dirs
    monkeypatch.setattr(install, "krita_python_version", lambda: "3.99")
    before = tree(resources.parent)
    args = ["install", "krita", "--resources", str(resources), "--kritarc", str(kritarc), "--venv", str(tmp_path / "v")]
    assert cli(args) == 2
    assert "python3.99 is not installed" in capsys.readouterr().err and tree(resources.parent) == before

    steps = install.krita_venv_steps("3.99", tmp_path / "v", ROOT, ["--resources", str(resources)])
    assert steps[0] == ["python3.99", "-m", "venv", "--system-site-packages", str(tmp_path / "v")]
    python = str(tmp_path / "v" / "bin" / "python")
    assert steps[1] == [python, "-m", "pip", "install", "-e", str(ROOT)]
    assert steps[2] == [python, "-m", "icm_cli", "install", "krita", "--resources", str(resources)]
    (tmp_path / "v" / "bin").mkdir(parents=True)
    (tmp_path / "v" / "bin" / "python").write_text("")
    assert len(install.krita_venv_steps("3.99", tmp_path / "v", ROOT, [])) == 2  # reused

    ran = []
    monkeypatch.setattr(subprocess, "run", lambda step: ran.append(step) or subprocess.CompletedProcess(step, 0))
    assert cli(args) == 0
    assert ran[0][-3:] == ["install", "-e", str(ROOT)] and ran[1][3:5] == ["install", "krita"]
    out = capsys.readouterr().out
    assert "Krita runs Python 3.99" in out and f"into {tmp_path / 'v'}" in out and "$ " in out
