"""Plain helpers for the real-host tests."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def report(run) -> dict:
    """The ``ICM_REPORT {json}`` line a Krita-side script printed (``run``: CompletedProcess)."""
    lines = [line for line in run.stdout.splitlines() if line.startswith("ICM_REPORT ")]
    assert lines, f"the script printed no report (rc {run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-5000:]}"
    return json.loads(lines[-1][len("ICM_REPORT "):])


# What our code (or Qt about our code) may print in Krita's log; Krita's own noise is not ours.
WARNING_SIGNS = ("QThread: Destroyed", "Ambiguous shortcut", "Traceback (most recent call last)",
                 "krita.scripting", "icm_", "icm-matting", "ICM Matting", "QBasicTimer", "QPainter::")


def our_warnings(log: str) -> list[str]:
    """Lines of a Krita log that point at our plugin."""
    return [line for line in log.splitlines() if any(sign in line for sign in WARNING_SIGNS)]


def run_in_krita(krita_env: dict, script: Path, name: str, env: dict,
                 timeout: float) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Our plugin installed by our installer and ``script`` beside it as the Krita plugin
    ``name`` (it drives Krita from inside), run in the real Krita GUI on Xvfb with ``env``
    added to ``krita_env``; both are removed afterwards.  Krita's run and the uninstaller's lines."""
    from icm_plugin import install

    resources = Path(krita_env["XDG_DATA_HOME"]) / "krita"
    kritarc = Path(krita_env["XDG_CONFIG_HOME"]) / "kritarc"
    plan = install.krita_plan(resources, kritarc)
    install.install(plan)
    folder, desktop = resources / "pykrita" / name, resources / "pykrita" / f"{name}.desktop"
    folder.mkdir(exist_ok=True)
    shutil.copy(script, folder / "__init__.py")
    desktop.write_text("[Desktop Entry]\nType=Service\nServiceTypes=Krita/PythonPlugin\n"
                       f"X-KDE-Library={name}\nX-Python-2-Compatible=false\nName={name}\n")
    install._ini_change(kritarc, "python", f"enable_{name}", "true")
    env = dict(krita_env, **env)
    env.pop("QT_QPA_PLATFORM", None)  # the real GUI, on Xvfb
    try:
        run = krita_on_xvfb(env, timeout)
    finally:
        shutil.rmtree(folder)
        desktop.unlink()
        install._ini_change(kritarc, "python", f"enable_{name}", None)
        lines = install.uninstall(plan)
    return run, lines


def krita_on_xvfb(env: dict, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run the real Krita on its own Xvfb display.  Tried once more when Krita could not reach
    the display at all: xvfb-run's readiness wait can return before Xvfb accepts connections
    (seen once under heavy load), which says nothing about our plugin."""
    import subprocess

    for attempt in range(2):
        run = subprocess.run([*xvfb_run(), "krita", "--nosplash"], env=env, capture_output=True,
                             text=True, timeout=timeout, check=False)
        if "could not connect to display" not in run.stderr:
            break
    return run


def xvfb_run(screen: str = "1600x1000") -> list[str]:
    """``xvfb-run`` on a free display, searched from a number of this process's own: two runs
    starting at once from the default :99 race for it (seen: "could not connect to display")."""
    import os

    return ["xvfb-run", "-a", "-n", str(100 + os.getpid() % 800), "-s", f"-screen 0 {screen}x24"]
