"""What the panel needs from a host (Krita, GIMP bridge, or plain files), and the files host.

The panel calls a host on the GUI thread only and hands the worker numpy arrays.  A host
whose calls are safe from any thread (``thread_safe = True``, like :class:`FileHost`) lets
the worker read targets and write results itself, so decoding or encoding a 24 MP file never
blocks the GUI.  Results are always NEW layers, masks, selections or files.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from icm_core import imageio
from icm_core.api import InvalidInput, OutputError
from icm_core.geometry import resize, scale_to_fit

EIGHT_BIT_MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")

#: Output modes a host may offer, with the words the panel shows.
OUTPUT_MODES = {
    "layer": "New layer with alpha",
    "mask": "Layer mask",
    "selection": "Selection",
    "files": "Files (alpha + cutout)",
}


@dataclass(frozen=True)
class Layer:
    id: str
    name: str
    size: tuple[int, int]  # (height, width)
    visible: bool = True
    #: made by this tool (a result): never a default target or reference, only when picked
    result: bool = False


@dataclass(frozen=True)
class Written:
    """What a host wrote for one result: a sentence for the artist, any file paths, and the
    ids of nodes an editor created (so a correction can replace exactly those)."""

    description: str
    paths: tuple[Path, ...] = ()
    nodes: tuple[str, ...] = ()


class Host(Protocol):
    name: str
    thread_safe: bool  # read_pixels / write_result may run on the worker thread

    def layers(self) -> list[Layer]: ...

    def selected_layer_ids(self) -> list[str]: ...

    def read_pixels(self, layer_id: str) -> np.ndarray:
        """float32 H×W×3 sRGB in [0, 1]."""

    def read_alpha(self, layer_id: str) -> np.ndarray | None:
        """The layer's own alpha (float32 H×W), or ``None`` if it is opaque."""

    def read_selection(self) -> np.ndarray | None:
        """The active selection as a float32 H×W mask of the document, or ``None``."""

    def revision(self, layer_id: str) -> Hashable:
        """Changes whenever the layer's pixels change (the reference cache key)."""

    def output_modes(self) -> list[str]:
        """Keys of :data:`OUTPUT_MODES` this host can write."""

    # Optional: ``thumbnail(layer_id, side) -> uint8 H×W×3`` for the list's source icons,
    # ``out_dir`` (a files host's output folder), and ``replace_result(written, layer_id,
    # alpha, foreground, mode) -> Written`` (an editor replacing the result it created).

    def existing_outputs(self, layer_ids: list[str], mode: str) -> list[Path]:
        """Outputs that a run would overwrite (files hosts); editors return ``[]``."""

    def write_result(
        self,
        layer_id: str,
        alpha: np.ndarray,
        foreground: np.ndarray | None,
        mode: str,
        overwrite: bool = False,
    ) -> Written: ...


class FileHost:
    """The standalone app's host: each image file is a layer; results are new files.

    Results go next to each input, or into ``out_dir``: ``<stem>_alpha.png`` and, when a
    foreground was computed, ``<stem>_cutout.png`` (the names ``icm-matting matte`` uses).
    Two open images that would share a result name get their folder and extension added.  Writes are atomic and never overwrite
    unless ``overwrite=True`` (the app asks first).
    """

    name = "files"
    thread_safe = True

    def __init__(self, paths=(), out_dir: str | os.PathLike | None = None):
        self._layers: dict[str, Layer] = {}
        self._selected: list[str] = []
        self.out_dir = Path(out_dir) if out_dir else None
        self.add(paths)

    # -- layers -----------------------------------------------------------------------------------
    def add(self, paths) -> list[str]:
        """Add image files, or every image in given folders; returns the new layer ids.  Every
        readable image is added; if any path is not, ``InvalidInput`` says what is wrong with
        each of them (one line each), the ids added on ``.added``."""
        added, problems = [], []
        for given in paths:
            try:
                for path in expand_paths([given]):
                    key = str(path)
                    if key not in self._layers:
                        height, width = _image_size(path)
                        self._layers[key] = Layer(key, path.name, (height, width))
                        added.append(key)
            except InvalidInput as error:
                problems.append(str(error))
        if problems:
            error = InvalidInput("\n".join(problems))
            error.added = added
            raise error
        return added

    def remove(self, layer_ids) -> None:
        for layer_id in layer_ids:
            self._layers.pop(layer_id, None)

    def layers(self) -> list[Layer]:
        return list(self._layers.values())

    def selected_layer_ids(self) -> list[str]:
        return [layer_id for layer_id in self._selected if layer_id in self._layers]

    def select(self, layer_ids) -> None:
        self._selected = list(layer_ids)

    # -- pixels -----------------------------------------------------------------------------------
    def read_pixels(self, layer_id: str) -> np.ndarray:
        return imageio.read_image(self._path(layer_id))

    def read_alpha(self, layer_id: str) -> np.ndarray | None:
        path = self._path(layer_id)
        channel = _alpha_channel(path)
        if channel is None:
            return None
        alpha = imageio.read_mask(path, channel=channel)
        return None if alpha.min() >= 1.0 else alpha

    def read_selection(self) -> np.ndarray | None:
        return None  # files have no selection

    def thumbnail(self, layer_id: str, side: int) -> np.ndarray:
        """uint8 H×W×3 pixels at most ``side`` px, decoded at a reduced size where the format
        allows (JPEG), so a folder of large photos lists quickly."""
        from PIL import Image, ImageOps, UnidentifiedImageError

        path = self._path(layer_id)
        try:
            with Image.open(path) as image:
                imageio.check_pixel_budget(image.size, path)  # a PNG has no reduced decode
                if image.mode not in EIGHT_BIT_MODES:  # 16-bit or float: our own decoder scales it
                    pixels = imageio.read_image(path)
                    small = resize(pixels, scale_to_fit(pixels.shape[:2], side))
                    return (np.clip(small, 0, 1) * 255 + 0.5).astype(np.uint8)
                image.draft("RGB", (side, side))
                small = ImageOps.exif_transpose(image).convert("RGB")
                small.thumbnail((side, side))
                return np.asarray(small)
        except (OSError, UnidentifiedImageError) as error:
            raise InvalidInput(f"{path.name} is not an image we can open ({error}).") from None

    def revision(self, layer_id: str):
        stat = self._path(layer_id).stat()
        return (layer_id, stat.st_mtime_ns, stat.st_size)

    # -- results -----------------------------------------------------------------------------------
    def output_modes(self) -> list[str]:
        return ["files"]

    def output_paths(self, layer_id: str) -> tuple[Path, Path]:
        source = self._path(layer_id)
        folder = self.out_dir or source.parent
        stem = source.stem
        clashes = [
            p
            for p in map(Path, self._layers)
            if p.stem == stem and (self.out_dir or p.parent) == folder
        ]
        if len(clashes) > 1:
            stem = f"{source.parent.name}_{stem}_{source.suffix.lstrip('.').lower()}"
        return folder / f"{stem}_alpha.png", folder / f"{stem}_cutout.png"

    def existing_outputs(self, layer_ids, mode: str = "files") -> list[Path]:
        return [
            path for layer_id in layer_ids for path in self.output_paths(layer_id) if path.exists()
        ]

    def write_result(self, layer_id, alpha, foreground, mode="files", overwrite=False) -> Written:
        if mode != "files":
            raise OutputError(
                f"The files host writes files only, not {OUTPUT_MODES.get(mode, mode)}."
            )
        alpha_path, cutout_path = self.output_paths(layer_id)
        if not overwrite:
            clashes = [
                p
                for p in (alpha_path, cutout_path if foreground is not None else None)
                if p and p.exists()
            ]
            if clashes:
                raise OutputError(
                    f"{clashes[0]} already exists; choose another output folder or allow overwriting."
                )
        written = [imageio.write_alpha(alpha_path, alpha, overwrite=overwrite)]
        if foreground is not None:
            written.append(
                imageio.write_cutout(cutout_path, foreground, alpha, overwrite=overwrite)
            )
        return Written(f"Wrote {', '.join(p.name for p in written)}", tuple(written))

    def _path(self, layer_id: str) -> Path:
        if layer_id not in self._layers:
            raise InvalidInput(f"{layer_id} is no longer open.")
        return Path(layer_id)


def expand_paths(paths) -> list[Path]:
    """Files as given; folders replaced by the images directly inside them (sorted)."""
    result = []
    for item in paths:
        path = Path(item).expanduser()
        if path.is_dir():
            result.extend(sorted(p for p in path.iterdir() if _is_input_image(p)))
        elif path.is_file():
            result.append(path)
        else:
            raise InvalidInput(f"{path} does not exist.")
    return result


def _is_input_image(path: Path) -> bool:
    """An image file that is not one of our own results."""
    name = path.name.lower()
    return (
        path.is_file()
        and path.suffix.lower() in IMAGE_SUFFIXES
        and not name.endswith(("_alpha.png", "_cutout.png"))
        and not name.startswith(".")
    )


def _image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the header only, EXIF rotation included; a clear error otherwise."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            imageio.check_pixel_budget(image.size, path)
            width, height = image.size
            if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                width, height = height, width
            return height, width
    except (OSError, UnidentifiedImageError) as error:
        raise InvalidInput(f"{path.name} is not an image we can open ({error}).") from None


def _alpha_channel(path: Path) -> int | None:
    """Index of the alpha channel in the decoded pixels, or ``None`` without alpha."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode == "LA":
            return 1
        if image.mode in ("RGBA", "PA") or "transparency" in image.info:
            return 3
    return None
