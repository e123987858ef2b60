"""``icm-matting install|uninstall krita|gimp``: put the plugin files in place, remember them.

Every install writes a record (:data:`RECORD`, inside the plugin's own folder) listing each
file with the sha256 it was written with, the folders it created and the settings it changed
with their previous values.  ``uninstall`` undoes exactly that: a file is removed only if it
still has the content we wrote, a folder only if it is empty, a setting goes back to its
previous value only if nobody changed it since.  A file we did not write is never
overwritten: a clash stops the install before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from icm_core import manifest
from icm_core.api import OutputError
from icm_core.imageio import atomic_write_bytes

from . import manifest as generated

RECORD = "icm-matting-install.json"
KRITA_LOADER = Path(__file__).resolve().parent / "krita" / "loader.py"


@dataclass
class Plan:
    """What an install writes: files (content, mode) and INI settings (file, section, key, value)."""

    record: Path
    files: dict[Path, tuple[bytes, int]] = field(default_factory=dict)
    settings: list[tuple[Path, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- where things go ------------------------------------------------------------------------------
def python_paths() -> list[str]:
    """Folders another interpreter of the same Python version needs in front of ``sys.path`` to
    import this installation: the one holding ``icm_core`` (the checkout, for editable installs)
    and the site-packages holding torch & co."""
    import icm_core

    paths = [str(Path(icm_core.__file__).resolve().parents[1])]
    for key in ("purelib", "platlib"):
        folder = sysconfig.get_paths()[key]
        if folder not in paths:
            paths.append(folder)
    return paths


def python_version() -> str:
    return "%d.%d" % sys.version_info[:2]


def krita_python_version() -> str | None:
    """The Python version this system's Krita embeds, read from its pykrita plugin library
    (Linux packages); ``None`` when not found (AppImage, Windows, macOS: checked at start-up)."""
    for pattern in ("/usr/lib/*/kritaplugins/kritapykrita*.so", "/usr/lib*/kritaplugins/kritapykrita*.so",
                    "/usr/local/lib*/kritaplugins/kritapykrita*.so"):
        for library in sorted(Path("/").glob(pattern.lstrip("/"))):
            found = re.search(rb"libpython(3\.\d+)", library.read_bytes())
            if found:
                return found.group(1).decode()
    return None


def source_folder() -> Path | None:
    """This installation's checkout (editable installs: the folder with pyproject.toml)."""
    folder = Path(python_paths()[0])
    return folder if (folder / "pyproject.toml").is_file() else None


def default_krita_venv(version: str) -> Path:
    """Where ``install krita`` makes the environment for Krita's Python ``version``."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("icm-matting")) / f"krita-venv-{version}"


def krita_venv_steps(version: str, venv: Path, source: Path, krita_args: list[str]) -> list[list[str]]:
    """The commands that install this checkout for Krita's Python ``version`` in ``venv`` and
    register the plugin from there.  ``--system-site-packages``: Debian's PyQt5 (Krita's)
    stays importable from it, so Krita's Python still works when started from a shell with
    this environment active."""
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    steps = []
    if not python.is_file():
        steps.append([f"python{version}", "-m", "venv", "--system-site-packages", str(venv)])
    steps.append([str(python), "-m", "pip", "install", "-e", str(source)])
    steps.append([str(python), "-m", "icm_cli", "install", "krita", *krita_args])
    return steps


def default_krita_resources() -> Path:
    if sys.platform == "win32":
        return Path(os.environ["APPDATA"]) / "krita"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "krita"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "krita"


def default_kritarc() -> Path:
    if sys.platform == "win32":
        return Path(os.environ["LOCALAPPDATA"]) / "kritarc"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Preferences" / "kritarc"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "kritarc"


def default_gimp_plugins() -> Path:
    """The newest ``GIMP/3.x/plug-ins`` folder of this user (3.0 if GIMP 3 never ran)."""
    if sys.platform == "win32":
        base = Path(os.environ["APPDATA"]) / "GIMP"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support" / "GIMP"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "GIMP"
    versions = sorted((p for p in base.glob("3.*") if p.is_dir()), key=lambda p: [int(x) for x in re.findall(r"\d+", p.name)])
    return (versions[-1] if versions else base / "3.0") / "plug-ins"


def gimp3_found() -> bool:
    """Whether GIMP 3 is here: a settings folder it made when it ran, or its program on PATH."""
    return default_gimp_plugins().parent.is_dir() or any(
        shutil.which(name) for name in ("gimp-3.0", "gimp-3"))


# -- plans ------------------------------------------------------------------------------------------
def krita_plan(resources: Path | None = None, kritarc: Path | None = None) -> Plan:
    m = manifest()
    module = m["hosts"]["krita"]["module"]
    resources = Path(resources or default_krita_resources()).expanduser().resolve()
    kritarc = Path(kritarc or default_kritarc()).expanduser().resolve()
    folder = resources / "pykrita" / module
    plan = Plan(folder / RECORD)
    loader = KRITA_LOADER.read_text(encoding="utf-8") + "\n\nload()\n"
    plan.files[folder / "__init__.py"] = (loader.encode(), 0o644)
    plan.files[resources / "pykrita" / f"{module}.desktop"] = (generated.krita_desktop(m).encode(), 0o644)
    plan.files[resources / "actions" / f"{module}.action"] = (generated.krita_action(m).encode(), 0o644)
    krita_python = krita_python_version()
    if krita_python in (None, python_version()):
        paths = {"python": python_version(), "executable": sys.executable, "paths": python_paths()}
        plan.files[folder / "paths.json"] = (json.dumps(paths, indent=2).encode(), 0o644)
    else:
        plan.notes.append(
            f"Krita here runs Python {krita_python} but this icm-matting is installed for Python "
            f"{python_version()}: the plugin will show how to install icm-matting for Python {krita_python}."
        )
    plan.settings.append((kritarc, "python", f"enable_{module}", "true"))
    plan.notes.append("Restart Krita; the panel is under Settings › Dockers › ICM Matting.")
    return plan


def gimp_plan(plugins: Path | None = None) -> Plan:
    folder_name = manifest()["hosts"]["gimp"]["plugin_folder"]
    folder = Path(plugins or default_gimp_plugins()).expanduser().resolve() / folder_name
    plan = Plan(folder / RECORD)
    plan.files[folder / f"{folder_name}.py"] = (generated.GIMP_PLUGIN.read_bytes(), 0o755)
    bridge = {"python": sys.executable, "paths": python_paths(), "version": manifest()["version"]}
    plan.files[folder / "bridge.json"] = (json.dumps(bridge, indent=2).encode(), 0o644)
    if plugins is None and not gimp3_found():
        # installed anyway: GIMP 3 looks there once it is installed or first started
        plan.notes.append(
            f"No GIMP 3 was found here (it never ran, and no gimp-3.0 is on the PATH): the plug-in "
            f"waits in {folder.parent} for GIMP 3. For the Flatpak GIMP, install with --plugins "
            "~/.var/app/org.gimp.GIMP/config/GIMP/3.0/plug-ins instead.")
    plan.notes.append("Restart GIMP 3; select the reference layer first, then the targets, and run "
                      f"{manifest()['hosts']['gimp']['menu_path'].replace('<Image>/', '')} › "
                      f"{manifest()['hosts']['gimp']['menu_label']}")
    return plan


# -- install / uninstall -----------------------------------------------------------------------------
def install(plan: Plan) -> list[str]:
    """Write ``plan``; returns lines for the user.  Reinstalling over our own files is fine."""
    previous = _read_record(plan.record)
    owned = previous.get("files", {})
    for path in plan.files:
        if path.exists() and str(path) not in owned:
            raise OutputError(f"{path} already exists and was not written by icm-matting; move it away "
                              "first. Nothing was written.")
        if path.exists() and _sha256(path.read_bytes()) != owned[str(path)]:
            raise OutputError(f"{path} was changed since icm-matting installed it; move it away first. "
                              "Nothing was written.")
    created_dirs = list(previous.get("dirs", []))
    files = {}
    for path, (content, mode) in plan.files.items():
        created_dirs += [str(d) for d in _make_parents(path)]
        atomic_write_bytes(path, content)
        path.chmod(mode)
        files[str(path)] = _sha256(content)
    for stale in set(owned) - set(files):  # written by an older version, no longer needed
        _remove_if_ours(Path(stale), owned[stale], [])
    settings = {(s["file"], s["section"], s["key"]): s for s in previous.get("settings", [])}
    for ini, section, key, value in plan.settings:
        created_dirs += [str(d) for d in _make_parents(ini)]
        before = _ini_change(ini, section, key, value)
        entry = settings.setdefault((str(ini), section, key), {"file": str(ini), "section": section, "key": key,
                                                               "previous": before})
        entry["value"] = value
    record = {"version": manifest()["version"], "files": files, "dirs": created_dirs,
              "settings": list(settings.values())}
    atomic_write_bytes(plan.record, json.dumps(record, indent=2).encode())
    lines = [f"wrote {path}" for path in files] + [f"set [{s}] {k}={v} in {f}" for f, s, k, v in plan.settings]
    return lines + plan.notes


def uninstall(plan: Plan) -> list[str]:
    """Remove what the record at ``plan.record`` lists; returns lines for the user."""
    record = _read_record(plan.record)
    if not record:
        return [f"nothing to uninstall: no install record at {plan.record}"]
    lines: list[str] = []
    for path, digest in record["files"].items():
        _remove_if_ours(Path(path), digest, lines)
    for entry in record["settings"]:
        ini = Path(entry["file"])
        current = _ini_get(ini.read_text(encoding="utf-8"), entry["section"], entry["key"]) if ini.is_file() else None
        if current == entry["value"]:
            _ini_change(ini, entry["section"], entry["key"], entry["previous"])
            lines.append(f"restored [{entry['section']}] {entry['key']} in {ini}")
        else:
            lines.append(f"left [{entry['section']}] {entry['key']} in {ini}: changed since install")
    plan.record.unlink()
    for folder in sorted(set(record["dirs"]), key=len, reverse=True):
        if Path(folder).is_dir() and not any(Path(folder).iterdir()):
            Path(folder).rmdir()
            lines.append(f"removed empty folder {folder}")
    return lines


def _remove_if_ours(path: Path, digest: str, lines: list[str]) -> None:
    if not path.is_file():
        return
    if _sha256(path.read_bytes()) == digest:
        path.unlink()
        lines.append(f"removed {path}")
    else:
        lines.append(f"left {path}: changed since install")


def _read_record(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _make_parents(path: Path) -> list[Path]:
    """Create ``path``'s missing parent folders; returns those created, outermost first."""
    missing = [p for p in reversed(path.parents) if not p.exists()]
    for folder in missing:
        folder.mkdir()
    return missing


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# -- INI files edited as text: Krita rewrites kritarc itself, we touch one line only ------------------
def _ini_change(path: Path, section: str, key: str, value: str | None) -> str | None:
    """Set (or with ``None`` remove) ``key`` in ``[section]``; returns the previous value."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    previous = _ini_get(text, section, key)
    atomic_write_bytes(path, _ini_set(text, section, key, value).encode("utf-8"))
    return previous


def _ini_get(text: str, section: str, key: str) -> str | None:
    lines = text.splitlines()
    start, end = _section(lines, section)
    for line in lines[start:end]:
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    return None


def _ini_set(text: str, section: str, key: str, value: str | None) -> str:
    lines = text.splitlines()
    start, end = _section(lines, section)
    if start == end == len(lines) and not any(line.strip() == f"[{section}]" for line in lines):
        if value is None:
            return text
        lines += ([""] if lines and lines[-1].strip() else []) + [f"[{section}]"]
        start = end = len(lines)
    body = [line for line in lines[start:end] if line.partition("=")[0].strip() != key or "=" not in line]
    if value is not None:
        last = max((i for i, line in enumerate(body) if line.strip()), default=-1)
        body.insert(last + 1, f"{key}={value}")
    return "\n".join(lines[:start] + body + lines[end:]) + "\n"


def _section(lines: list[str], section: str) -> tuple[int, int]:
    """Line range of ``[section]``'s body; ``(len, len)`` when the section is absent."""
    for index, line in enumerate(lines):
        if line.strip() == f"[{section}]":
            end = next((j for j in range(index + 1, len(lines)) if lines[j].lstrip().startswith("[")), len(lines))
            return index + 1, end
    return len(lines), len(lines)
