"""Evaluation datasets described by a manifest (format ``icm-matting-dataset/1``).

A manifest lists ``groups`` (a reference member and the members that share its kind of
subject) and ``singles`` (members for single-image evaluation).  Paths are relative to the
manifest's folder; images are decoded by content through :mod:`icm_core.imageio`.

In-context protocol: in every group the reference member's ground-truth alpha, thresholded at
0.5, is the brushed reference mask, and every *other* member is a target.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import imageio
from .api import InvalidInput

FORMAT = "icm-matting-dataset/1"
MANIFEST_NAME = "manifest.json"
_MEMBER_PATH_KEYS = ("image", "alpha", "trimap")


@dataclass(frozen=True)
class Member:
    """One photograph with its ground-truth alpha (and optional trimap)."""

    id: str
    image_path: Path
    alpha_path: Path
    trimap_path: Path | None = None
    what: str | None = None
    alpha_channel: int | None = None
    alpha_floor: int = 0
    exif_transpose: bool = True
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def load_image(self) -> np.ndarray:
        """float32 H×W×3 sRGB in [0, 1]."""
        return imageio.read_image(self.image_path, exif_transpose=self.exif_transpose)

    def load_alpha(self) -> np.ndarray:
        """float32 H×W in [0, 1]; values at or below the manifest's floor (in 1/255) become 0."""
        alpha = imageio.read_mask(self.alpha_path, channel=self.alpha_channel, exif_transpose=self.exif_transpose)
        if self.alpha_floor > 0:
            alpha[alpha * 255.0 <= self.alpha_floor + 1e-3] = 0.0  # tolerance: float32 rounding of k/255
        return alpha

    def load_trimap(self) -> np.ndarray | None:
        """float32 H×W (0 background, 1 foreground, in between unknown), or None."""
        if self.trimap_path is None:
            return None
        return imageio.read_mask(self.trimap_path, exif_transpose=self.exif_transpose)


@dataclass(frozen=True)
class Group:
    """Members showing the same kind of subject; ``reference`` provides the brushed mask."""

    name: str
    kind: str | None
    reference: Member
    members: tuple[Member, ...]

    @property
    def targets(self) -> tuple[Member, ...]:
        """Every member except the reference (a target is never its own reference)."""
        return tuple(member for member in self.members if member is not self.reference)

    def reference_mask(self) -> np.ndarray:
        """The reference's ground-truth alpha thresholded at 0.5, as float32 {0, 1}."""
        return (self.reference.load_alpha() >= 0.5).astype(np.float32)


@dataclass(frozen=True)
class Dataset:
    name: str
    root: Path
    groups: tuple[Group, ...]
    singles: tuple[Member, ...]

    def group(self, name: str) -> Group:
        for group in self.groups:
            if group.name == name:
                return group
        raise InvalidInput(f"The dataset {self.name!r} has no group {name!r}.")


def load_manifest(path: str | os.PathLike, *, allow_outside: bool = False) -> Dataset:
    """Parse and check a manifest (or a folder holding ``manifest.json``).

    Every referenced file must exist.  Paths that leave the manifest's folder (absolute paths,
    ``..``) are refused unless ``allow_outside`` is true, so a downloaded manifest cannot point
    the tool at arbitrary files.
    """
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"No dataset manifest at {path}.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidInput(f"The dataset manifest {path} cannot be read as JSON: {error}.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise InvalidInput(f"{path} is not a dataset manifest: expected format {FORMAT!r}, found {found!r}.")
    return _Parser(path, manifest, allow_outside).dataset()


class _Parser:
    def __init__(self, path: Path, manifest: dict, allow_outside: bool):
        self.path = path
        self.root = path.parent.resolve()
        self.manifest = manifest
        self.allow_outside = allow_outside
        self.options = {
            "alpha_channel": self._option("alpha_channel", int, None),
            "alpha_floor": self._option("alpha_floor", int, 0),
            "exif_transpose": self._option("exif_transpose", bool, True),
        }
        if not 0 <= self.options["alpha_floor"] < 255:
            self._fail(f"alpha_floor must be in 0…254 (units of 1/255), got {self.options['alpha_floor']}")
        self.missing: list[str] = []

    def dataset(self) -> Dataset:
        groups = tuple(self._group(entry, index) for index, entry in enumerate(self._list("groups")))
        singles = tuple(self._member(entry, f"singles[{index}]") for index, entry in enumerate(self._list("singles")))
        if not groups and not singles:
            self._fail("it lists no groups and no singles")
        names = [group.name for group in groups]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            self._fail(f"group names must be unique, repeated: {', '.join(duplicates)}")
        if self.missing:
            shown = ", ".join(self.missing[:5]) + (f" and {len(self.missing) - 5} more" if len(self.missing) > 5 else "")
            raise InvalidInput(f"The dataset manifest {self.path} refers to missing files: {shown}.")
        name = self.manifest.get("name") or self.root.name
        return Dataset(name=str(name), root=self.root, groups=groups, singles=singles)

    def _group(self, entry: Any, index: int) -> Group:
        where = f"groups[{index}]"
        if not isinstance(entry, dict):
            self._fail(f"{where} must be an object")
        self._check_name(entry.get("name"), "name", where)
        where = f"group {entry['name']!r}"
        members_json = entry.get("members")
        if not isinstance(members_json, list) or len(members_json) < 2:
            self._fail(f"{where} needs \"members\": a reference and at least one target")
        members = tuple(self._member(item, f"{where} member {i}") for i, item in enumerate(members_json))
        ids = [member.id for member in members]
        if len(set(ids)) != len(ids):
            self._fail(f"{where} repeats a member id")
        reference = next((member for member in members if member.id == entry.get("reference")), None)
        if reference is None:
            self._fail(f"{where}: its \"reference\" {entry.get('reference')!r} is not one of its members")
        return Group(name=entry["name"], kind=entry.get("kind"), reference=reference, members=members)

    def _member(self, entry: Any, where: str) -> Member:
        if not isinstance(entry, dict):
            self._fail(f"{where} must be an object")
        self._check_name(entry.get("id"), "id", where)
        where = f"member {entry['id']!r}"
        for key in ("image", "alpha"):
            if not isinstance(entry.get(key), str):
                self._fail(f"{where} needs an {key!r} path")
        trimap = entry.get("trimap")
        if trimap is not None and not isinstance(trimap, str):
            self._fail(f"{where}: \"trimap\" must be a path")
        extra = {key: value for key, value in entry.items() if key not in ("id", "what", *_MEMBER_PATH_KEYS)}
        return Member(
            id=entry["id"],
            image_path=self._file(entry["image"], where),
            alpha_path=self._file(entry["alpha"], where),
            trimap_path=None if trimap is None else self._file(trimap, where),
            what=entry.get("what"),
            extra=extra,
            **self.options,
        )

    def _file(self, relative: str, where: str) -> Path:
        if "\0" in relative:  # no file system accepts it (os.stat raises ValueError)
            self._fail(f"{where}: the file name {relative!r} contains a NUL character")
        path = (self.root / relative).resolve()  # an absolute ``relative`` replaces the root
        if not self.allow_outside and not path.is_relative_to(self.root):
            self._fail(
                f"{where}: {relative!r} lies outside the manifest's folder {self.root}; "
                "move the files beside the manifest or allow outside paths explicitly"
            )
        if not path.is_file():
            self.missing.append(relative)
        return path

    def _check_name(self, value: Any, key: str, where: str) -> None:
        # names and ids become file names of saved results: keep them plain
        if not isinstance(value, str) or value in ("", ".", "..") or any(c in value for c in "/\\\0"):
            self._fail(f"{where} needs a {key!r} usable as a file name (no slashes), got {value!r}")

    def _list(self, key: str) -> list:
        value = self.manifest.get(key, [])
        if not isinstance(value, list):
            self._fail(f"\"{key}\" must be a list")
        return value

    def _option(self, key: str, kind: type, default: Any) -> Any:
        value = self.manifest.get(key, default)
        # bool is a subclass of int: refuse true/false where a number is expected
        if value is not default and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            self._fail(f"\"{key}\" must be {kind.__name__}, got {value!r}")
        return value

    def _fail(self, problem: str) -> None:
        raise InvalidInput(f"The dataset manifest {self.path} is invalid: {problem}.")
