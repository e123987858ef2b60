"""Krita pixel I/O through our host adapter, inside real Krita (Debian's kritarunner, offscreen).

For each size: reading a U8 layer as float32 sRGB, writing a result as a new paint layer (the
matte as alpha) and as a selection mask; and, side by side, the two parts of a layer write —
our numpy work and Krita inserting an empty layer (libkis waits for the whole image to be
recomposited, which grows with the layer count).  Target: read and write ≤ 0.2 s at 4096².

    python benchmarks/krita_io.py [--sides 1024 2048 4096] [--json PATH]

Each figure is the best of 3 runs (``*_median_s``: the median).  Timings on a shared machine
vary; compare figures from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 0.2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if shutil.which("kritarunner") is None:
        print("kritarunner not found: apt-get install krita", file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT))
    from icm_plugin.install import python_paths

    ours = str(Path(sys.executable).parent)  # Krita's embedded Python must not see our interpreter
    path = [p for p in os.environ["PATH"].split(os.pathsep) if p != ours and ".pyenv" not in p]
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, PATH=os.pathsep.join(path), HOME=home, XDG_DATA_HOME=f"{home}/data",
                   XDG_CONFIG_HOME=f"{home}/config", QT_QPA_PLATFORM="offscreen",
                   ICM_PATHS=json.dumps(python_paths()), ICM_SIDES=json.dumps(args.sides),
                   PYTHONPATH=str(ROOT / "tests" / "hosts"))
        run = subprocess.run(["kritarunner", "-s", "krita_offscreen", "-f", "benchmark"], env=env,
                             capture_output=True, text=True, timeout=1800)
    lines = [line for line in run.stdout.splitlines() if line.startswith("ICM_REPORT ")]
    if not lines:
        print(run.stderr[-3000:], file=sys.stderr)
        return 1
    report = json.loads(lines[-1][len("ICM_REPORT "):])
    if report["failures"]:
        print("\n".join(report["failures"]), file=sys.stderr)
        return 1
    figures = report["figures"]
    print(f"Krita {report['krita']}, best of 3 (median) in seconds; target {TARGET_SECONDS} s at 4096²")
    print(f"{'side':>6} {'read':>14} {'write layer':>14} {'selection mask':>15} {'numpy part':>12} {'krita insert':>13}")
    for side in args.sides:
        cells = [f"{figures[f'{n}_{side}_s']:.3f} ({figures[f'{n}_{side}_median_s']:.3f})"
                 for n in ("read", "write_layer", "write_selection_mask")]
        print(f"{side:>6} {cells[0]:>14} {cells[1]:>14} {cells[2]:>15} "
              f"{figures[f'layer_numpy_part_{side}_s']:>12.3f} {figures[f'krita_insert_empty_layer_{side}_s']:>13.3f}")
    for side in args.sides:
        figures[f"read_vs_target_{side}"] = round(figures[f"read_{side}_s"] / TARGET_SECONDS, 2)
        figures[f"write_layer_vs_target_{side}"] = round(figures[f"write_layer_{side}_s"] / TARGET_SECONDS, 2)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
