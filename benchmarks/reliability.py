"""Reliability figures: fuzzing for a fixed budget, faults, a soak series, cancel latency.

    python benchmarks/reliability.py [--fuzz-seconds 40] [--soak-targets 200] [--json PATH]

Prints {"inputs_tried", "crashes", "hangs", "foreign_exceptions", "partial_files", "data_lost",
"soak_rss_growth_pct", "cancel_latency_s": {"lite", "icm_tiny", "icm_tiny_unet_pass_s",
"icm_tiny_within_one_unet_pass"}} plus details.  Each fuzz
family runs in its own process (a crash is a dead process, a hang a process past its budget or
an input slower than HANG_SECONDS); the targets are those of tests/reliability/harness.py.
The engine family warms its engine up before the clock starts (``warmup_s``): otherwise the
first valid input pays for imports and loading the lite network, a few CPU seconds, which at a load of 10 on two cores is over 20 s of wall time (the one "hang" of
an earlier run).  Each family lists its slowest inputs with their wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HANG_SECONDS = 20.0
SLOWEST_KEPT = 8  # per family, with what the input was, to find what makes inputs slow
FAMILIES = ("bytes", "damaged", "arrays", "engine", "dataset", "batch_manifest", "plugin_json",
            "checkpoint")
FAST_LITE = {"feature_side": 128, "matting_side": 256}


# --- fuzzing (one family per child process) -------------------------------------------------------

class _BudgetSpent(Exception):
    pass


def fuzz_family(family: str, seconds: float) -> dict:
    """Run one family's hypothesis strategy until the budget is spent; count what happened."""
    import warnings

    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    from icm_core import manifest as plugin_manifest
    from tests.reliability import harness

    warnings.simplefilter("ignore")
    folder = Path(tempfile.mkdtemp(prefix=f"fuzz-{family}-"))
    counts = {"inputs_tried": 0, "foreign_exceptions": 0, "hangs": 0, "examples": [],
              "slowest": []}
    engine = None
    if family == "engine":
        from icm_core.engines import get_engine

        engine = get_engine("lite", **FAST_LITE)
        counts["warmup_s"] = _warm_up(engine)
    plugin_text = json.dumps(plugin_manifest())
    calls = {
        "bytes": (st.tuples(st.binary(max_size=4096), st.sampled_from(["x.png", "x.jpg", "x"])),
                  lambda a: harness.decode_target(a[1], a[0])),
        "damaged": (harness.damaged_files(),
                    lambda a: harness.read_file_target(folder, f"d{a[0]}", a[1])),
        "arrays": (harness.pixel_arrays(), harness.to_rgb_target),
        "engine": (harness.engine_inputs(), lambda a: harness.engine_target(engine, *a)),
        "dataset": (harness.dataset_manifests(),
                    lambda a: harness.dataset_manifest_target(folder, json.dumps(a))),
        "batch_manifest": (harness.batch_manifests(),
                           lambda a: harness.batch_manifest_target(folder, json.dumps(a))),
        "plugin_json": (st.tuples(st.integers(0, len(plugin_text)), st.text(max_size=20),
                                  harness.JSON),
                        lambda a: (harness.plugin_manifest_target(plugin_text[:a[0]] + a[1]),
                                   harness.plugin_manifest_target(json.dumps(a[2])))),
        "checkpoint": (harness.damaged_checkpoints(),
                       lambda a: harness.checkpoint_target(folder, *a)),
    }
    if family == "dataset":
        for name in ("a.png", "b.png"):
            (folder / name).write_bytes(harness.encoded_image(np.zeros((4, 4), np.uint8), ".png"))
    strategy, call = calls[family]
    slowest = counts["slowest"]  # [(seconds, CPU seconds, what the input was)], slowest first
    deadline = time.monotonic() + seconds

    @settings(max_examples=10**9, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(argument):
        if time.monotonic() > deadline:
            raise _BudgetSpent
        counts["inputs_tried"] += 1
        started, cpu_started = time.monotonic(), time.process_time()
        try:
            call(argument)
        except Exception as error:  # noqa: BLE001 - what we are counting
            counts["foreign_exceptions"] += 1
            if len(counts["examples"]) < 5:
                counts["examples"].append(f"{type(error).__name__}: {str(error)[:200]} "
                                          f"for {repr(argument)[:200]}")
        seconds_taken = time.monotonic() - started
        if seconds_taken > HANG_SECONDS:
            counts["hangs"] += 1
        slowest.append((seconds_taken, time.process_time() - cpu_started,
                        _describe_input(argument)))
        slowest.sort(key=lambda entry: -entry[0])
        del slowest[SLOWEST_KEPT:]

    try:
        run()
    except _BudgetSpent:
        pass
    return counts


def _warm_up(engine) -> float:
    """One ordinary matte before the clock starts: the first one loads the network, imports
    the solvers' libraries, CPU seconds that belong to no particular input."""
    from icm_core import synthetic

    started = time.monotonic()
    scene = synthetic.scene(0, (64, 64))
    reference = engine.encode_reference(scene.image, (scene.alpha > 0.5).astype(np.float32))
    engine.matte(synthetic.scene(1, (64, 64)).image, reference)
    return time.monotonic() - started


def _describe_input(argument) -> str:
    """A short readable account of a fuzz input: arrays by dtype and shape, bytes by length."""
    if isinstance(argument, np.ndarray):
        return f"{argument.dtype}{list(argument.shape)}"
    if isinstance(argument, (bytes, bytearray)):
        return f"bytes[{len(argument)}]"
    if isinstance(argument, (tuple, list)):
        return "(" + ", ".join(_describe_input(part) for part in argument) + ")"
    return repr(argument)[:60]


def run_fuzzing(seconds: float) -> dict:
    def child(family: str) -> dict:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            out = Path(handle.name)
        command = [sys.executable, __file__, "--fuzz-family", family, "--fuzz-seconds",
                   str(seconds), "--json", str(out)]
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                  timeout=seconds + 180)
        except subprocess.TimeoutExpired:
            return {"inputs_tried": 0, "crashes": 0, "hangs": 1, "foreign_exceptions": 0}
        if done.returncode != 0 or not out.stat().st_size:
            return {"inputs_tried": 0, "crashes": 1, "hangs": 0, "foreign_exceptions": 0,
                    "examples": [done.stderr[-500:]]}
        result = json.loads(out.read_text())
        out.unlink()
        return dict(result, crashes=0)

    with ThreadPoolExecutor(2) as pool:  # two cores
        families = dict(zip(FAMILIES, pool.map(child, FAMILIES)))
    totals = {key: sum(f[key] for f in families.values())
              for key in ("inputs_tried", "crashes", "hangs", "foreign_exceptions")}
    return dict(totals, families=families)


# --- faults: a full disk, a killed series ------------------------------------------------------

DISK_FULL_SCRIPT = """
import resource, signal, sys
from pathlib import Path
import numpy as np
from icm_core import imageio
from icm_core.api import OutputError
folder = Path(sys.argv[1])
rng = np.random.default_rng(0)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
refused = 0
for index in range(60):
    side = int(rng.integers(8, 200))
    alpha = rng.random((side, side), dtype=np.float32)
    earlier = folder / f"earlier{index % 10}_alpha.png"
    path = earlier if index % 3 == 0 else folder / f"new{index}_alpha.png"
    try:
        imageio.write_alpha(path, alpha, overwrite=path == earlier)
    except OutputError:
        refused += 1
print(refused)
"""


def disk_full() -> dict:
    """60 writes under a 20 kB file-size limit (a real EFBIG), a third of them replacing earlier
    results: every file on disk must be complete; failed replacements keep the old content."""
    from icm_core import imageio

    folder = Path(tempfile.mkdtemp(prefix="diskfull-"))
    rng = np.random.default_rng(1)
    earlier = {}
    for index in range(10):
        path = imageio.write_alpha(folder / f"earlier{index}_alpha.png",
                                   rng.random((16, 16), dtype=np.float32))
        earlier[path.name] = path.read_bytes()
    done = subprocess.run([sys.executable, "-c", DISK_FULL_SCRIPT, str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    partial = sum(1 for p in folder.iterdir() if p.name.endswith(".part"))
    for path in folder.glob("*_alpha.png"):
        try:
            imageio.read_mask(path)
        except Exception:  # noqa: BLE001 - a truncated PNG
            partial += 1
    lost = sum(1 for name in earlier if not (folder / name).is_file())
    return {"writes": 60, "refused": int(done.stdout.strip() or -1), "partial_files": partial,
            "data_lost": lost}


def killed_series(count: int = 24) -> dict:
    """A CLI batch SIGKILLed mid-series, then --resume: outputs equal an uninterrupted run's,
    finished targets are not redone, nothing partial is left."""
    from icm_core import imageio, synthetic

    folder = Path(tempfile.mkdtemp(prefix="killed-"))
    inputs = folder / "in"
    inputs.mkdir()
    reference = synthetic.scene(0, (96, 96))
    imageio.write_image(folder / "reference.png", reference.image)
    imageio.write_alpha(folder / "mask.png", (reference.alpha > 0.5).astype(np.float32))
    for index in range(count):
        imageio.write_image(inputs / f"t{index:03d}.png", synthetic.scene(index + 1, (96, 96)).image)

    def command(out: Path, *extra: str) -> list[str]:
        options = [f"--engine-option={k}={v}" for k, v in FAST_LITE.items()]
        return [sys.executable, "-m", "icm_core.cli", "batch", str(inputs), "--reference",
                str(folder / "reference.png"), "--mask", str(folder / "mask.png"), "--out",
                str(out), *options, *extra]

    subprocess.run(command(folder / "whole"), cwd=ROOT, capture_output=True, check=True, timeout=600)
    out = folder / "killed"
    process = subprocess.Popen(command(out), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    while process.poll() is None and len(list(out.glob("*_alpha.png"))) < count // 3:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*_alpha.png")}
    partial = sum(1 for p in out.iterdir() if p.name.endswith(".part"))
    subprocess.run(command(out, "--resume"), cwd=ROOT, capture_output=True, check=True, timeout=600)
    redone = sum(1 for name, stamp in before.items() if (out / name).stat().st_mtime_ns != stamp)
    lost = sum(1 for p in (folder / "whole").glob("*_alpha.png")
               if not (out / p.name).is_file() or (out / p.name).read_bytes() != p.read_bytes())
    partial += sum(1 for p in out.iterdir() if p.name.endswith(".part"))
    return {"targets": count, "finished_before_kill": len(before), "redone_after_resume": redone,
            "partial_files": partial, "data_lost": lost}


# --- soak ------------------------------------------------------------------------------------------

def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_peak_bytes() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def soak(targets: int, side: int) -> dict:
    """``targets`` lite mattes in this process over 10 recurring scenes: peak RSS growth between
    target 20 and the last, threads and open files, identical alphas for identical inputs."""
    import psutil

    from icm_core import synthetic
    from icm_core.engines import get_engine

    engine = get_engine("lite", **FAST_LITE)
    reference = synthetic.scene(0, (side, side))
    encoded = engine.encode_reference(reference.image, (reference.alpha > 0.5).astype(np.float32))
    scenes = [synthetic.scene(i + 1, (side, side)).image for i in range(10)]
    first: dict[int, np.ndarray] = {}
    mismatches = 0
    marks = {}
    started = time.perf_counter()
    for index in range(targets):
        alpha = engine.matte(scenes[index % 10], encoded, seed=0).alpha
        if index % 10 in first:
            mismatches += int(not np.array_equal(first[index % 10], alpha))
        else:
            first[index % 10] = alpha
        if index + 1 in (20, targets):
            marks[index + 1] = {"peak_rss_mb": _rss_peak_bytes() / 2**20,
                                "rss_mb": psutil.Process().memory_info().rss / 2**20,
                                "threads": threading.active_count(), "open_files": _open_files()}
    low, high = marks[20], marks[targets]
    return {"targets": targets, "side": side, "seconds": time.perf_counter() - started,
            "at_20": low, f"at_{targets}": high,
            "rss_growth_pct": 100.0 * (high["peak_rss_mb"] - low["peak_rss_mb"]) / low["peak_rss_mb"],
            "leaked_threads": high["threads"] - low["threads"],
            "leaked_files": high["open_files"] - low["open_files"],
            "alpha_mismatches": mismatches}


# --- cancel latency --------------------------------------------------------------------------------

def _cancel_latencies(engine, reference, target, trials: int) -> tuple[list[float], float]:
    """Set the cancel event at spread-out moments of a matte; seconds until Cancelled arrives."""
    from icm_core.api import Cancelled

    durations = []
    for _ in range(3):  # the fastest of three: a slow first run would put every cancel too late
        started = time.perf_counter()
        engine.matte(target, reference)
        durations.append(time.perf_counter() - started)
    whole = min(durations)
    latencies = []
    for trial in range(trials):
        cancel = threading.Event()
        raised = {}

        def work():
            try:
                engine.matte(target, reference, cancel=cancel)
            except Cancelled:
                raised["at"] = time.perf_counter()

        thread = threading.Thread(target=work)
        thread.start()
        time.sleep(whole * (trial + 0.5) / (trials + 2))  # (thread start-up eats the end)
        asked = time.perf_counter()
        cancel.set()
        thread.join()
        if "at" in raised:
            latencies.append(raised["at"] - asked)
    return latencies, whole


def cancel_latency() -> dict:
    from icm_core import synthetic
    from icm_core.engines import get_engine

    reference = synthetic.scene(0, (768, 1024))
    mask = (reference.alpha > 0.5).astype(np.float32)
    target = synthetic.scene(1, (768, 1024)).image
    lite = get_engine("lite")
    lite_latencies, lite_whole = _cancel_latencies(lite, lite.encode_reference(reference.image, mask),
                                                   target, 8)
    result = {"lite": max(lite_latencies, default=float("nan")), "lite_matte_s": lite_whole,
              "lite_cancelled": len(lite_latencies)}

    from safetensors.torch import save_file

    from tests.icm.tiny import TINY_WIDTHS, build_tiny_sd, tiny_decoder_state

    folder = Path(tempfile.mkdtemp(prefix="icm-tiny-"))
    os.environ["ICM_MATTING_HOME"] = str(folder / "cache")
    size = 256
    save_file(tiny_decoder_state(size), str(folder / "icm.safetensors"))
    icm = get_engine("icm", checkpoint=str(folder / "icm.safetensors"),
                     sd=str(build_tiny_sd(folder / "sd")), size=size, decoder_widths=TINY_WIDTHS,
                     device="cpu")
    small = synthetic.scene(0, (size, size))
    encoded = icm.encode_reference(small.image, (small.alpha > 0.5).astype(np.float32))
    target = synthetic.scene(1, (size, size)).image
    latencies, whole = _cancel_latencies(icm, encoded, target, 8)
    unet_pass = _unet_pass_seconds(icm, encoded, target)  # warm now, like the mattes above
    latency = max(latencies, default=float("nan"))
    result.update(icm_tiny=latency, icm_tiny_unet_pass_s=unet_pass,
                  icm_tiny_within_one_unet_pass=bool(latency <= unet_pass),
                  icm_tiny_matte_s=whole, icm_tiny_cancelled=len(latencies))
    return result


def _unet_pass_seconds(engine, reference, target) -> float:
    """The UNet call of a matte alone (fastest of five), timed by hooks from its entry to the
    end of up_blocks[2], the last block a target pass runs: no VAE, no decoder."""
    unet = engine.extractor.unet
    marks = []
    hooks = [unet.register_forward_pre_hook(lambda *_: marks.append(time.perf_counter())),
             unet.up_blocks[2].register_forward_hook(lambda *_: marks.append(time.perf_counter()))]
    try:
        passes = []
        for _ in range(5):
            marks.clear()
            engine.matte(target, reference)
            passes.append(marks[1] - marks[0])
    finally:
        for hook in hooks:
            hook.remove()
    return min(passes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fuzz-seconds", type=float, default=40.0, help="budget per fuzz family")
    parser.add_argument("--soak-targets", type=int, default=200)
    parser.add_argument("--soak-side", type=int, default=256)
    parser.add_argument("--fuzz-family", choices=FAMILIES, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.fuzz_family:  # a child of run_fuzzing
        args.json.write_text(json.dumps(fuzz_family(args.fuzz_family, args.fuzz_seconds)))
        return 0

    fuzz = run_fuzzing(args.fuzz_seconds)
    print(f"fuzzing: {json.dumps({k: v for k, v in fuzz.items() if k != 'families'})}", flush=True)
    faults = {"disk_full": disk_full(), "killed_series": killed_series()}
    print(f"faults: {json.dumps(faults)}", flush=True)
    soaked = soak(args.soak_targets, args.soak_side)
    print(f"soak: {json.dumps(soaked)}", flush=True)
    cancel = cancel_latency()
    print(f"cancel: {json.dumps(cancel)}", flush=True)
    figures = {
        **{k: fuzz[k] for k in ("inputs_tried", "crashes", "hangs", "foreign_exceptions")},
        "partial_files": sum(f["partial_files"] for f in faults.values()),
        "data_lost": sum(f["data_lost"] for f in faults.values())
        + soaked["alpha_mismatches"],
        "soak_rss_growth_pct": round(soaked["rss_growth_pct"], 2),
        "cancel_latency_s": {"lite": round(cancel["lite"], 3), "icm_tiny": round(cancel["icm_tiny"], 3),
                             "icm_tiny_unet_pass_s": round(cancel["icm_tiny_unet_pass_s"], 3),
                             "icm_tiny_within_one_unet_pass": cancel["icm_tiny_within_one_unet_pass"]},
    }
    details = {"fuzz_families": fuzz["families"], "faults": faults, "soak": soaked, "cancel": cancel}
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps({**figures, "details": details}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
