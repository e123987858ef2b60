"""The docker's latency inside the real Krita GUI (Debian's krita under xvfb-run), 1 MP photos:
Run → the first result layer in the document, and a correction stroke released → its preview
and its final alpha drawn in the docker (median of 6 strokes, keep and remove in turn).
Targets: preview ≤ 0.5 s median, final ≤ 2.5 s.  CPU seconds are the Krita process's, all
threads, over the same interval.

    python benchmarks/krita_latency.py [--json PATH]

A throw-away Krita profile is used; the plugin is installed there by our installer.  Timings on
a shared machine vary; compare figures from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREVIEW_TARGET, FINAL_TARGET = 0.5, 2.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    for tool in ("krita", "xvfb-run"):
        if shutil.which(tool) is None:
            print(f"{tool} not found: apt-get install krita xvfb xauth", file=sys.stderr)
            return 1
    sys.path.insert(0, str(ROOT))
    from icm_plugin import install

    ours = str(Path(sys.executable).parent)  # Krita's embedded Python must not see our interpreter
    path = [p for p in os.environ["PATH"].split(os.pathsep) if p != ours and ".pyenv" not in p]
    with tempfile.TemporaryDirectory() as home:
        home = Path(home)
        env = dict(os.environ, PATH=os.pathsep.join(path), HOME=str(home), XDG_DATA_HOME=str(home / "data"),
                   XDG_CONFIG_HOME=str(home / "config"), XDG_CACHE_HOME=str(home / "cache"),
                   ICM_PATHS=json.dumps(install.python_paths()), ICM_REPORT_FILE=str(home / "report.json"))
        from tests.hosts.helpers import run_in_krita

        run, _ = run_in_krita(env, ROOT / "tests" / "hosts" / "krita_latency.py",
                              "icm_matting_latency", {}, timeout=900)
        report_file = home / "report.json"
        report = json.loads(report_file.read_text()) if report_file.is_file() else None
    if report is None or report["failures"]:
        print((report or {}).get("failures") or run.stderr[-3000:], file=sys.stderr)
        return 1
    f = report["figures"]
    print(f"Krita GUI under Xvfb, {f['megapixels']} MP photos, quality {f['quality']} "
          f"(Krita exit status {run.returncode})")
    print(f"{'':34} {'wall s':>8} {'CPU s':>8} {'target s':>9} {'ratio':>6}")
    print(f"{'Run → first result layer':34} {f['run_first_result_s']:8.2f} {f['run_first_result_cpu_s']:8.2f}")
    for kind, target in (("preview", PREVIEW_TARGET), ("final", FINAL_TARGET)):
        wall = f[f"stroke_to_{kind}_median_s"]
        print(f"{'stroke → ' + kind + ' drawn (median)':34} {wall:8.2f} {f[f'stroke_to_{kind}_cpu_median_s']:8.2f}"
              f" {target:9.2f} {wall / target:6.2f}")
        print(f"{'stroke → ' + kind + ' drawn (max)':34} {f[f'stroke_to_{kind}_max_s']:8.2f}")
        print(f"{'  of which the engine (median)':34} {f[f'engine_{kind}_median_s']:8.2f}")
    if args.json:
        args.json.write_text(json.dumps(f, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
