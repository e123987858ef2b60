"""Nothing gets in: pickled code never runs, paths stay inside their root, imports stay offline."""

from __future__ import annotations

import builtins
import io
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from icm_core.api import IcmError, InvalidInput, WeightsCorrupt
from icm_core.batch import output_paths, plan_targets
from icm_core.datasets import load_manifest
from icm_core.icm.checkpoint import decoder_state_dict, read_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[2]


class Payload:
    """Pickles as "call ``function(*args)``": whoever unpickles it naively runs the call."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _payloads(marker: Path):
    yield "builtins.open", Payload(builtins.open, str(marker), "w")
    yield "builtins.exec", Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()")
    yield "builtins.eval", Payload(builtins.eval, f"open({str(marker)!r}, 'w')")
    yield "os.system", Payload(os.system, f"touch {marker}")
    yield "subprocess.call", Payload(subprocess.call, ["touch", str(marker)])


@pytest.mark.parametrize("name", [name for name, _ in _payloads(Path("x"))])
def test_checkpoint_pickle_never_runs_code(tmp_path, name):
    marker = tmp_path / "pwned"
    payload = dict(_payloads(marker))[name]
    state = {"in_context_decoder.detail_decoder.w": torch.ones(2, 2)}
    path = tmp_path / "model.ckpt"
    torch.save({"state_dict": state, "callbacks": payload, "hyper_parameters": [payload]}, path)
    try:
        raw = read_checkpoint(path)
    except WeightsCorrupt as error:
        assert "refusing" in str(error) or "could not be read safely" in str(error)
    else:  # the code was replaced by an inert placeholder; the tensors are intact
        assert torch.equal(decoder_state_dict(raw)["detail_decoder.w"], torch.ones(2, 2))
    assert not marker.exists(), f"{name} in a checkpoint ran"


def test_bare_pickle_checkpoint_is_refused_unread(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps(Payload(builtins.open, str(marker), "w")))
    with pytest.raises(WeightsCorrupt, match="not a PyTorch checkpoint"):
        read_checkpoint(path)
    assert not marker.exists()


def test_importing_and_using_the_package_opens_no_socket(tmp_path):
    """With every socket refused (and counted), import everything and matte one picture."""
    script = textwrap.dedent("""
        import socket, sys
        attempts = []
        class NoNetwork(socket.socket):
            def __init__(self, family=-1, *args, **kwargs):
                if family in (-1, socket.AF_INET, socket.AF_INET6):
                    attempts.append(("socket", family))
                    raise OSError("network disabled by the test")
                super().__init__(family, *args, **kwargs)
        def refuse(name):
            def call(*args, **kwargs):
                attempts.append((name, args[:1]))
                raise OSError("network disabled by the test")
            return call
        socket.socket = NoNetwork
        for name in ("create_connection", "getaddrinfo", "gethostbyname", "socketpair"):
            setattr(socket, name, refuse(name))

        import icm_core, icm_core.api, icm_core.imageio, icm_core.engines, icm_core.batch
        import icm_core.weights, icm_core.datasets, icm_cli.cli, icm_core.synthetic
        import icm_plugin, icm_plugin.install, icm_plugin.manifest, ui.worker
        import numpy as np
        from icm_core.engines import get_engine
        scene = icm_core.synthetic.scene(0, (48, 48))
        engine = get_engine("lite", feature_side=128, matting_side=256)
        reference = engine.encode_reference(scene.image, (scene.alpha > 0.5).astype(np.float32))
        alpha = engine.matte(icm_core.synthetic.scene(1, (48, 48)).image, reference).alpha
        assert alpha.shape == (48, 48)
        print("ATTEMPTS", attempts)
    """)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HTTP", "HTTPS"))}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=240, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ATTEMPTS []" in result.stdout, result.stdout[-2000:]


NAMES = st.tuples(st.text(st.sampled_from("a.\\-_ ~$"), min_size=1, max_size=5),
                  st.sampled_from(["", ".png", ".jpg"])).map("".join)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.lists(NAMES, min_size=1, max_size=3), min_size=1, max_size=4), st.booleans())
def test_cli_outputs_stay_inside_the_out_folder(tmp_path_factory, parts, cutout):
    """Whatever the targets are called (dots, tildes, ``..`` segments), every output lands in --out."""
    out = tmp_path_factory.mktemp("out")
    targets = [Path(*segments) for segments in parts]
    try:
        plans = output_paths(targets, out, cutout)
    except IcmError:
        return
    for plan in plans:
        for path in plan.values():
            assert path.resolve().is_relative_to(out.resolve()), path
            assert path.parent.resolve() == out.resolve()


def test_batch_outputs_of_odd_file_names_stay_inside(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    names = ["..png", "...png", "~.png", "a b.png", "-x.png", ".hidden.png"]
    for name in names:
        (folder / name).write_bytes(b"")
    out = tmp_path / "out"
    targets = plan_targets(sorted(folder.iterdir()), out, cutout=True)
    assert len(targets) == len(names)
    for target in targets:
        for path in target.outputs.values():
            assert path.resolve().parent == out.resolve(), path


def test_dataset_symlink_leaving_the_root_is_refused(tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"not really an image")
    root = tmp_path / "dataset"
    root.mkdir()
    (root / "inside.png").write_bytes(b"x")
    (root / "link.png").symlink_to(outside)
    manifest = {"format": "icm-matting-dataset/1",
                "singles": [{"id": "a", "image": "link.png", "alpha": "inside.png"}]}
    (root / "manifest.json").write_text(__import__("json").dumps(manifest))
    with pytest.raises(InvalidInput, match="outside"):
        load_manifest(root)
    assert load_manifest(root, allow_outside=True).singles[0].image_path == outside.resolve()
