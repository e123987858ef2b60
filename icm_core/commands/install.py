"""``icm-matting install|uninstall krita|gimp``: register the editor plugins.

The work is done by :mod:`icm_plugin.install`, imported only when the command runs, so the core
never imports a host package when the CLI is built.
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
        parser.set_defaults(run=run, uninstall=command == "uninstall")


def run(args: argparse.Namespace) -> int:
    from icm_plugin import install

    if args.host == "krita":
        plan = install.krita_plan(args.resources, args.kritarc)
    else:
        plan = install.gimp_plan(args.plugins)
    for line in (install.uninstall(plan) if args.uninstall else install.install(plan)):
        print(line)
    return 0
