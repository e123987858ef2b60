"""plugin.json is the one manifest: the generated host files and the package version follow it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import icm_core
from icm_plugin import manifest as generated

ROOT = Path(__file__).resolve().parents[2]


def test_generated_host_files_match_plugin_json():
    stale = generated.stale_files()
    assert not stale, f"regenerate with `python -m icm_plugin.manifest`: {stale}"


def test_generator_follows_an_edited_manifest():
    m = json.loads((ROOT / "plugin.json").read_text(encoding="utf-8"))
    m["version"] = "9.8.7"
    m["hosts"]["krita"]["actions"][0]["shortcut"] = "Ctrl+Shift+Q"
    files = generated.expected_files(m)
    assert "(version 9.8.7)" in files[generated.KRITA_DIR / "icm_matting.desktop"]
    assert "<shortcut>Ctrl+Shift+Q</shortcut>" in files[generated.KRITA_DIR / "icm_matting.action"]
    assert "PLUGIN_VERSION = '9.8.7'" in files[generated.GIMP_PLUGIN]
    assert files[generated.GIMP_PLUGIN] != generated.GIMP_PLUGIN.read_text(encoding="utf-8")


def test_action_file_is_wellformed_and_lists_the_manifest_actions():
    import xml.etree.ElementTree as ElementTree

    root = ElementTree.parse(generated.KRITA_DIR / "icm_matting.action").getroot()
    names = [action.get("name") for action in root.iter("Action")]
    assert names == [a["id"] for a in icm_core.manifest()["hosts"]["krita"]["actions"]]


def test_version_has_one_source():
    m = icm_core.manifest()
    assert icm_core.__version__ == m["version"]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in pyproject and 'path = "plugin.json"' in pyproject
    pattern = re.search(r"pattern = '(.+)'", pyproject).group(1)
    assert re.search(pattern, (ROOT / "plugin.json").read_text(encoding="utf-8")).group("version") == m["version"]


def test_manifest_describes_hosts_engines_models_and_disk_footprint():
    m = icm_core.manifest()
    assert {"id", "name", "version", "license", "hosts", "engines", "disk"} <= set(m)
    assert m["hosts"]["krita"]["min_version"] == "5.1" and m["hosts"]["gimp"]["min_version"] == "3.0"
    for host in m["hosts"].values():
        module, _, attribute = host["adapter"].partition(":")
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), host["adapter"]
    for engine in m["engines"]:
        for model in engine["models"]:
            assert {"size_bytes", "sha256", "license"} <= set(model)
            assert model.get("verification"), f"{model['file']}: say how it is verified"
    lite = next(e for e in m["engines"] if e["id"] == "lite")["models"][0]
    assert re.fullmatch(r"[0-9a-f]{64}", lite["sha256"]) and lite["size_bytes"] > 0


def test_manifest_model_facts_are_the_ones_the_code_checks():
    from icm_core import weights
    from icm_core.lite import backbone

    m = icm_core.manifest()
    lite = next(e for e in m["engines"] if e["id"] == "lite")["models"][0]
    assert (lite["file"], lite["sha256"], lite["size_bytes"]) == (
        backbone.MODEL_PATH.name, backbone.MODEL_SHA256, backbone.MODEL_SIZE)
    sd = next(e for e in m["engines"] if e["id"] == "icm")["models"][1]
    assert sd["sha256"] is None  # never invented: the hub's published values are checked instead
    assert weights.DEFAULT_SD_REPO in sd["source"] and weights.DOWNLOAD_RECORD in sd["verification"]


def test_building_the_cli_imports_no_host_or_qt_package():
    code = ("import sys, icm_cli.cli as c; c.build_parser(); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('icm_plugin', 'ui', 'PyQt5', 'PySide6', 'krita', 'gi')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_ui_and_core_never_import_icm_plugin_at_module_level():
    """Only the install command reaches icm_plugin, inside its run() (see also the CLI test)."""
    pattern = re.compile(r"^(from|import)\s+icm_plugin\b", re.MULTILINE)
    offenders = [str(path.relative_to(ROOT)) for folder in ("ui", "icm_core") for path in (ROOT / folder).rglob("*.py")
                 if pattern.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
