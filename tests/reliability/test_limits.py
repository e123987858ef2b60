"""Every number has an upper bound, checked before anything is written: engine options
(threads at most the CPU cores, cache_mb, ensemble_size, size), JSON options (depth,
decoder widths) and seeds (0…2**31-1, what every engine and library takes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from icm_core.api import InvalidInput
from icm_cli.cli import main
from icm_core.engines import get_engine
from icm_core.engines.base import cpu_cores
from icm_core.validate import SEED_MAX

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "icm_core" / "examples"


def _example(command: str, out: Path, *extra: str) -> int:
    return main([command, "--reference", str(EXAMPLES / "reference.jpg"), "--mask",
                 str(EXAMPLES / "reference-mask.png"), str(EXAMPLES / "target-1.jpg"),
                 "--out", str(out), *extra])


def _one_error(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("icm-matting: error: "), lines
    return lines[0]


@pytest.mark.parametrize("command", ["matte", "batch"])
@pytest.mark.parametrize("option, message", [
    (f"threads={cpu_cores() + 1}", f"threads takes a whole number 1…CPU cores, {cpu_cores()} here"),
    ("threads=1000000", "threads takes a whole number 1…CPU cores"),
    ("cache_mb=99999999999", "cache_mb takes a whole number 0…65536"),
])
def test_engine_options_have_upper_bounds(tmp_path, capsys, command, option, message):
    out = tmp_path / "out"
    assert _example(command, out, "--engine-option", option) == 2
    assert message in _one_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize("command", ["matte", "batch"])
@pytest.mark.parametrize("seed", [str(2**63), str(SEED_MAX + 1), "-1"])
def test_seeds_out_of_range_are_refused_before_anything_is_written(tmp_path, capsys, command, seed):
    out = tmp_path / "out"
    assert _example(command, out, "--seed", seed) == 2
    assert f"seed must be a whole number 0…{SEED_MAX}, not {seed}" in _one_error(capsys)
    assert not out.exists()  # no stray icm-batch.json


def test_engines_refuse_a_seed_no_library_takes():
    engine = get_engine("lite", feature_side=128, matting_side=256)
    image = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    mask = np.zeros((32, 32), np.float32)
    mask[8:24, 8:24] = 1
    reference = engine.encode_reference(image, mask)
    for seed in (2**63, -1, 1.5, True):
        with pytest.raises(InvalidInput, match="seed must be a whole number"):
            engine.matte(image, reference, seed=seed)
    engine.matte(image, reference, seed=SEED_MAX)  # the largest is accepted by OpenCV too


def test_deeply_nested_json_option_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "out"
    nested = "[" * 100_000 + "]" * 100_000  # json.loads alone raises RecursionError
    assert _example("matte", out, "--engine", "icm", "--engine-option",
                    f"decoder_widths={nested}") == 2
    assert "decoder_widths takes a JSON object, not '[[[[" in _one_error(capsys)
    assert not out.exists()


@pytest.mark.parametrize("widths, message", [
    ({"attention_out": 8, "bogus": 1}, "decoder widths are attention_out, .* not bogus"),
    ({"feature_out": 0}, "feature_out must be a whole number 1…4096"),
    ({"feature_out": 10**9}, "feature_out must be a whole number 1…4096"),
    ({"convstream_out": "wide"}, "convstream_out must be a list"),
    ({"fusion_out": [8, 8]}, r"fusion_out needs one more entry than convstream_out \(3 \+ 1\)"),
    (json.loads('{"a":' * 20 + "1" + "}" * 20), "takes a JSON object"),
])
def test_decoder_widths_are_checked_before_torch_loads(widths, message):
    with pytest.raises(InvalidInput, match=message):
        get_engine("icm", decoder_widths=widths)


@pytest.mark.parametrize("option", [{"ensemble_size": 1000}, {"size": 4096}, {"size": 100}])
def test_icm_numbers_are_bounded(option):
    with pytest.raises(InvalidInput, match="takes a whole number"):
        get_engine("icm", **option)


def test_constructing_an_engine_class_directly_checks_the_same_rules():
    from icm_core.lite.engine import LiteEngine

    with pytest.raises(InvalidInput, match="threads takes a whole number 1…CPU cores"):
        LiteEngine(threads=10**6)
    with pytest.raises(InvalidInput, match="quality takes one of fast, balanced, best"):
        LiteEngine(quality="ultra")
