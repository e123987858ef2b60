"""``icm-matting gui [FILES or FOLDER]``: the standalone app (Qt is imported only when it runs)."""

from __future__ import annotations

import argparse

from icm_core import install_hint
from icm_core.api import IcmError

QT_BINDINGS = ("PySide6", "PyQt6", "PyQt5")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "gui",
        help="open the standalone matting app",
        description="Open the standalone app: brush a reference mask, matte the other images.",
    )
    parser.add_argument(
        "inputs",
        nargs="*",
        metavar="FILE_OR_FOLDER",
        help="images (or folders of images) to open as layers",
    )
    parser.add_argument(
        "--out", metavar="FOLDER", help="write results into FOLDER instead of next to the inputs"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        from ui.app import main  # Qt loads here, never when the CLI parses
    except ModuleNotFoundError as error:
        binding = (error.name or "").split(".")[0]
        if binding not in QT_BINDINGS:
            raise
        raise IcmError(f"The app needs Qt for Python ({binding}), which is not installed: run "
                       f"`{install_hint('gui')}` in the icm-matting folder.") from None
    return main(args.inputs, out_dir=args.out)
