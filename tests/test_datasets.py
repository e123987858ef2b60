"""Dataset manifests: parsing, the in-context protocol, and clear refusals of bad manifests."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from icm_core.api import InvalidInput
from icm_core.datasets import load_manifest
from synthetic_data import write_disc_dataset


@pytest.fixture
def manifest_path(tmp_path):
    return write_disc_dataset(tmp_path / "set", trimaps=True)


def _rewrite(path, change):
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
    return path


def test_groups_members_and_protocol(manifest_path):
    dataset = load_manifest(manifest_path)
    assert dataset.name == "synthetic-discs"
    assert [g.name for g in dataset.groups] == ["discs", "small_discs"]
    discs = dataset.group("discs")
    assert discs.reference.id == "discs_00"
    assert [m.id for m in discs.targets] == ["discs_01", "discs_02"]
    assert discs.reference not in discs.targets
    assert [m.id for m in dataset.singles] == ["discs_00"]

    member = discs.targets[0]
    image, alpha, trimap = member.load_image(), member.load_alpha(), member.load_trimap()
    assert image.shape == (72, 56, 3) and image.dtype == np.float32
    assert alpha.shape == trimap.shape == (72, 56) and alpha.dtype == np.float32
    assert set(np.unique(trimap * 255).round().astype(int)) == {0, 128, 255}

    mask = discs.reference_mask()
    reference_alpha = discs.reference.load_alpha()
    assert mask.dtype == np.float32 and set(np.unique(mask)) == {0.0, 1.0}
    np.testing.assert_array_equal(mask, (reference_alpha >= 0.5).astype(np.float32))


def test_folder_path_finds_manifest_json(manifest_path):
    assert load_manifest(manifest_path.parent).root == manifest_path.parent.resolve()


def test_alpha_floor_and_channel(tmp_path):
    path = write_disc_dataset(tmp_path)
    member = load_manifest(path).groups[0].members[0]
    # grey stored as RGB whose channels differ: only the manifest's channel counts
    alpha = np.zeros((64, 80, 3), np.uint8)
    alpha[..., 0] = np.arange(80, dtype=np.uint8)[None, :]
    alpha[..., 1] = 200
    Image.fromarray(alpha).save(member.alpha_path)
    for floor in (0, 6):
        _rewrite(path, lambda m: m.update(alpha_floor=floor, alpha_channel=0))
        loaded = load_manifest(path).groups[0].members[0].load_alpha()
        expected = np.arange(80) / 255.0
        expected[: floor + 1] = 0.0
        np.testing.assert_allclose(loaded[0], expected, atol=1e-6)
    _rewrite(path, lambda m: m.update(alpha_channel=1))
    assert np.allclose(load_manifest(path).groups[0].members[0].load_alpha(), 200 / 255)


def test_exif_transpose_flag(tmp_path):
    path = write_disc_dataset(tmp_path)
    member = load_manifest(path).groups[0].members[0]
    image = Image.open(member.image_path).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    image.save(member.image_path, format="JPEG", exif=exif, quality=95)  # .png name, JPEG content
    rotated = load_manifest(path).groups[0].members[0].load_image()
    assert rotated.shape == (80, 64, 3)
    _rewrite(path, lambda m: m.update(exif_transpose=False))
    assert load_manifest(path).groups[0].members[0].load_image().shape == (64, 80, 3)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.update(format="icm-matting-dataset/2"), "expected format"),
        (lambda m: m.pop("format"), "expected format"),
        (lambda m: m["groups"][0].update(reference="nobody"), "not one of its members"),
        (lambda m: m["groups"][1].update(members=m["groups"][1]["members"][:1]), "at least one target"),
        (lambda m: m["groups"][1].update(name="discs"), "unique"),
        (lambda m: m["groups"][0]["members"][1].pop("alpha"), "'alpha' path"),
        (lambda m: m["groups"][0]["members"][1].update(id="discs_00"), "repeats a member id"),
        (lambda m: m["groups"][0].update(name="../escape"), "usable as a file name"),
        (lambda m: m["groups"][0]["members"][1].update(id=".."), "usable as a file name"),
        (lambda m: m["groups"][0]["members"][1].update(id=7), "usable as a file name"),
        (lambda m: m["groups"][0]["members"].append("x"), "must be an object"),
        (lambda m: m.update(alpha_floor=True), "alpha_floor"),
        (lambda m: m.update(alpha_floor=300), "alpha_floor"),
        (lambda m: m.update(groups={}), "must be a list"),
        (lambda m: m.update(groups=[], singles=[]), "no groups and no singles"),
        (lambda m: m["groups"][0]["members"][1].update(image="image/gone.png"), "missing files: image/gone.png"),
        (lambda m: m["groups"][0]["members"][1].update(image="../outside.png"), "outside the manifest's folder"),
        (lambda m: m["groups"][0]["members"][1].update(image="/etc/hostname"), "outside the manifest's folder"),
        (lambda m: m["groups"][0]["members"][1].update(alpha="a.png\0x"), "NUL character"),
    ],
)
def test_bad_manifests_are_refused_with_the_reason(manifest_path, change, message):
    _rewrite(manifest_path, change)
    with pytest.raises(InvalidInput, match=message) as raised:
        load_manifest(manifest_path)
    assert str(manifest_path) in str(raised.value)


def test_not_json_and_missing_manifest(tmp_path):
    with pytest.raises(InvalidInput, match="No dataset manifest"):
        load_manifest(tmp_path / "nothing.json")
    (tmp_path / "broken.json").write_text("{ not json")
    with pytest.raises(InvalidInput, match="cannot be read as JSON"):
        load_manifest(tmp_path / "broken.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(InvalidInput, match="not a dataset manifest"):
        load_manifest(tmp_path / "list.json")


def test_outside_paths_need_the_explicit_flag(tmp_path):
    path = write_disc_dataset(tmp_path / "set")
    shutil.copy(tmp_path / "set" / "image" / "discs_01.png", tmp_path / "elsewhere.png")
    _rewrite(path, lambda m: m["groups"][0]["members"][1].update(image="../elsewhere.png"))
    with pytest.raises(InvalidInput, match="outside"):
        load_manifest(path)
    member = load_manifest(path, allow_outside=True).groups[0].members[1]
    assert member.image_path == (tmp_path / "elsewhere.png").resolve()
    assert member.load_image().shape == (72, 56, 3)


def test_symlink_escaping_the_folder_is_refused(tmp_path):
    path = write_disc_dataset(tmp_path / "set")
    (tmp_path / "secret.png").write_bytes((tmp_path / "set" / "image" / "discs_01.png").read_bytes())
    (tmp_path / "set" / "image" / "link.png").symlink_to(tmp_path / "secret.png")
    _rewrite(path, lambda m: m["groups"][0]["members"][1].update(image="image/link.png"))
    with pytest.raises(InvalidInput, match="outside"):
        load_manifest(path)


def test_shared_manifests_load(data_dir):
    for name, groups in (("icm58-dev", 8), ("alphamatting", 4)):
        dataset = load_manifest(data_dir / name / "manifest.json")
        assert len(dataset.groups) == groups
        for group in dataset.groups:
            assert group.reference in group.members and len(group.targets) == len(group.members) - 1
    assert load_manifest(data_dir / "icm58-dev").singles == ()
    assert len(load_manifest(data_dir / "alphamatting").singles) == 27
