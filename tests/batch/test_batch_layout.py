"""The batch package's plan: its modules import one another without a circle (the executors never
reach up into the driver), and Ray is imported by the Ray executor alone."""

from __future__ import annotations

import ast
from pathlib import Path

import icm_core.batch

PACKAGE = Path(icm_core.batch.__file__).parent


def _imports() -> dict[str, set[str]]:
    """Module name → the package's modules it imports (at the top or inside a function)."""
    modules = {path.stem: ast.parse(path.read_text(encoding="utf-8")) for path in PACKAGE.glob("*.py")}
    graph = {}
    for name, tree in modules.items():
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                found |= {node.module} if node.module else {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("icm_core.batch."):
                found.add(node.module.split(".")[2])
        graph[name] = found & set(modules)
    return graph


def test_the_batch_modules_import_each_other_without_a_circle():
    graph = _imports()
    graph.pop("__init__")  # it only gathers the public names
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        assert name not in path, f"import circle: {' → '.join(path + [name])}"
        if name not in done:
            for imported in graph[name]:
                visit(imported, path + [name])
            done.add(name)

    for name in graph:
        visit(name, [])
    for executor in ("in_process", "process_pool", "ray_actors"):
        assert not graph[executor] & {"run", "dispatch"}, executor


def test_only_the_ray_executor_imports_ray():
    for path in PACKAGE.glob("*.py"):
        names = {alias.name.split(".")[0] for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                 if isinstance(node, ast.Import) for alias in node.names}
        assert ("ray" in names) == (path.stem == "ray_actors"), path.name
