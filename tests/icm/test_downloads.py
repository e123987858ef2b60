"""Downloads of Stable Diffusion are checked against the hub's published sizes and hashes before
use.  The hub is played by monkeypatched huggingface_hub functions serving a tiny local SD folder
(no network here: sockets are disabled in every test of this file)."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from icm_core import weights
from icm_core.api import WeightsCorrupt, WeightsMissing

REPO = "someone/sd-mirror"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
UNET = "unet/diffusion_pytorch_model.safetensors"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's object id


class FakeHub:
    """Publishes metadata for the files of ``folder`` (safetensors as LFS, the rest as git
    blobs, plus a file outside our patterns) and serves ``served`` bytes for each file."""

    def __init__(self, folder: Path, monkeypatch):
        import huggingface_hub

        self.published = {p.relative_to(folder).as_posix(): p.read_bytes()
                          for p in folder.rglob("*") if p.is_file()}
        self.published["v2-1_768-ema-pruned.ckpt"] = b"not one of ours"
        self.served = dict(self.published)
        self.sizes: dict[str, int] = {}  # published size overrides
        self.revisions_asked = []
        monkeypatch.setattr(huggingface_hub.HfApi, "model_info", self.model_info)
        monkeypatch.setattr(huggingface_hub, "snapshot_download", self.snapshot_download)

    def model_info(self, repo_id, *, revision=None, files_metadata=False, **_):
        from huggingface_hub.hf_api import BlobLfsInfo, RepoSibling

        assert repo_id == REPO and files_metadata
        siblings = []
        for name, data in self.published.items():
            size = self.sizes.get(name, len(data))
            if name.endswith((".safetensors", ".ckpt")):
                lfs = BlobLfsInfo(size=size, sha256=hashlib.sha256(data).hexdigest(),
                                  pointer_size=134)
                siblings.append(RepoSibling(name, size, "f" * 40, lfs))
            else:
                siblings.append(RepoSibling(name, size, _git_blob_id(data)))
        return SimpleNamespace(sha=COMMIT, siblings=siblings)

    def snapshot_download(self, repo_id, *, revision=None, local_dir=None, allow_patterns=None,
                          **_):
        from huggingface_hub.utils import filter_repo_objects

        self.revisions_asked.append(revision)
        for name in filter_repo_objects(self.served, allow_patterns=allow_patterns):
            path = Path(local_dir) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.served[name])
        return str(local_dir)


def _tree(root: Path, skip: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and skip not in p.parents}


def test_a_good_download_is_verified_recorded_and_used(tiny_sd, monkeypatch, isolated_cache):
    import huggingface_hub

    hub = FakeHub(tiny_sd, monkeypatch)
    folder = weights.download_sd(REPO)
    assert hub.revisions_asked == [COMMIT]  # files fetched at the commit whose hashes we check
    record = weights.download_record(folder)
    assert record["repo_id"] == REPO and record["revision"] == COMMIT
    assert set(record["files"]) == set(hub.published) - {"v2-1_768-ema-pruned.ckpt"}
    assert record["files"][UNET] == {"size": len(hub.published[UNET]),
                                     "sha256": hashlib.sha256(hub.published[UNET]).hexdigest()}
    monkeypatch.setattr(huggingface_hub, "snapshot_download",
                        lambda *a, **k: pytest.fail("downloaded again"))
    assert weights.sd_source(REPO) == folder  # verified: no second download
    assert weights.check_sd(folder) == []


def test_weights_download_command_reports_the_verified_revision(tiny_sd, monkeypatch,
                                                                isolated_cache, capsys):
    from .test_weights import _cli

    FakeHub(tiny_sd, monkeypatch)
    assert _cli("download", "--sd", REPO) == 0
    assert f"revision {COMMIT}: every file matches" in capsys.readouterr().out
    assert weights.remembered()["sd"] == str(weights._download_folder(REPO))


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "wrong size", "config edited"])
def test_a_damaged_download_is_deleted_and_refused(tiny_sd, monkeypatch, isolated_cache, tmp_path,
                                                   damage):
    hub = FakeHub(tiny_sd, monkeypatch)
    bad = "unet/config.json" if damage == "config edited" else UNET
    data = hub.published[bad]
    if damage == "truncated":
        hub.served[bad] = data[: len(data) // 2]
    elif damage == "flipped byte":
        hub.served[bad] = data[:100] + bytes([data[100] ^ 0x01]) + data[101:]
    elif damage == "wrong size":
        hub.sizes[bad] = len(data) + 1
    else:
        hub.served[bad] = data.replace(b"8", b"9", 1)
    weights.remember(checkpoint="/somewhere/icm.ckpt")  # something of the user's in the cache
    (tmp_path / "artwork.png").write_bytes(b"an artist's file")
    folder = weights._download_folder(REPO)
    before = _tree(tmp_path, folder)

    with pytest.raises(WeightsCorrupt, match=f"{bad}.*deleted.*weights download` again"):
        weights.download_sd(REPO)
    assert not (folder / bad).exists()  # the bad file is gone...
    assert (folder / "vae" / "diffusion_pytorch_model.safetensors").is_file()  # ...the rest kept
    assert weights.download_record(folder) is None
    assert _tree(tmp_path, folder) == before  # nothing outside the download folder touched
    with pytest.raises(WeightsMissing, match="nor a hub repo downloaded and verified"):
        weights.sd_source(REPO)

    hub.served[bad], hub.sizes = data, {}  # the next attempt gets good bytes: repaired
    assert weights.download_sd(REPO) == folder
    assert weights.sd_source(REPO) == folder and weights.download_record(folder)


def test_later_runs_recheck_sizes_and_verify_rehashes(tiny_sd, monkeypatch, isolated_cache,
                                                      capsys):
    from .test_weights import _cli

    FakeHub(tiny_sd, monkeypatch)
    folder = weights.download_sd(REPO)
    weights.remember(sd=str(folder))  # as `weights download` does
    unet = folder / UNET
    data = unet.read_bytes()

    unet.write_bytes(data[:100] + bytes([data[100] ^ 0x01]) + data[101:])  # same size
    assert weights.sd_source() == folder  # the cheap check sees sizes only...
    with pytest.raises(WeightsCorrupt):
        _cli("verify")  # ...verify re-hashes every file
    out = capsys.readouterr().out
    assert f"{UNET}  CHANGED since the verified download" in out
    assert "vae/diffusion_pytorch_model.safetensors  as downloaded" in out
    assert f"at {COMMIT}, verified against the hub's published sha256" in out

    unet.write_bytes(data[:-10])  # shorter: refused before anything reads it
    with pytest.raises(WeightsCorrupt, match=f"{UNET} is {len(data) - 10} bytes"):
        weights.sd_source()
    assert _cli("status") == 1  # not ready
    assert "weights download` to repair it" in capsys.readouterr().out


def test_a_listed_name_outside_the_folder_is_refused_and_never_deleted(tiny_sd, monkeypatch,
                                                                       isolated_cache):
    hub = FakeHub(tiny_sd, monkeypatch)
    escape = "tokenizer/../../outside.txt"  # matched by our "tokenizer/*" pattern
    hub.published[escape] = b"published, never served"
    outside = weights._download_folder(REPO).parent / "outside.txt"
    outside.parent.mkdir(parents=True)
    outside.write_bytes(b"not the download's")
    with pytest.raises(WeightsCorrupt, match="outside its folder"):
        weights.download_sd(REPO)
    assert outside.read_bytes() == b"not the download's"
