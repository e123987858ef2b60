"""What a new user meets: install this checkout into a fresh virtual environment (base install,
pip's cache allowed), then the first matte in a fresh HOME, the second, and ``--help``.

    python benchmarks/cold_start.py [--json PATH] [--keep DIR] [--no-gui]

Records ``install_seconds``, ``venv_mb``, ``first_matte_seconds`` (import, the bundled example's
reference and its first target, in a new process with a new HOME), ``second_matte_seconds`` (the
next target), ``help_seconds`` (``icm-matting --help``, median of three), ``torch_imported``
(after both mattes) and ``example_command_seconds`` (the README's first command), each timing
with the CPU seconds beside it.  Then (unless ``--no-gui``) the ``[gui]`` extra is added:
``app_window_seconds`` is the launch of ``icm-matting gui`` until its window is shown, and
``krita_docker_seconds`` what loading the Krita plugin and building its docker (as Krita does at
its start) costs, on the fake libkis of tests/hosts in this interpreter.  Targets: venv ≤ 600 MB, install ≤ 90 s with a warm cache, first
matte ≤ 15 s, second ≤ 5 s, ``--help`` ≤ 0.5 s, window ≤ 2 s, Krita docker ≤ 0.3 s.  Timings need a quiet machine: the load average
is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"venv_mb": 600, "install_seconds": 90, "first_matte_seconds": 15,
           "second_matte_seconds": 5, "help_seconds": 0.5, "app_window_seconds": 2,
           "krita_docker_seconds": 0.3}

# Runs inside the new venv: one process, as an editor's first use would be.
MATTE_TWICE = """
import json, sys, time
start, cpu = time.perf_counter(), time.process_time()
from icm_cli.commands.matte import EXAMPLES
from icm_core.engines import get_engine
from icm_core.imageio import read_image, read_mask
engine = get_engine("lite")
reference = engine.encode_reference(read_image(EXAMPLES / "reference.jpg"),
                                    read_mask(EXAMPLES / "reference-mask.png"))
targets = sorted(EXAMPLES.glob("target-*.jpg"))
engine.matte(read_image(targets[0]), reference, foreground=True)
first, first_cpu = time.perf_counter() - start, time.process_time() - cpu
start, cpu = time.perf_counter(), time.process_time()
engine.matte(read_image(targets[1]), reference, foreground=True)
second, second_cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"first_matte_seconds": first, "first_matte_cpu_seconds": first_cpu,
                  "second_matte_seconds": second, "second_matte_cpu_seconds": second_cpu,
                  "torch_imported": "torch" in sys.modules}))
"""

# The app as `icm-matting gui` starts it, stopped as soon as its window has been shown.
APP_SHOWN = """
import os, sys, ui.app
def shown(app):
    app.processEvents()
    print("SHOWN", flush=True)
    os._exit(0)  # not a clean quit: the panel's worker may still be importing the engine
ui.app.exec_ = shown
import icm_cli.cli
sys.exit(icm_cli.cli.main(["gui"]))
"""

# Krita's start as far as the plugin is concerned: import and register it, build its docker.
KRITA_START = """
import json, sys, time
from tests.hosts import fake_krita
fake_krita.install("PyQt5", "5.3.1")
start, cpu = time.perf_counter(), time.process_time()
from icm_plugin.krita import loader
loader.load()
fake_krita._APP.factories[0]._create()
print(json.dumps({"krita_docker_seconds": time.perf_counter() - start,
                  "krita_docker_cpu_seconds": time.process_time() - cpu}))
"""


def timed(command: list[str], **kwargs) -> tuple[float, float, subprocess.CompletedProcess]:
    """Wall and CPU seconds (children's user + system) of one command, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--keep", type=Path, help="build the venv here and keep it")
    parser.add_argument("--no-gui", action="store_true", help="skip the [gui] extra's figures")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="icm-cold-"))
    venv = args.keep or work / "venv"
    if venv.exists():
        sys.exit(f"{venv} exists: give a new folder")
    bin_dir = venv / "bin"
    figures: dict = {"load_average_before": os.getloadavg()}
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        # the install a user runs (pip's cache allowed, and the build backend fetched as usual)
        wall, cpu, _ = timed([str(bin_dir / "pip"), "install", "--disable-pip-version-check",
                              "-q", str(ROOT)])
        figures.update(install_seconds=wall, install_cpu_seconds=cpu, venv_mb=folder_mb(venv))

        home = work / "home"  # nothing cached from earlier runs: no config, caches or weights
        home.mkdir()
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("XDG_", "NUMBA_", "ICM_MATTING", "PYTHON"))}
        env.update(HOME=str(home), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}")
        run_dir = work / "run"  # not the checkout: the installed package must be the one used
        run_dir.mkdir()
        _, _, result = timed([str(bin_dir / "python"), "-c", MATTE_TWICE], env=env, cwd=run_dir)
        figures.update(json.loads(result.stdout.strip().splitlines()[-1]))

        helps = [timed([str(bin_dir / "icm-matting"), "--help"], env=env, cwd=run_dir)[:2]
                 for _ in range(3)]
        figures["help_seconds"] = statistics.median(wall for wall, _ in helps)
        figures["help_cpu_seconds"] = statistics.median(cpu for _, cpu in helps)

        shutil.rmtree(home)
        home.mkdir()
        wall, cpu, _ = timed([str(bin_dir / "icm-matting"), "matte", "--example", "--out",
                              str(work / "example-out"), "--cutout"], env=env, cwd=run_dir)
        figures.update(example_command_seconds=wall, example_command_cpu_seconds=cpu)

        if not args.no_gui:
            wall, cpu, _ = timed([str(bin_dir / "pip"), "install", "--disable-pip-version-check",
                                  "-q", f"{ROOT}[gui]"])
            figures.update(gui_install_seconds=wall, gui_venv_mb=folder_mb(venv))
            gui_env = dict(env, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
            wall, cpu, _ = timed([str(bin_dir / "python"), "-c", APP_SHOWN], env=gui_env, cwd=run_dir)
            figures.update(app_window_seconds=wall, app_window_cpu_seconds=cpu)
            _, _, result = timed([sys.executable, "-c", KRITA_START], cwd=ROOT,
                                 env=dict(os.environ, QT_QPA_PLATFORM="offscreen",
                                          XDG_CONFIG_HOME=str(home)))
            figures.update(json.loads(result.stdout.strip().splitlines()[-1]))
    finally:
        figures["load_average_after"] = os.getloadavg()
        shutil.rmtree(work, ignore_errors=True)

    for key, value in figures.items():
        limit = TARGETS.get(key)
        verdict = "" if limit is None else f"   (target ≤ {limit}: {'met' if value <= limit else 'NOT met'})"
        shown = f"{value:.2f}" if isinstance(value, float) else value
        print(f"{key:28} {shown}{verdict}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
