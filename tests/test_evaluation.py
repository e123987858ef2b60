"""In-context evaluation: protocol, scoring, JSON/table/save-dir outputs, the eval command."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from icm_core import evaluation, metrics
from icm_cli import cli
from icm_core.api import InvalidInput, MatteResult, OutputError, Reference
from icm_cli.commands import eval as eval_command
from icm_core.datasets import load_manifest
from icm_core.engines.base import EngineBase, Option
from icm_core.validate import check_image, check_mask
from synthetic_data import write_disc_dataset, write_scene_dataset

SCORE_KEYS = {"mse", "sad", "grad", "conn", "seconds_per_target", "targets"}
TARGET_KEYS = {"group", "id", "mse", "sad", "grad", "conn", "seconds"}


class ColourEngine(EngineBase):
    """A small honest test engine (no ground truth): alpha from the distance of each pixel's colour
    to the reference's mean subject and mean background colours."""

    name = "colour"
    REQUIREMENTS = ()  # numpy only
    OPTIONS = (Option("sharpness", float, 3.0, "contrast of the alpha", low=0),
               Option("invert", bool, False, "swap subject and background"))

    def __init__(self, sharpness: float = 3.0, invert: bool = False):
        self.sharpness, self.invert = sharpness, invert
        self.masks: list[np.ndarray] = []
        self.targets: list[tuple[int, int]] = []

    def encode_reference(self, image, mask):
        check_image(image, "reference image")
        check_mask(mask, image.shape)
        self.masks.append(mask)
        inside = mask >= 0.5
        return Reference(self.name, (image[inside].mean(0), image[~inside].mean(0)), (image.shape[:2],))

    def combine(self, references):
        means = np.mean([ref.data for ref in references], axis=0)
        return Reference(self.name, tuple(means), tuple(s for r in references for s in r.image_sizes))

    def matte(self, target, reference, *, progress=None, cancel=None, seed=0, foreground=False):
        check_image(target, "target")
        self.targets.append(target.shape[:2])
        subject, background = reference.data
        to_subject = np.linalg.norm(target - subject, axis=2)
        to_background = np.linalg.norm(target - background, axis=2)
        alpha = to_background / (to_subject + to_background + 1e-6)
        alpha = np.clip((alpha - 0.5) * self.sharpness + 0.5, 0.0, 1.0)
        return MatteResult((1.0 - alpha if self.invert else alpha).astype(np.float32))


@pytest.fixture
def colour_engine_registered(monkeypatch):
    from icm_core import engines

    monkeypatch.setitem(engines._ENGINES, "colour", f"{__name__}:ColourEngine")


def run_eval_command(argv: list[str]) -> int:
    return cli.main(["eval", *argv])


def test_eval_is_registered_in_the_cli():
    assert cli._COMMANDS["eval"] == "icm_cli.commands.eval"


def test_protocol_reference_once_per_group_never_a_target(tmp_path):
    dataset = load_manifest(write_disc_dataset(tmp_path))
    engine = ColourEngine()
    report = evaluation.evaluate(dataset, engine)
    assert [(t.group, t.id) for t in report.targets] == [
        ("discs", "discs_01"), ("discs", "discs_02"), ("small_discs", "small_discs_01")
    ]
    assert len(engine.masks) == 2  # one encoding per group
    for mask, group in zip(engine.masks, dataset.groups):
        np.testing.assert_array_equal(mask, group.reference_mask())
    assert engine.targets == [(72, 56), (48, 96), (50, 70)]
    # the colour engine is good on these scenes, its inverse is bad: the scores point the right way
    assert report.summary()["mse"] < 0.02
    inverted = evaluation.evaluate(dataset, ColourEngine(invert=True))
    assert inverted.summary()["mse"] > 0.5
    # (Grad is blind to inversion: |∇(1 − α)| = |∇α|)
    assert all(inverted.summary()[k] > report.summary()[k] for k in ("mse", "sad", "conn"))


def test_scores_match_the_metrics_at_scoring_resolution():
    rng = np.random.default_rng(0)
    gt = np.zeros((1500, 2048), np.float32)
    cv2.circle(gt, (1000, 700), 500, 1.0, -1)
    prediction = np.clip(gt + rng.normal(0, 0.1, gt.shape), 0, 1).astype(np.float32)
    trimap = np.where(cv2.dilate(gt, np.ones((21, 21))) > cv2.erode(gt, np.ones((21, 21))), 0.5, gt)
    whole, unknown = evaluation.score(prediction, gt, trimap)
    small_gt = cv2.resize(gt, (1024, 750), interpolation=cv2.INTER_AREA)
    small_prediction = cv2.resize(prediction, (1024, 750), interpolation=cv2.INTER_AREA)
    assert whole == pytest.approx(metrics.compute_all(small_prediction, small_gt), rel=1e-9)
    region = cv2.resize(trimap, (1024, 750), interpolation=cv2.INTER_NEAREST) == 0.5
    assert unknown == pytest.approx(metrics.compute_all(small_prediction, small_gt, region), rel=1e-9)
    assert evaluation.score(prediction[:100, :100], gt[:100, :100])[1] is None
    with pytest.raises(InvalidInput, match="sizes differ"):
        evaluation.score(prediction[:10], gt)


def test_eval_command_json_table_and_save_dir(tmp_path, capsys, colour_engine_registered):
    manifest = write_disc_dataset(tmp_path / "set")
    out, save = tmp_path / "scores.json", tmp_path / "saved"
    code = run_eval_command(
        [str(manifest), "--engine", "colour", "--engine-option", "sharpness=4", "--json", str(out), "--save-dir", str(save)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "eval synthetic-discs" in captured.err  # tqdm progress bar on stderr

    report = json.loads(out.read_text())
    assert set(report) == {"format", "overall", "groups", "targets"}
    assert report["format"] == evaluation.SCORES_FORMAT
    assert set(report["overall"]) == SCORE_KEYS and report["overall"]["targets"] == 3
    assert set(report["groups"]) == {"discs", "small_discs"}
    assert all(set(g) == SCORE_KEYS for g in report["groups"].values())
    assert [set(t) for t in report["targets"]] == [TARGET_KEYS] * 3
    for key in ("mse", "sad", "grad", "conn"):
        values = [t[key] for t in report["targets"]]
        assert report["overall"][key] == pytest.approx(np.mean(values))
        assert report["groups"]["discs"][key] == pytest.approx(np.mean(values[:2]))
    assert report["overall"]["seconds_per_target"] == pytest.approx(np.mean([t["seconds"] for t in report["targets"]]))
    assert all(t["seconds"] > 0 for t in report["targets"])

    table = captured.out
    for name in ("discs", "small_discs", "overall"):
        line = next(line for line in table.splitlines() if line.split()[:1] == [name])
        summary = report["overall"] if name == "overall" else report["groups"][name]
        assert line.split()[1:4] == [str(summary["targets"]), f"{summary['mse']:.4f}", f"{summary['sad']:.2f}"]
    assert "engine.matte" in table and "reference encoding" in table  # says what the seconds measure

    # predictions at the targets' own sizes; one contact sheet per group, one row per target
    for group, member, size in (("discs", "discs_01", (56, 72)), ("discs", "discs_02", (96, 48)),
                                ("small_discs", "small_discs_01", (70, 50))):
        with Image.open(save / group / f"{member}.png") as saved:
            assert saved.size == size and saved.mode == "L"
    tile = evaluation.SHEET_TILE_HEIGHT
    with Image.open(save / "discs_sheet.png") as sheet:
        widest = 4 * round(96 * tile / 48) + 3 * 4
        assert sheet.size == (widest, 2 * tile + 4) and sheet.mode == "RGB"
    with Image.open(save / "small_discs_sheet.png") as sheet:
        assert sheet.size == (4 * round(70 * tile / 50) + 12, tile)

    # results are never overwritten: a second run into the same folder is refused up front
    code = run_eval_command([str(manifest), "--engine", "colour", "--save-dir", str(save)])
    assert code == 2 and "already exists" in capsys.readouterr().err


def test_prediction_in_the_saved_file_scores_like_the_report(tmp_path, capsys, colour_engine_registered):
    manifest = write_disc_dataset(tmp_path / "set")
    out, save = tmp_path / "scores.json", tmp_path / "saved"
    assert run_eval_command([str(manifest), "--engine", "colour", "--json", str(out), "--save-dir", str(save)]) == 0
    first = json.loads(out.read_text())["targets"][0]
    saved = np.asarray(Image.open(save / "discs" / "discs_01.png")) / 255.0
    gt = load_manifest(manifest).group("discs").targets[0].load_alpha()
    assert metrics.mse(saved, gt) == pytest.approx(first["mse"], rel=1e-2, abs=1e-5)


def test_limit_groups_engine_options_and_trimap_region(tmp_path, capsys, colour_engine_registered):
    manifest = write_disc_dataset(tmp_path / "set", trimaps=True)
    out = tmp_path / "scores.json"
    code = run_eval_command(
        [str(manifest), "--engine", "colour", "--limit-groups", "1", "--engine-option", "invert=true", "--json", str(out)]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert list(report["groups"]) == ["discs"] and report["overall"]["targets"] == 2
    assert report["overall"]["mse"] > 0.5  # invert=true reached the engine as a boolean
    unknown = report["overall"]["unknown"]
    assert unknown["targets"] == 2 and 0 < unknown["mse"] <= 1
    assert set(report["targets"][0]["unknown"]) == {"mse", "sad", "grad", "conn"}
    assert "trimap unknown region only" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--limit-groups", "0"], "--limit-groups must be at least 1"),
        (["--engine", "nope"], "Unknown engine"),
        (["--engine-option", "novalue"], "NAME=VALUE"),
        (["--engine-option", "threads=0"], "threads takes a whole number 1…CPU cores"),
    ],
)
def test_bad_arguments_exit_with_a_message(tmp_path, capsys, argv, message):
    manifest = write_disc_dataset(tmp_path)
    assert run_eval_command([str(manifest), *argv]) == 2
    assert message in capsys.readouterr().err


def test_engine_option_values_are_read_as_the_engine_declares(colour_engine_registered):
    parser = cli.build_parser()
    args = parser.parse_args(["eval", "m.json", "--engine", "colour", "--engine-option",
                              "sharpness=2", "--engine-option", "invert=YES"])
    assert eval_command.parse_options(args) == {"sharpness": 2.0, "invert": True}


def test_eval_runs_the_real_lite_engine(tmp_path, capsys):
    # reference 160×200, targets of other sizes and aspects (one odd, one portrait)
    manifest = write_scene_dataset(tmp_path / "set", [(160, 200), (150, 211), (220, 140)], seed=4)
    out, save = tmp_path / "scores.json", tmp_path / "saved"
    code = run_eval_command(
        [str(manifest), "--engine", "lite", "--engine-option", "feature_side=256",
         "--json", str(out), "--save-dir", str(save)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(out.read_text())
    assert set(report["overall"]) == SCORE_KEYS and report["overall"]["targets"] == 2
    assert [t["id"] for t in report["targets"]] == ["pebble_01", "pebble_02"]
    assert [set(t) for t in report["targets"]] == [TARGET_KEYS] * 2
    # a working in-context matte of the same kind of subject, far from a blank or inverted guess
    assert report["overall"]["mse"] < 0.05
    gt = load_manifest(manifest).groups[0].targets[1].load_alpha()
    assert report["overall"]["mse"] < 0.2 * metrics.mse(np.zeros_like(gt), gt)
    assert "pebbles" in captured.out and "overall" in captured.out
    for member, size in (("pebble_01", (211, 150)), ("pebble_02", (140, 220))):
        with Image.open(save / "pebbles" / f"{member}.png") as saved:
            assert saved.size == size
    assert (save / "pebbles_sheet.png").is_file()


@pytest.mark.slow
def test_eval_on_icm58_dev_first_group(data_dir, tmp_path, capsys):
    out, save = tmp_path / "scores.json", tmp_path / "saved"
    code = run_eval_command(
        [str(data_dir / "icm58-dev"), "--engine", "lite", "--limit-groups", "1", "--input-max-side", "640",
         "--json", str(out), "--save-dir", str(save)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    report = json.loads(out.read_text())
    assert list(report["groups"]) == ["basketball"]
    assert report["overall"]["targets"] == 4 and [t["id"] for t in report["targets"]] == [
        f"basketball_0{i}" for i in range(1, 5)
    ]
    for target in report["targets"]:
        assert 0.0 <= target["mse"] <= 1.0 and target["sad"] >= 0 and target["seconds"] > 0
    assert "basketball" in captured.out and "inputs shrunk to 640 px" in captured.out
    dataset = load_manifest(data_dir / "icm58-dev")
    for member in dataset.group("basketball").targets:
        with Image.open(save / "basketball" / f"{member.id}.png") as saved, Image.open(member.image_path) as image:
            assert max(saved.size) == 640
            assert saved.size[0] / saved.size[1] == pytest.approx(image.size[0] / image.size[1], rel=0.01)
    with Image.open(save / "basketball_sheet.png") as sheet:
        assert sheet.size[1] == 4 * evaluation.SHEET_TILE_HEIGHT + 3 * 4


def test_an_engine_breaking_the_alpha_contract_is_named(tmp_path):
    class Overshooting(ColourEngine):
        def matte(self, target, reference, **options):
            result = super().matte(target, reference, **options)
            result.alpha = result.alpha * 1.5
            return result

    with pytest.raises(InvalidInput, match="discs/discs_01: The prediction values must be finite and lie in"):
        evaluation.evaluate(load_manifest(write_disc_dataset(tmp_path)), Overshooting())


def test_reference_mask_styles_stand_in_for_quick_strokes():
    alpha = np.zeros((100, 200), np.float32)
    alpha[20:80, 40:160] = 1.0
    exact = evaluation.reference_mask(alpha, "exact")
    assert np.array_equal(exact, alpha)
    half = evaluation.reference_mask(alpha, "half")
    assert half[20:80, 40:100].all() and not half[:, 100:].any()
    rough = evaluation.reference_mask(alpha, "rough")
    assert rough[20:80, 40:160].all() and rough[15, 100] == 1 and rough[0, 0] == 0  # 6 px brush
    with pytest.raises(InvalidInput, match="mask style"):
        evaluation.reference_mask(alpha, "sloppy")


def test_leave_one_group_out_scores_each_group_with_a_choice_made_without_it():
    # "b" wins overall only through group z; left out, z gets "a"'s worse figure
    scores = {"a": {"x": 0.10, "y": 0.10, "z": 0.50}, "b": {"x": 0.12, "y": 0.12, "z": 0.10}}
    result = evaluation.leave_one_group_out(scores)
    assert result.in_sample_choice == "b"
    assert result.chosen == {"x": "b", "y": "b", "z": "a"}
    assert result.left_out == {"x": 0.12, "y": 0.12, "z": 0.50}
    assert result.left_out_mean == pytest.approx(0.74 / 3)
    assert result.in_sample_mean == pytest.approx(0.34 / 3)
    assert "left-out / in-sample 2.18" in result.table()
    with pytest.raises(InvalidInput, match="two groups"):
        evaluation.leave_one_group_out({"a": {"x": 0.1}})


def test_json_never_replaces_the_manifest_an_input_or_another_file(tmp_path, capsys, colour_engine_registered):
    manifest = write_disc_dataset(tmp_path / "set")
    image = next((tmp_path / "set").rglob("*.png"))
    other = tmp_path / "notes.json"
    other.write_text('{"mine": 1}')
    for path, message in ((manifest, "would replace the dataset manifest"),
                          (image, "would replace the "),
                          (other, "is not the scores of an earlier eval"),
                          (tmp_path, "is a folder")):
        before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
        assert run_eval_command([str(manifest), "--engine", "colour", "--json", str(path)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
        assert "eval synthetic" not in lines[0]  # refused before the evaluation began
        assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_json_replaces_the_scores_of_an_earlier_eval(tmp_path, capsys, colour_engine_registered):
    manifest = write_disc_dataset(tmp_path / "set")
    out = tmp_path / "scores.json"
    assert run_eval_command([str(manifest), "--engine", "colour", "--json", str(out)]) == 0
    assert run_eval_command([str(manifest), "--engine", "colour", "--engine-option", "invert=true",
                             "--json", str(out)]) == 0
    assert json.loads(out.read_text())["overall"]["mse"] > 0.5  # the second run's scores
