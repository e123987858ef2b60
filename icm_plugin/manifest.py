"""Host files generated from ``plugin.json``, the one manifest (identity, version, hosts).

Krita's ``.desktop`` (plugin registration) and ``.action`` (menu entries and shortcuts), and
the constants block of the GIMP plug-in, are generated here and committed; a test checks they
match the manifest.  After editing ``plugin.json`` run ``python -m icm_plugin.manifest``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from xml.sax.saxutils import escape

from icm_core import manifest
from icm_core.api import InvalidInput

PACKAGE_DIR = Path(__file__).resolve().parent
KRITA_DIR = PACKAGE_DIR / "krita"
GIMP_PLUGIN = PACKAGE_DIR / "gimp" / "icm-matting.py"
GIMP_BEGIN = "# --- generated from plugin.json by `python -m icm_plugin.manifest`: do not edit ---\n"
GIMP_END = "# --- end of generated block ---\n"


_TEXT_FIELDS = {
    (): ("name", "version"),
    ("hosts", "krita"): ("module", "comment"),
    ("hosts", "gimp"): ("procedure", "menu_label", "menu_path", "image_types", "documentation", "min_version"),
}
_ACTION_FIELDS = ("id", "text", "tooltip", "shortcut")


def check(m) -> dict:
    """Refuse a ``plugin.json`` the generators cannot use, naming the field to fix."""
    def text(node, keys, where):
        for key in keys:
            if not isinstance(node, dict) or not isinstance(node.get(key), str):
                raise InvalidInput(f"plugin.json: {where}{key} must be a text, got "
                                   f"{node.get(key) if isinstance(node, dict) else node!r}.")

    for path, keys in _TEXT_FIELDS.items():
        node = m
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        text(node, keys, "".join(f"{part}." for part in path))
    actions = m["hosts"]["krita"].get("actions")
    if not isinstance(actions, list):
        raise InvalidInput("plugin.json: hosts.krita.actions must be a list.")
    for index, action in enumerate(actions):
        text(action, _ACTION_FIELDS, f"hosts.krita.actions[{index}].")
    return m


def krita_desktop(m: dict) -> str:
    krita = check(m)["hosts"]["krita"]
    return (
        "[Desktop Entry]\n"
        "Type=Service\n"
        "ServiceTypes=Krita/PythonPlugin\n"
        f"X-KDE-Library={krita['module']}\n"
        "X-Python-2-Compatible=false\n"
        f"Name={m['name']}\n"
        f"Comment={krita['comment']} (version {m['version']})\n"
    )


def krita_action(m: dict) -> str:
    krita = check(m)["hosts"]["krita"]
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<ActionCollection version="2" name="{escape(krita["module"])}">',
        f'  <Actions category="{escape(krita["module"])}">',
        f"    <text>{escape(m['name'])}</text>",
    ]
    for action in krita["actions"]:
        lines += [
            f'    <Action name="{escape(action["id"])}">',
            "      <icon></icon>",
            f"      <text>{escape(action['text'])}</text>",
            f"      <whatsThis>{escape(action['tooltip'])}</whatsThis>",
            f"      <toolTip>{escape(action['tooltip'])}</toolTip>",
            "      <iconText></iconText>",
            "      <activationFlags>0</activationFlags>",
            "      <activationConditions>0</activationConditions>",
            f"      <shortcut>{escape(action['shortcut'])}</shortcut>",
            "      <isCheckable>false</isCheckable>",
            "      <statusTip></statusTip>",
            "    </Action>",
        ]
    lines += ["  </Actions>", "</ActionCollection>", ""]
    return "\n".join(lines)


def gimp_block(m: dict) -> str:
    gimp = check(m)["hosts"]["gimp"]
    values = {
        "PLUGIN_NAME": m["name"],
        "PLUGIN_VERSION": m["version"],
        "PROCEDURE": gimp["procedure"],
        "MENU_LABEL": gimp["menu_label"],
        "MENU_PATH": gimp["menu_path"],
        "IMAGE_TYPES": gimp["image_types"],
        "DOCUMENTATION": gimp["documentation"],
        "MIN_GIMP": gimp["min_version"],
    }
    return GIMP_BEGIN + "".join(f"{key} = {value!r}\n" for key, value in values.items()) + GIMP_END


def expected_files(m: dict | None = None) -> dict[Path, str]:
    """Every generated file with the content it must have."""
    m = m or manifest()
    module = m["hosts"]["krita"]["module"]
    return {
        KRITA_DIR / f"{module}.desktop": krita_desktop(m),
        KRITA_DIR / f"{module}.action": krita_action(m),
        GIMP_PLUGIN: _with_gimp_block(GIMP_PLUGIN.read_text(encoding="utf-8"), gimp_block(m)),
    }


def _with_gimp_block(source: str, block: str) -> str:
    start, end = source.index(GIMP_BEGIN), source.index(GIMP_END) + len(GIMP_END)
    return source[:start] + block + source[end:]


def stale_files() -> list[Path]:
    return [path for path, text in expected_files().items()
            if not path.is_file() or path.read_text(encoding="utf-8") != text]


def main() -> int:
    for path, text in expected_files().items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
