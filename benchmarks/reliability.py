"""Reliability figures: fuzzing for a fixed budget, the command line with hostile arguments,
full and read-only disks under every folder the tool writes, a killed series, decompression
bombs, a soak series, cancel latency.

    python benchmarks/reliability.py [--fuzz-seconds 20] [--cli-cases 40] [--soak-targets 200]
                                     [--json PATH] [--quick]

Prints {"inputs_tried", "crashes", "hangs", "foreign_exceptions", "partial_files",
"inputs_overwritten", "files_outside_allowed", "data_lost", "soak_rss_growth_pct",
"cancel_latency_s": {...}} plus details; every figure but the first should be 0.

Fuzzing: each family runs hypothesis in its own process (a crash is a dead process, a hang a
process past its budget or an input slower than HANG_SECONDS); the targets are those of
tests/reliability/harness.py.  The engine families warm their engine up before the clock
starts (``warmup_s``).  Each family lists its slowest inputs with wall and CPU seconds.

Command line: ``--cli-cases`` runs of ``python -m icm_cli`` with arguments drawn from a
grammar (bad paths, outputs that are inputs, --overwrite, odd numbers and JSON, float masks),
each in a fresh folder with an empty HOME: a traceback, a signal or a time-out counts, and so
does any changed input, any file outside the outputs asked for and the tool's own folders,
any file at all after exit status 2, and any temporary file left.

Faults: a real tmpfs (root only; otherwise skipped with the reason), filled up or mounted
read-only, under each folder the tool writes: matte and batch outputs, eval's JSON, the mask
memory, the feature cache, the weights cache, a training run.  The answer must be our own
error (one line on the command line), with advice that fits (no "free space" on a read-only
disk), no partial file and, for training, no run folder left behind.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HANG_SECONDS = 20.0
SLOWEST_KEPT = 8  # per family, with what the input was, to find what makes inputs slow
FAMILIES = ("bulk", "bytes", "damaged", "arrays", "engine", "dataset", "batch_manifest", "plugin_json",
            "checkpoint", "options", "seeds", "hints", "also", "manifest_edits", "mask_memory",
            "train_settings", "train_files", "decoder_weights", "feature_cache", "odd_files")
FAST_LITE = {"feature_side": 128, "matting_side": 256}
PARTIAL = (".part", ".partial", ".tmp")  # what an interrupted write of ours would leave


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
    engine = reference = target = None
    if family in ("engine", "hints", "also"):
        from icm_core.engines import get_engine

        engine = get_engine("lite", **FAST_LITE)
        counts["warmup_s"] = _warm_up(engine)
        rng = np.random.default_rng(0)
        mask = np.zeros((32, 32), np.float32)
        mask[8:24, 8:24] = 1.0
        reference = engine.encode_reference(rng.random((32, 32, 3), dtype=np.float32), mask)
        target = rng.random((32, 32, 3), dtype=np.float32)
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
        "options": (harness.option_texts(), lambda a: harness.option_target(*a)),
        "seeds": (st.integers(-2**80, 2**80) | st.floats() | st.booleans() | st.text(max_size=4),
                  harness.seed_target),
        "hints": (harness.hint_inputs(32),
                  lambda a: harness.hints_target(engine, reference, target, *a)),
        "also": (harness.extra_references(32), lambda a: harness.also_target(engine, a, target)),
        "manifest_edits": (harness.edited_batch_manifests(),
                           lambda a: harness.batch_resume_target(folder, a)),
        "mask_memory": (harness.mask_memory_operations(),
                        lambda a: harness.mask_memory_target(_fresh(folder), a)),
        "train_settings": (harness.training_settings(), harness.training_settings_target),
        "train_files": (harness.training_files(), lambda a: harness.training_file_target(folder, *a)),
        "decoder_weights": (harness.decoder_weights(), lambda a: harness.decoder_weights_target(*a)),
        "feature_cache": (harness.feature_cache_operations(),
                          lambda a: harness.feature_cache_target(_fresh(folder), a)),
        "odd_files": (harness.odd_files(),
                      lambda a: harness.read_file_target(folder, f"odd{a[0]}", a[1])),
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
        if time.monotonic() > deadline and counts["inputs_tried"]:  # at least one, however slow
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
    counts["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    shutil.rmtree(folder, ignore_errors=True)
    return counts


def bulk_family(seconds: float, seed: int = 0) -> dict:
    """The bulk of the inputs: a seeded generator (no hypothesis, so thousands a second) over
    the cheap boundaries: seeds, engine options as typed, training settings, pixel arrays of
    any dtype with NaN/Inf, correction hints, random and mutated image bytes."""
    import warnings

    from icm_core import imageio
    from icm_core.api import Hints, IcmError
    from icm_core.engines import engine_class
    from icm_core.validate import check_hints
    from tests.reliability import harness

    warnings.simplefilter("ignore")
    rng = random.Random(seed)
    numbers = [0, 1, -1, 2**31 - 1, 2**31, 2**63, -2**63, 10**30, 0.5, float("nan"),
               float("inf"), -float("inf"), True, None, "1", [], {}]
    texts = ["0", "1", "-1", "nan", "inf", "1e400", "2147483648", "true", "auto", "cpu", "cuda",
             "[]", "{}", "[[[[", '{"a": [1]}', '{"feature_out": 8}', "", "\x00", "9" * 400]
    options = [(engine, option.name) for engine in ("lite", "icm")
               for option in engine_class(engine).OPTIONS]
    train_keys = ["lr", "steps", "seed", "guidance", "loss_weights", "device", "cache_max_gb",
                  "decoder_widths", "size", "threads", "weight_decay", "bogus"]
    samples = [harness.encoded_image(np.random.default_rng(i).integers(0, 255, (6, 5, 3), np.uint8),
                                     suffix) for i, suffix in enumerate(harness.FORMATS)]
    dtypes = [np.uint8, np.uint16, np.float32, np.float64, np.int32, np.bool_, np.complex64]
    counts = {"inputs_tried": 0, "foreign_exceptions": 0, "hangs": 0, "examples": []}

    def one(kind: int) -> None:
        from icm_core.engines import option
        from icm_core.train import config
        from icm_core.validate import check_seed

        if kind == 0:
            harness.expect_ours(check_seed, rng.choice(numbers + [rng.randrange(-2**70, 2**70)]))
        elif kind == 1:
            engine, name = rng.choice(options)
            text = rng.choice(texts) + rng.choice(["", "0", "]", "}"])
            value = harness.expect_ours(option(engine, name).parse, engine, text)
            if engine == "lite" and not isinstance(value, IcmError):
                harness.expect_ours(engine_class("lite"), **{name: value})
        elif kind == 2:
            settings = {"out": "run", "train": ["m.json"]}
            for key in rng.sample(train_keys, rng.randint(1, 3)):
                settings[key] = rng.choice(numbers + texts + [{"exact": rng.choice(numbers)}])
            harness.training_settings_target(settings)
        elif kind == 3:
            shape = tuple(rng.randint(0, 5) for _ in range(rng.randint(0, 4)))
            array = np.random.default_rng(rng.randrange(2**32)).random(shape).astype(rng.choice(dtypes))
            if array.size and array.dtype.kind == "f":
                array.flat[0] = rng.choice([np.nan, np.inf, -2.0, 7.0, 0.5])
            harness.to_rgb_target(array)
        elif kind == 4:
            strokes = []
            for _ in range(2):
                stroke = np.random.default_rng(rng.randrange(2**32)).random(
                    rng.choice([(8, 8), (8, 9)])).astype(rng.choice([np.float32, np.float64]))
                if rng.random() < 0.3:
                    stroke.flat[0] = rng.choice([np.nan, np.inf, 2.0, -1.0])
                strokes.append(rng.choice([stroke, None]))
            harness.expect_ours(check_hints, Hints(*strokes), (8, 8, 3))
        else:
            data = bytearray(rng.choice(samples))
            for _ in range(rng.randint(0, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = data[: rng.randint(0, len(data))] if rng.random() < 0.3 else data
            harness.decode_target(rng.choice(["x.png", "x.tif", "x"]), bytes(data))

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(200):
            kind = rng.randrange(6)
            counts["inputs_tried"] += 1
            try:
                one(kind)
            except Exception as error:  # noqa: BLE001 - what we are counting
                counts["foreign_exceptions"] += 1
                if len(counts["examples"]) < 5:
                    counts["examples"].append(f"kind {kind}: {type(error).__name__}: "
                                              f"{str(error)[:200]}")
    counts["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return counts


def _fresh(folder: Path) -> Path:
    """An empty folder inside ``folder`` for one input (its name reused input after input)."""
    inner = folder / "fresh"
    shutil.rmtree(inner, ignore_errors=True)
    inner.mkdir()
    return inner


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


def run_fuzzing(seconds: float, families_run: tuple[str, ...] = FAMILIES) -> dict:
    def child(family: str) -> dict:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
            out = Path(handle.name)
        budget = 3 * seconds if family == "bulk" else seconds
        command = [sys.executable, __file__, "--fuzz-family", family, "--fuzz-seconds",
                   str(budget), "--json", str(out)]
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                                  timeout=budget + 180)
        except subprocess.TimeoutExpired:
            return {"inputs_tried": 0, "crashes": 0, "hangs": 1, "foreign_exceptions": 0}
        if done.returncode != 0 or not out.stat().st_size:
            return {"inputs_tried": 0, "crashes": 1, "hangs": 0, "foreign_exceptions": 0,
                    "examples": [done.stderr[-500:]]}
        result = json.loads(out.read_text())
        out.unlink()
        return dict(result, crashes=0)

    with ThreadPoolExecutor(2) as pool:  # two cores
        families = dict(zip(families_run, pool.map(child, families_run)))
    totals = {key: sum(f[key] for f in families.values())
              for key in ("inputs_tried", "crashes", "hangs", "foreign_exceptions")}
    return dict(totals, families=families)


# --- the command line, as a hostile or careless user types it ----------------------------------

def _workspace(root: Path) -> dict[str, Path]:
    """Inputs for the command-line cases: a small series, a float mask with values beyond 1,
    a text file, a dataset manifest, training settings; returns the named paths."""
    from icm_core import imageio, synthetic

    inputs = root / "in"
    (inputs / "ds").mkdir(parents=True)
    scene = synthetic.scene(0, (48, 64))
    imageio.write_image(inputs / "ref.png", scene.image)
    imageio.write_alpha(inputs / "mask.png", (scene.alpha > 0.5).astype(np.float32))
    for index in (1, 2):
        imageio.write_image(inputs / f"t{index}.png", synthetic.scene(index, (48, 64)).image)
    imageio.write_alpha(inputs / "t1_alpha.png", synthetic.scene(1, (48, 64)).alpha)
    import cv2

    cv2.imwrite(str(inputs / "mask-float.tif"), scene.alpha.astype(np.float32) * 255)
    (inputs / "notes.txt").write_text("the artist's notes")
    for index in (1, 2):
        shutil.copy(inputs / f"t{index}.png", inputs / "ds" / f"t{index}.png")
        imageio.write_alpha(inputs / "ds" / f"t{index}_alpha.png", synthetic.scene(index, (48, 64)).alpha)
    members = [{"id": f"t{i}", "image": f"t{i}.png", "alpha": f"t{i}_alpha.png"} for i in (1, 2)]
    (inputs / "ds" / "manifest.json").write_text(json.dumps({
        "format": "icm-matting-dataset/1",
        "groups": [{"name": "g", "reference": "t1", "members": members}]}))
    (inputs / "train.toml").write_text('train = ["ds/manifest.json"]\nlr = nan\nout = "../run"\n')
    (inputs / "train-bad.json").write_bytes(b'{"lr": 0.1, "out": "caf\xe9"}')
    return {"in": inputs, "ref": inputs / "ref.png", "mask": inputs / "mask.png",
            "t1": inputs / "t1.png", "t2": inputs / "t2.png", "t1_alpha": inputs / "t1_alpha.png",
            "float_mask": inputs / "mask-float.tif", "notes": inputs / "notes.txt",
            "manifest": inputs / "ds" / "manifest.json", "train": inputs / "train.toml",
            "train_bad": inputs / "train-bad.json"}


def cli_arguments(rng: random.Random, paths: dict[str, Path], out: Path) -> tuple[list[str], list[Path]]:
    """A command line drawn from a grammar, and the paths it names as outputs."""
    def pick(*choices):
        return rng.choice(choices)

    numbers = ["0", "1", "-1", "2", "100000", str(2**31), str(2**63), "nan", "1e400", "abc"]
    options = ["threads=1000000", "threads=1", "cache_mb=99999999999", "matting_side=256",
               "feature_side=128", "quality=fast", "device=cuda", "bogus=1",
               "decoder_widths=" + "[" * 5000, "size=100", "ensemble_size=1000"]
    command = pick("matte", "matte", "batch", "batch", "eval", "train", "weights")
    outputs = [out]
    if command in ("matte", "batch"):
        mask = pick(paths["mask"], paths["mask"], paths["float_mask"], paths["notes"],
                    paths["in"] / "missing.png")
        targets = rng.sample([paths["t1"], paths["t2"], paths["in"], paths["notes"],
                              paths["t1_alpha"]], rng.randint(1, 3))
        destination = pick(out, out, out / "sub", paths["in"], paths["t1"], paths["notes"])
        outputs.append(destination)
        argv = [command, "--reference", str(paths["ref"]), "--mask", str(mask),
                *map(str, targets), "--out", str(destination)]
        if rng.random() < 0.3:
            argv += ["--also", str(pick(paths["t2"], paths["notes"])), str(mask)]
        for _ in range(rng.randint(0, 3)):
            argv += pick(["--seed", pick(*numbers)], ["--engine-option", pick(*options)],
                         ["--cutout"], ["--bits", "16"], ["--overwrite"],
                         *([["--workers", pick(*numbers)], ["--retries", pick(*numbers)],
                            ["--resume"]] if command == "batch" else []))
        if "--engine-option" not in argv:
            argv += ["--engine-option", "feature_side=128", "--engine-option", "matting_side=256"]
        return argv, outputs
    if command == "eval":
        report = pick(out / "scores.json", paths["manifest"], paths["t1"], out / "sub" / "s.json")
        outputs += [report, out / "sheets"]
        return ["eval", str(paths["manifest"]), "--json", str(report), "--save-dir",
                str(out / "sheets"), "--engine-option", "feature_side=128", "--engine-option",
                "matting_side=256", *pick([], ["--seed", pick(*numbers)])], outputs
    if command == "train":
        outputs.append(paths["in"].parent / "run")
        return ["train", "--config", str(pick(paths["train"], paths["train_bad"])), "--out",
                str(out / "run"), *pick([], ["--lr", pick(*numbers)], ["--seed", pick(*numbers)],
                                        ["--device", "tpu"])], outputs
    return ["weights", pick("status", "locate", "verify"),
            *pick([], ["--checkpoint", str(pick(paths["notes"], paths["t1"]))])], outputs


def _snapshot(folder: Path) -> dict[str, str]:
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def cli_cases(count: int, seed: int = 0) -> dict:
    """``count`` command lines, each run as a real process in a fresh folder and empty HOME."""
    rng = random.Random(seed)
    counts = {"cases": 0, "crashes": 0, "hangs": 0, "foreign_exceptions": 0, "partial_files": 0,
              "inputs_overwritten": 0, "files_outside_allowed": 0, "written_after_refusal": 0,
              "examples": [], "exit_codes": {}}

    def case(number: int) -> dict:
        root = Path(tempfile.mkdtemp(prefix=f"cli-{number}-"))
        paths = _workspace(root)
        home = root / "home"
        home.mkdir()
        argv, outputs = cli_arguments(random.Random(rng.random()), paths, root / "out")
        inputs_before = _snapshot(paths["in"])
        before = _snapshot(root)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("XDG_", "ICM_MATTING_"))} | {"HOME": str(home),
                                                                  "PYTHONPATH": str(ROOT)}
        found = {"argv": argv}
        try:
            done = subprocess.run([sys.executable, "-m", "icm_cli", *argv], cwd=root, env=env,
                                  capture_output=True, text=True, timeout=120)
            found["code"], found["stderr"] = done.returncode, done.stderr
        except subprocess.TimeoutExpired:
            found["code"], found["stderr"] = "hang", ""
        after = _snapshot(root)
        allowed = [home / ".cache" / "icm-matting", home / ".local" / "share" / "icm-matting",
                   *outputs]
        new = [name for name, digest in after.items() if before.get(name) != digest]
        found["inputs_overwritten"] = sum(1 for name, digest in inputs_before.items()
                                          if _snapshot(paths["in"]).get(name) != digest)
        found["outside"] = [name for name in new
                            if not any((root / name).is_relative_to(a) for a in allowed)]
        found["partial"] = [name for name in after if name.endswith(PARTIAL)
                            or Path(name).name.startswith(".tmp")]
        found["new"] = new
        shutil.rmtree(root, ignore_errors=True)
        return found

    with ThreadPoolExecutor(2) as pool:
        for found in pool.map(case, range(count)):
            counts["cases"] += 1
            code = found["code"]
            counts["exit_codes"][str(code)] = counts["exit_codes"].get(str(code), 0) + 1
            problems = []
            if code == "hang":
                counts["hangs"] += 1
                problems.append("hang")
            elif code not in (0, 1, 2, 130):
                counts["crashes"] += 1
                problems.append(f"exit {code}")
            if "Traceback" in found["stderr"]:
                counts["foreign_exceptions"] += 1
                problems.append(found["stderr"].strip().splitlines()[-1][:200])
            elif code == 2:
                errors = [line for line in found["stderr"].splitlines() if "error" in line]
                if len(errors) != 1:
                    problems.append(f"{len(errors)} error lines")
                    counts["foreign_exceptions"] += 1
            counts["inputs_overwritten"] += found["inputs_overwritten"]
            counts["files_outside_allowed"] += len(found["outside"])
            counts["partial_files"] += len(found["partial"])
            if code == 2 and found["new"]:
                counts["written_after_refusal"] += 1
                problems.append(f"exit 2 but wrote {found['new'][:3]}")
            if found["inputs_overwritten"]:
                problems.append("input overwritten")
            if found["outside"]:
                problems.append(f"outside: {found['outside'][:3]}")
            if problems and len(counts["examples"]) < 8:
                counts["examples"].append(" ".join(found["argv"])[:300] + " → " + "; ".join(problems))
    return counts


# --- faults under every folder the tool writes: a real full or read-only disk ------------------

@contextmanager
def _faulty_folder(fault: str, prepare=None):
    """A tmpfs mounted for this purpose, full (a filler file took every byte) or read-only
    (``prepare(folder)`` fills it first); None where mounting is not allowed."""
    folder = Path(tempfile.mkdtemp(prefix=f"fault-{fault}-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    try:
        if not mounted:
            yield None
            return
        if prepare:
            prepare(folder)
        if fault == "full":
            try:
                with open(folder / "filler", "wb", buffering=0) as filler:
                    while True:
                        filler.write(b"\0" * 4096)
            except OSError:
                pass  # every byte taken
        else:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith(PARTIAL) or p.name.startswith(".tmp")
            or (p.name.startswith(".") and p.name.endswith(".part"))]


def folder_faults() -> dict:
    """Every folder the tool writes, full and read-only.  Command-line cases must end in one
    line (exit 1 or 2), API cases in our own error or in nothing at all (mask memory is best
    effort); the advice must fit the fault; no partial file; no run folder left by training."""
    from icm_core import imageio, synthetic
    from icm_core.api import IcmError

    work = Path(tempfile.mkdtemp(prefix="faults-"))
    paths = _workspace(work)
    results = {"cases": 0, "foreign_exceptions": 0, "partial_files": 0, "wrong_advice": 0,
               "run_folders_left": 0, "skipped": None, "examples": []}
    sd_folder = checkpoint = None

    def command(argv: list[str], home: Path) -> tuple[int, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ICM_MATTING_"))}
        env |= {"HOME": str(home), "PYTHONPATH": str(ROOT), "ICM_MATTING_HOME": str(home / "cache")}
        done = subprocess.run([sys.executable, "-m", "icm_cli", *argv], cwd=work, env=env,
                              capture_output=True, text=True, timeout=300)
        return done.returncode, done.stderr

    def judge(name: str, fault: str, outcome: str | None, folder: Path) -> None:
        results["cases"] += 1
        problems = []
        if outcome and "Traceback" in outcome:
            results["foreign_exceptions"] += 1
            lines = [line for line in outcome.splitlines() if "Error" in line] or [outcome]
            problems.append(lines[-1].strip()[:160])
        if outcome and fault == "read_only" and "space" in outcome.lower():
            results["wrong_advice"] += 1
            problems.append("advises freeing space on a read-only disk")
        left = _leftovers(folder)
        results["partial_files"] += len(left)
        if left:
            problems.append(f"left {left[:3]}")
        if problems:
            results["examples"].append(f"{name} ({fault}): " + "; ".join(problems))

    def cli(argv_of, name: str, fault: str, prepare=None, expect_codes=(1, 2)) -> None:
        with _faulty_folder(fault, prepare) as folder:
            if folder is None:
                results["skipped"] = "mounting a tmpfs needs root"
                return
            code, err = command(argv_of(folder), work / "home")
            errors = [line for line in err.splitlines() if "icm-matting: " in line]
            outcome = err if code not in expect_codes or not errors else "\n".join(errors)
            if code not in expect_codes and "Traceback" not in err:
                outcome = f"Traceback? exit {code}: {err[-200:]}"
            judge(name, fault, outcome, folder)
            if name == "train --out" and (folder / "run").exists():
                results["run_folders_left"] += 1
                results["examples"].append(f"train ({fault}): run folder left")

    def api(call, name: str, fault: str, prepare=None) -> None:
        with _faulty_folder(fault, prepare) as folder:
            if folder is None:
                results["skipped"] = "mounting a tmpfs needs root"
                return
            try:
                call(folder)
                outcome = None
            except IcmError as error:
                outcome = str(error)
            except Exception as error:  # noqa: BLE001 - what we are counting
                outcome = f"Traceback (foreign): {type(error).__name__}: {error}"
            judge(name, fault, outcome, folder)

    lite = ["--engine-option", "feature_side=128", "--engine-option", "matting_side=256"]
    series = ["--reference", str(paths["ref"]), "--mask", str(paths["mask"]), str(paths["t1"]),
              str(paths["t2"])]
    for fault in ("full", "read_only"):
        cli(lambda f: ["matte", *series, "--out", str(f / "out"), "--cutout", *lite],
            "matte --out", fault)
        cli(lambda f: ["batch", *series, "--out", str(f / "out"), *lite], "batch --out", fault)
        cli(lambda f: ["eval", str(paths["manifest"]), "--json", str(f / "scores.json"), *lite],
            "eval --json", fault)

        def memory(folder):
            from ui.mask_memory import MaskMemory

            keeper = MaskMemory(folder / "masks")
            keeper._write("picture", np.ones((20, 24), np.float32))
            assert keeper.recall("remembered", (20, 24)) is not None, "lost the remembered mask"

        def remember(folder):
            from ui.mask_memory import MaskMemory

            (folder / "masks").mkdir()
            MaskMemory(folder / "masks")._write("remembered", np.ones((20, 24), np.float32))

        api(memory, "mask memory", fault, prepare=remember)

        def cache(folder):
            import torch

            from icm_core.train.cache import FeatureCache

            store = FeatureCache(folder / "features", 10**9, torch.float16)
            assert store.get("ab" * 20) is not None, "lost a cached entry"
            store.put("cd" * 20, {"x": torch.rand(64, 64)})

        def cached(folder):
            import torch

            from icm_core.train.cache import FeatureCache

            FeatureCache(folder / "features", 10**9, torch.float16).put("ab" * 20, {"x": torch.ones(2)})

        api(cache, "feature cache", fault, prepare=cached)
        if checkpoint is None:
            import torch

            from tests.icm.tiny import build_tiny_sd, tiny_decoder_state

            checkpoint = work / "icm.ckpt"
            torch.save({"state_dict": tiny_decoder_state()}, checkpoint)
            sd_folder = build_tiny_sd(work / "sd")
        with _faulty_folder(fault) as folder:
            if folder is not None:
                code, err = command(["weights", "locate", "--checkpoint", str(checkpoint)], folder)
                judge("weights cache", fault, err if code != 2 or "Traceback" in err else
                      "\n".join(line for line in err.splitlines() if "icm-matting" in line), folder)
        settings = work / f"train-{fault}.json"

        def train_argv(folder: Path) -> list[str]:
            from tests.icm.tiny import TINY_SIZE, TINY_WIDTHS

            settings.write_text(json.dumps({
                "train": [str(paths["manifest"])], "sd": str(sd_folder), "size": TINY_SIZE,
                "decoder_widths": TINY_WIDTHS, "ensemble_size": 1, "steps": 2, "device": "cpu",
                "cache_dir": str(work / "features"), "cache_dtype": "float32", "progress": False,
                "threads": 1}))
            return ["train", "--config", str(settings), "--out", str(folder / "run")]

        cli(train_argv, "train --out", fault)
    shutil.rmtree(work, ignore_errors=True)
    return results


def bombs() -> dict:
    """Valid decompression bombs (harness.real_bomb), each read in a process of its own:
    seconds, peak memory, and what the reader answered."""
    script = ("import resource, sys, time\n"
              "from tests.reliability import harness\n"
              "from icm_core import imageio\n"
              "data = harness.real_bomb(sys.argv[1])\n"
              "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "started = time.perf_counter()\n"
              "try:\n"
              "    answer = 'decoded %s' % (imageio.decode_image(data, 'bomb.' + sys.argv[1]).shape,)\n"
              "except Exception as error:\n"
              "    answer = '%s: %s' % (type(error).__name__, str(error)[:120])\n"
              "print(len(data), time.perf_counter() - started,\n"
              "      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, answer, sep='|')\n")
    found = {}
    for kind in ("tiff", "png"):
        done = subprocess.run([sys.executable, "-c", script, kind], cwd=ROOT, capture_output=True,
                              text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            size, seconds, peak, answer = done.stdout.strip().splitlines()[-1].split("|", 3)
            found[kind] = {"file_bytes": int(size), "seconds": round(float(seconds), 2),
                           "peak_rss_mb": round(float(peak)), "answer": answer}
        except (ValueError, IndexError):
            found[kind] = {"crashed": done.returncode, "stderr": done.stderr[-300:]}
    return found


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
        return [sys.executable, "-m", "icm_cli", "batch", str(inputs), "--reference",
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
        engine.forget()  # engines keep the last target's features: a repeat would skip them
        started = time.perf_counter()
        engine.matte(target, reference)
        durations.append(time.perf_counter() - started)
    whole = min(durations)
    latencies = []
    for trial in range(trials):
        cancel = threading.Event()
        raised = {}
        engine.forget()

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
            engine.forget()  # else the kept features skip the UNet and no hook fires
            engine.matte(target, reference)
            passes.append(marks[1] - marks[0])
    finally:
        for hook in hooks:
            hook.remove()
    return min(passes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fuzz-seconds", type=float, default=20.0,
                        help="budget per fuzz family (the seeded bulk family gets three times it)")
    parser.add_argument("--cli-cases", type=int, default=40)
    parser.add_argument("--soak-targets", type=int, default=200)
    parser.add_argument("--soak-side", type=int, default=256)
    parser.add_argument("--quick", action="store_true",
                        help="a minute's smoke run of every part (for the test suite)")
    parser.add_argument("--fuzz-family", choices=FAMILIES, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.fuzz_family:  # a child of run_fuzzing
        result = (bulk_family(args.fuzz_seconds) if args.fuzz_family == "bulk"
                  else fuzz_family(args.fuzz_family, args.fuzz_seconds))
        args.json.write_text(json.dumps(result))
        return 0
    if args.quick:
        args.fuzz_seconds, args.cli_cases, args.soak_targets, args.soak_side = 1.0, 4, 24, 96

    started, cpu_started = time.monotonic(), _children_cpu()
    fuzz = run_fuzzing(args.fuzz_seconds)
    print(f"fuzzing: {json.dumps({k: v for k, v in fuzz.items() if k != 'families'})}", flush=True)
    cli = cli_cases(args.cli_cases)
    print(f"command line: {json.dumps(cli)}", flush=True)
    faults = {"disk_full": disk_full(), "folders": folder_faults(),
              "killed_series": killed_series(8 if args.quick else 24)}
    print(f"faults: {json.dumps(faults)}", flush=True)
    bombed = {} if args.quick else bombs()
    print(f"bombs: {json.dumps(bombed)}", flush=True)
    soaked = soak(args.soak_targets, args.soak_side)
    print(f"soak: {json.dumps(soaked)}", flush=True)
    cancel = {} if args.quick else cancel_latency()
    print(f"cancel: {json.dumps(cancel)}", flush=True)
    folders = faults["folders"]
    figures = {
        "inputs_tried": fuzz["inputs_tried"] + cli["cases"] + folders["cases"],
        "crashes": fuzz["crashes"] + cli["crashes"],
        "hangs": fuzz["hangs"] + cli["hangs"],
        "foreign_exceptions": fuzz["foreign_exceptions"] + cli["foreign_exceptions"]
        + folders["foreign_exceptions"],
        "partial_files": cli["partial_files"] + folders["partial_files"]
        + sum(f.get("partial_files", 0) for k, f in faults.items() if k != "folders"),
        "inputs_overwritten": cli["inputs_overwritten"],
        "files_outside_allowed": cli["files_outside_allowed"],
        "written_after_refusal": cli["written_after_refusal"],
        "wrong_fault_advice": folders["wrong_advice"],
        "run_folders_left": folders["run_folders_left"],
        "data_lost": sum(f.get("data_lost", 0) for k, f in faults.items() if k != "folders")
        + soaked["alpha_mismatches"],
        "soak_rss_growth_pct": round(soaked["rss_growth_pct"], 2),
        "wall_s": round(time.monotonic() - started),
        "cpu_s": round(_children_cpu() - cpu_started + time.process_time()),
    }
    if cancel:
        figures["cancel_latency_s"] = {
            "lite": round(cancel["lite"], 3), "icm_tiny": round(cancel["icm_tiny"], 3),
            "icm_tiny_unet_pass_s": round(cancel["icm_tiny_unet_pass_s"], 3),
            "icm_tiny_within_one_unet_pass": cancel["icm_tiny_within_one_unet_pass"]}
    details = {"fuzz_families": fuzz["families"], "command_line": cli, "faults": faults,
               "bombs": bombed, "soak": soaked, "cancel": cancel}
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps({**figures, "details": details}, indent=1))
    return 0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
