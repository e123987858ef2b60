"""The engines' rooms (issue 24): one folder per engine, the registry and the shared base in
``icm_core/engines``, and no two modules there, in the engines' folders or in the Krita plugin
importing each other (at module level or inside a function)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("icm_core/engines", "icm_core/lite", "icm_core/icm", "icm_plugin/krita")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, as absolute names (``from . import x`` counts as ``.x``)."""
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            stem = ".".join(base + ([node.module] if node.module else []))
            found.add(stem)
            found.update(f"{stem}.{alias.name}" for alias in node.names)
    return found


def test_no_two_modules_import_each_other():
    modules = {_module(path): path for folder in FOLDERS for path in (ROOT / folder).rglob("*.py")}
    imports = {name: _imports(path) & set(modules) for name, path in modules.items()}
    circles = sorted({tuple(sorted((a, b))) for a, targets in imports.items() for b in targets
                      if b != a and a in imports.get(b, ())})
    assert circles == []


def test_each_engine_lives_in_its_own_folder():
    from icm_core.engines import engine_class, engine_names

    folders = {name: engine_class(name).__module__ for name in engine_names()}
    assert folders == {"lite": "icm_core.lite.engine", "icm": "icm_core.icm.engine"}
    assert sorted(p.name for p in (ROOT / "icm_core" / "engines").glob("*.py")) == ["__init__.py", "base.py"]


def test_engines_take_what_the_protocol_says():
    """Same parameters (names, kinds, defaults) as :class:`Engine` for every protocol method."""
    import inspect

    from icm_core.engines import engine_class, engine_names
    from icm_core.engines.base import Engine

    def parameters(function):
        return [(p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()]

    for method in ("encode_reference", "combine", "matte", "forget"):
        for name in engine_names():
            assert parameters(getattr(engine_class(name), method)) == parameters(getattr(Engine, method)), (name, method)
