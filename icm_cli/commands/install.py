"""``icm-matting install|uninstall krita|gimp``: register the editor plugins.

The work is done by :mod:`icm_plugin.install`, imported only when the command runs, so building
the CLI imports no host package.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    for command, verb in (("install", "install"), ("uninstall", "remove")):
        parser = subparsers.add_parser(
            command,
            help=f"{verb} the Krita plugin or the GIMP 3 plug-in",
            description=(f"{verb.capitalize()} the editor plugin. A record of every file and setting written "
                         "is kept beside the plugin; uninstall removes exactly those, and only if unchanged."),
        )
        parser.add_argument("host", choices=("krita", "gimp"), help="which editor")
        parser.add_argument("--resources", type=Path, metavar="DIR",
                            help="Krita's resource folder (default: the user's, e.g. ~/.local/share/krita)")
        parser.add_argument("--kritarc", type=Path, metavar="FILE",
                            help="Krita's settings file, where the plugin is enabled (default: the user's)")
        parser.add_argument("--plugins", type=Path, metavar="DIR",
                            help="GIMP 3's plug-ins folder (default: the user's newest GIMP/3.x/plug-ins)")
        parser.add_argument("--venv", type=Path, metavar="DIR",
                            help="when Krita embeds another Python than this one: the virtual environment "
                                 "to create or reuse for it (default: the user data folder's "
                                 "icm-matting/krita-venv-X.Y)")
        parser.set_defaults(run=run, uninstall=command == "uninstall")


def run(args: argparse.Namespace) -> int:
    from icm_plugin import install

    if args.host == "krita" and not args.uninstall:
        wanted = install.krita_python_version()
        if wanted not in (None, install.python_version()):
            return _install_for_krita_python(args, wanted)
    if args.host == "krita":
        plan = install.krita_plan(args.resources, args.kritarc)
    else:
        plan = install.gimp_plan(args.plugins)
    for line in (install.uninstall(plan) if args.uninstall else install.install(plan)):
        print(line)
    return 0


def _install_for_krita_python(args: argparse.Namespace, version: str) -> int:
    """Krita embeds Python ``version``, this is another: compiled packages (numpy, OpenCV, ONNX
    Runtime) would not load there.  Make (or reuse) a virtual environment for that version,
    install this checkout into it and register the plugin from it; say each step."""
    import shutil
    import subprocess
    import sys

    from icm_plugin import install

    source = install.source_folder()
    if source is None:
        print("error: Krita runs Python " + version + ", this icm-matting runs Python "
              f"{install.python_version()}; install icm-matting for Python {version} from its folder "
              "(see the README) and run its `icm-matting install krita`.", file=sys.stderr)
        return 2
    if shutil.which(f"python{version}") is None and not (args.venv or install.default_krita_venv(version)).exists():
        print(f"error: Krita runs Python {version}, but python{version} is not installed here. "
              f"Debian/Ubuntu: sudo apt install python{version}-venv; then run this again.", file=sys.stderr)
        return 2
    venv = args.venv or install.default_krita_venv(version)
    forwarded = [arg for flag in ("resources", "kritarc") if getattr(args, flag)
                 for arg in (f"--{flag}", str(getattr(args, flag)))]
    print(f"Krita runs Python {version} (this is {install.python_version()}): installing icm-matting "
          f"from {source} into {venv} for it.")
    for step in install.krita_venv_steps(version, venv, source, forwarded):
        print("$ " + " ".join(step))
        if subprocess.run(step).returncode != 0:
            print(f"error: that step failed; nothing of Krita's was changed. Remove {venv} to start over.",
                  file=sys.stderr)
            return 1
    return 0
