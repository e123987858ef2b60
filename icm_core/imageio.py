"""Image files and pixel arrays in, float32 arrays out; alphas and cutouts written atomically.

Files are decoded by content, not extension (some ``.jpg`` files are PNG).  Any depth (8/16
bit, float), grey, grey+alpha, RGB(A), palette and CMYK become ``float32`` ``H×W×3`` sRGB in
[0, 1], with EXIF orientation applied.  Writers never leave a partial file: they write a
temporary file beside the target and rename it into place.
"""

from __future__ import annotations

import io
import os
import secrets
import stat
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, TiffImagePlugin, UnidentifiedImageError

from .api import IcmError, InvalidInput, OutOfMemory, OutputError, UnreadableFile
from .validate import MAX_PIXELS

#: The image formats read (recognised by content; folders and globs pick these extensions).
FORMATS = {"PNG": (".png",), "JPEG": (".jpg", ".jpeg"), "TIFF": (".tif", ".tiff"),
           "WebP": (".webp",), "BMP": (".bmp",)}
FORMAT_NAMES = ", ".join(FORMATS)
IMAGE_SUFFIXES = frozenset(suffix for suffixes in FORMATS.values() for suffix in suffixes)

# Every file is refused from its header when it has more pixels than the engines take
# (validate.MAX_PIXELS), before any decoder allocates them; Pillow's own refusal stays above that.
Image.MAX_IMAGE_PIXELS = 2 * MAX_PIXELS


def read_image(path: str | os.PathLike, exif_transpose: bool = True) -> np.ndarray:
    """Read an image file as ``float32`` ``H×W×3`` sRGB in [0, 1] (alpha, if any, dropped)."""
    return to_rgb_float(_decode(path, exif_transpose), what=f"image {Path(path).name}")


def read_mask(path: str | os.PathLike, channel: int | None = None, exif_transpose: bool = True) -> np.ndarray:
    """Read a mask or alpha file as ``float32`` ``H×W`` in [0, 1].

    A file with a non-opaque alpha channel gives that channel; otherwise ``channel`` if given,
    else the grey value of the picture.  A float file's values must lie in [0, 1]: NaN, infinite
    and out-of-range values are refused (:class:`InvalidInput`), not clipped — a mask stored
    as 0…255 floats would otherwise silently become all subject.
    """
    pixels = _decode(path, exif_transpose)
    scale = _full_scale(pixels, f"mask {Path(path).name}")
    floating = np.issubdtype(pixels.dtype, np.floating)
    pixels = pixels.astype(np.float32) / scale
    if pixels.ndim == 2:
        mask = pixels
    elif channel is not None:
        mask = pixels[..., channel]
    elif pixels.shape[2] in (2, 4) and pixels[..., -1].min() < 1.0:
        mask = pixels[..., -1]
    else:
        mask = pixels[..., :3].mean(axis=2) if pixels.shape[2] >= 3 else pixels[..., 0]
    if floating:
        from .validate import check_values

        check_values(mask, f"mask {Path(path).name}")
    return np.ascontiguousarray(np.clip(mask, 0.0, 1.0), dtype=np.float32)


def to_rgb_float(pixels: np.ndarray, what: str = "image") -> np.ndarray:
    """Convert an RGB-ordered pixel array of any common depth/layout to float32 H×W×3 in [0, 1]."""
    if not isinstance(pixels, np.ndarray) or pixels.ndim not in (2, 3) or pixels.size == 0:
        shape = getattr(pixels, "shape", None)
        raise InvalidInput(f"The {what} is not a picture (array shape {shape}).")
    scale = _full_scale(pixels, what)
    if pixels.ndim == 3 and pixels.shape[2] not in (1, 2, 3, 4):
        raise InvalidInput(
            f"The {what} has {pixels.shape[2]} channels; expected grey, RGB or RGBA.")
    # Channels are picked before converting: less to convert, and the result is contiguous.
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    pixels = pixels[..., :1] if pixels.shape[2] in (1, 2) else pixels[..., :3]
    with np.errstate(over="ignore", invalid="ignore"):  # huge float64 values become inf: refused below
        rgb = pixels.astype(np.float32, order="C")
        np.divide(rgb, np.float32(scale), out=rgb)
    if not np.issubdtype(pixels.dtype, np.integer) and pixels.dtype != np.bool_:
        if not np.isfinite(rgb).all():
            raise InvalidInput(f"The {what} contains NaN or infinite values.")
        if rgb.min() < 0.0 or rgb.max() > 1.0:  # (integers always lie within [0, 1] once scaled)
            warnings.warn(f"The {what} has float values outside [0, 1]; they were clipped.", stacklevel=2)
            np.clip(rgb, 0.0, 1.0, out=rgb)
    if rgb.shape[2] == 1:
        rgb = np.repeat(rgb, 3, axis=2)
    return rgb


def _full_scale(pixels: np.ndarray, what: str) -> float:
    if pixels.dtype == np.uint8:
        return 255.0
    if pixels.dtype == np.uint16:
        return 65535.0
    if np.issubdtype(pixels.dtype, np.floating):
        return 1.0
    if pixels.dtype == np.bool_:
        return 1.0
    raise InvalidInput(f"The {what} has pixel type {pixels.dtype}; use 8-bit, 16-bit or float pixels.")


def read_bytes(path: str | os.PathLike) -> bytes:
    """The raw bytes of an image file, with the errors an artist can act on."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFile(f"{path} does not exist.") from None
    except IsADirectoryError:
        raise UnreadableFile(f"{path} is a folder, not an image file.") from None
    except OSError as error:
        raise UnreadableFile(f"{path} cannot be read: {error.strerror or error}.") from None


def decode_image(data: bytes, name: str) -> np.ndarray:
    """Like :func:`read_image` for the bytes of a file called ``name`` (read elsewhere, e.g. by
    the machine that dispatches a batch)."""
    return to_rgb_float(_decode_bytes(data, Path(name)), what=f"image {Path(name).name}")


def _decode(path: str | os.PathLike, exif_transpose: bool = True) -> np.ndarray:
    """Decode a file into an RGB(A)-ordered array at its own depth, EXIF orientation applied
    unless ``exif_transpose`` is false."""
    return _decode_bytes(read_bytes(path), Path(path), exif_transpose)


def _decode_bytes(data: bytes, path: Path, exif_transpose: bool = True) -> np.ndarray:
    if not data:
        raise UnreadableFile(f"{path} is empty (0 bytes).")
    try:
        return _decode_within_budget(data, path, exif_transpose)
    except IcmError:
        raise
    except MemoryError:
        raise OutOfMemory(f"{path} does not fit in the memory left to decode it; close other "
                          "programs or scale it down.") from None
    except Exception as error:  # a hostile or damaged file trips any library's decoder
        raise UnreadableFile(f"{path} is corrupt or truncated ({error}).") from None


def _decode_within_budget(data: bytes, path: Path, exif_transpose: bool) -> np.ndarray:
    """Decode with Pillow, or OpenCV for the deep pixels Pillow drops or cannot read, once the
    header's size is within :data:`MAX_PIXELS` (before any decoder allocates the pixels)."""
    orientation = 1
    try:
        with warnings.catch_warnings():
            # Pillow warns of bombs (our budget comes next) and of damaged metadata (the
            # picture is read or refused): noise either way
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as probe:
                check_pixel_budget(probe.size, path)
                deep = _has_16_bit_samples(probe)  # before getexif(), which may load the pixels
                orientation = probe.getexif().get(0x0112, 1)
                if probe.mode in _PILLOW_MODES and not deep:
                    # Pillow covers 8-bit modes including palettes and CMYK exactly.
                    image = ImageOps.exif_transpose(probe) if exif_transpose else probe
                    image.load()
                    return _pil_to_array(image)
    except IcmError:
        raise
    except Image.DecompressionBombError as error:
        raise UnreadableFile(f"{path} is too large to open safely ({error}).") from None
    except UnidentifiedImageError:
        # Pillow reads no float RGB TIFF: its size comes from the TIFF header instead
        if data[:4] not in _TIFF_MAGIC:
            raise UnreadableFile(f"{path} is not an image format we can read ({FORMAT_NAMES}).") from None
        _check_tiff_budget(data, path)
    except (OSError, SyntaxError, ValueError) as error:
        raise UnreadableFile(f"{path} is corrupt or truncated ({error}).") from None
    # 16-bit, float and other deep pixels: OpenCV keeps their depth.
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise UnreadableFile(f"{path} is not an image format we can read ({FORMAT_NAMES}).")
    if pixels.ndim == 3 and pixels.shape[2] >= 3:
        order = [2, 1, 0, 3][: pixels.shape[2]]
        pixels = pixels[..., order]
    if data[:4] in _TIFF_MAGIC:
        # OpenCV's TIFF decoder applies the orientation tag itself (its PNG decoder does not)
        return pixels if exif_transpose else _orient(pixels, {6: 8, 8: 6}.get(orientation, orientation))
    return _orient(pixels, orientation) if exif_transpose else pixels


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF


def check_pixel_budget(size: tuple[int, int], path: Path, what: str = "") -> None:
    """:class:`UnreadableFile` if a picture of ``size`` (width, height) is over the budget, so
    no decoder allocates for a hostile or huge file."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise UnreadableFile(
            f"{path} {what or 'is'} {width}×{height} px ({width * height / 1e6:.0f} MP); the "
            f"limit is {MAX_PIXELS / 1e6:.0f} MP: scale it down first.")


def _check_tiff_budget(data: bytes, path: Path) -> None:
    """The first image's size and tile size from a TIFF header, within the budget (OpenCV
    allocates both in full before reading any pixel)."""
    stream = io.BytesIO(data)
    tags = TiffImagePlugin.ImageFileDirectory_v2(stream.read(16 if data[2:4] in (b"+\x00", b"\x00+") else 8))
    stream.seek(tags.next)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns of each damaged tag; missing ones are refused
        tags.load(stream)
    if 256 not in tags or 257 not in tags:
        raise UnreadableFile(f"{path} is a TIFF without an image size.")
    check_pixel_budget((tags[256], tags[257]), path)
    check_pixel_budget((tags.get(322, 0), tags.get(323, 0)), path, "has tiles of")


def _has_16_bit_samples(probe: Image.Image) -> bool:
    """Pillow opens 48/64-bit PNGs as 8-bit RGB(A), dropping the low byte: leave those to OpenCV."""
    return any(";16" in str(tile.args) for tile in probe.tile)


_PILLOW_MODES = ("RGB", "RGBA", "L", "LA", "P", "PA", "1", "CMYK", "YCbCr", "RGBX")


def _pil_to_array(image: Image.Image) -> np.ndarray:
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA" if "transparency" in image.info or image.mode == "PA" else "RGB")
    elif image.mode in ("CMYK", "YCbCr", "RGBX"):
        image = image.convert("RGB")
    elif image.mode == "1":
        image = image.convert("L")
    return np.asarray(image)


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation tag (1–8) to an array."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
        8: lambda a: np.swapaxes(a, 0, 1)[::-1],
    }
    return np.ascontiguousarray(ops[orientation](pixels)) if orientation in ops else pixels


def quantize(array: np.ndarray, bits: int) -> np.ndarray:
    """float [0, 1] → uint8/uint16 with rounding."""
    if bits not in (8, 16):
        raise InvalidInput(f"Alpha can be written at 8 or 16 bit, not {bits}.")
    top, dtype = (255, np.uint8) if bits == 8 else (65535, np.uint16)
    return (np.clip(array, 0.0, 1.0) * top + 0.5).astype(dtype)


def write_alpha(path: str | os.PathLike, alpha: np.ndarray, bits: int = 8, overwrite: bool = False) -> Path:
    """Write an ``H×W`` alpha in [0, 1] as a grey PNG (or TIFF by extension)."""
    return _write(path, _alpha_pixels(alpha, bits), overwrite)


def write_cutout(
    path: str | os.PathLike,
    foreground: np.ndarray,
    alpha: np.ndarray,
    bits: int = 8,
    overwrite: bool = False,
) -> Path:
    """Write an RGBA cutout (un-premultiplied foreground colour + alpha) as PNG."""
    return _write(path, _cutout_pixels(foreground, alpha, bits), overwrite)


def encode_alpha(alpha: np.ndarray, bits: int = 8) -> bytes:
    """The PNG file :func:`write_alpha` would write, as bytes (to be written elsewhere)."""
    return _encode(_alpha_pixels(alpha, bits), ".png", "alpha")


def encode_cutout(foreground: np.ndarray, alpha: np.ndarray, bits: int = 8) -> bytes:
    """The PNG file :func:`write_cutout` would write, as bytes."""
    return _encode(_cutout_pixels(foreground, alpha, bits), ".png", "cutout")


def _alpha_pixels(alpha: np.ndarray, bits: int) -> np.ndarray:
    if alpha.ndim != 2:
        raise InvalidInput(f"An alpha must be H×W, got shape {alpha.shape}.")
    return quantize(alpha, bits)


def _cutout_pixels(foreground: np.ndarray, alpha: np.ndarray, bits: int) -> np.ndarray:
    if foreground.shape[:2] != alpha.shape or foreground.ndim != 3:
        raise InvalidInput(f"Foreground {foreground.shape} and alpha {alpha.shape} sizes differ.")
    return quantize(np.concatenate([foreground[..., :3], alpha[..., None]], axis=2), bits)


def write_image(path: str | os.PathLike, image: np.ndarray, bits: int = 8, overwrite: bool = False) -> Path:
    """Write an RGB(A) float image in [0, 1]."""
    return _write(path, quantize(image, bits), overwrite)


def _write(path: str | os.PathLike, pixels: np.ndarray, overwrite: bool) -> Path:
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputError(f"{path} already exists; choose another folder or allow overwriting.")
    atomic_write_bytes(path, _encode(pixels, path.suffix.lower(), path.name))
    return path


def _encode(pixels: np.ndarray, suffix: str, name: str) -> bytes:
    if pixels.ndim == 3:
        pixels = pixels[..., [2, 1, 0, 3][: pixels.shape[2]]]  # RGB(A) → OpenCV's BGR(A)
    ok, encoded = cv2.imencode(suffix if suffix in (".png", ".tif", ".tiff") else ".png", pixels)
    if not ok:
        raise OutputError(f"Could not encode {name}.")
    return encoded.tobytes()


def file_identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of the file ``path`` names, links followed: two paths with the same
    identity are one file (a symlink, a hard link, ``..`` or another spelling); None when no
    file is there."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    return status.st_dev, status.st_ino


def refuse_inputs_as_outputs(outputs: dict[Path, str], inputs: dict[Path, str]) -> None:
    """Refuse (:class:`OutputError`) when an output path names one of the input files, whatever
    the overwrite setting: writing the result would destroy what it is computed from.
    ``outputs`` and ``inputs`` map paths to what they are, for the message."""
    identities = {}
    for path, what in inputs.items():
        identity = file_identity(path)
        if identity is not None:
            identities.setdefault(identity, (path, what))
    for path, what in outputs.items():
        source = identities.get(file_identity(path))
        if source is not None:
            raise OutputError(
                f"The {what} {path} would replace the {source[1]} {source[0]}, an input: "
                "choose another output folder or file (even --overwrite never replaces an input).")


def check_writable_folder(folder: Path, what: str) -> None:
    """Before any work: ``folder`` is a folder this process can write into, or the nearest
    existing folder above it is (where it will be created).  Nothing is created or written."""
    existing = next(p for p in (folder, *folder.parents, Path(".")) if p.exists())
    if not existing.is_dir():
        raise OutputError(f"{existing} is a file, not a folder: give {what} a folder "
                          "(it is created if needed).")
    if not os.access(existing, os.W_OK | os.X_OK):
        read_only = hasattr(os, "statvfs") and os.statvfs(existing).f_flag & os.ST_RDONLY
        why = "is on a read-only disk" if read_only else "is not writable for you"
        if existing == folder:
            raise OutputError(f"{folder} {why}: choose another {what}.")
        raise OutputError(f"Cannot create {folder}: {existing} {why}; choose another {what}.")


def create_temporary(path: Path, suffix: str = ".part") -> tuple[int, Path]:
    """A new file beside ``path`` to be renamed over it, open for writing, with the permissions
    a plain ``open(path, "w")`` would give ``path``: those of the file it replaces, else the
    umask's (``mkstemp`` would make every result private, 0600)."""
    while True:
        temp = path.parent / f".{path.name}.{secrets.token_hex(4)}{suffix}"
        try:
            handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                             0o666)
            break
        except FileExistsError:
            continue
    try:
        os.chmod(temp, stat.S_IMODE(path.stat().st_mode))
    except FileNotFoundError:
        pass
    return handle, temp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file + rename: all or nothing."""
    atomic_write_files({path: data})


def atomic_write_files(files: dict[Path, bytes]) -> None:
    """Write several files all or nothing (a target's alpha and cutout): each goes to a
    temporary file beside it first, and only once all are complete are they renamed into
    place.  If a write fails (a full disk), none of the files appears; if a rename fails, the
    ones already renamed are removed again, so no half of the set is left."""
    staged: list[tuple[Path, Path]] = []  # (temporary, final)
    renamed: list[Path] = []
    try:
        for path, data in files.items():
            staged.append((_write_temporary(path, data), path))
        for temp, path in staged:
            try:
                os.replace(temp, path)
            except OSError as error:
                raise OutputError(f"Could not write {path}: {error.strerror or error}.") from None
            renamed.append(path)
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        for path in renamed:
            path.unlink(missing_ok=True)
        raise


def _write_temporary(path: Path, data: bytes) -> Path:
    """``data`` in a complete, synced temporary file beside ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = create_temporary(path)
    except OSError as error:
        raise OutputError(f"Cannot write into {path.parent}: {error.strerror or error}.") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException as error:
        temp.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise OutputError(f"Could not write {path}: {error.strerror or error}.") from None
        raise
    return temp
