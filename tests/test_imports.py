"""The package's import graph has no cycle (function-level imports count).

Imports under ``if TYPE_CHECKING:`` are excluded: they never run. A cycle makes the
order modules load in matter and hides which layer depends on which (issue 13).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

import siting

ROOT = Path(siting.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every ``siting`` module imported anywhere in ``tree`` but under TYPE_CHECKING."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = module.split(".")
                pkg = pkg if is_package else pkg[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join([*pkg, base] if base else pkg)
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m == "siting" or m.startswith("siting.")}


def import_graph(root: Path = ROOT) -> nx.DiGraph:
    """Module -> module it imports, for every module under ``root``."""
    paths = sorted(root.rglob("*.py"))
    modules = {_module_name(p): p for p in paths}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target in _imports(tree, name, path.name == "__init__.py"):
            # ``from siting.x import y``: y is a module when siting.x.y is one
            if target in modules and target != name:
                graph.add_edge(name, target)
    return graph


def test_the_import_graph_is_found() -> None:
    graph = import_graph()
    assert "siting.chargers.solve" in graph
    assert graph.has_edge("siting.chargers.solve", "siting.chargers.problem")


def test_no_import_cycles() -> None:
    graph = import_graph()
    cycles = [c for c in nx.simple_cycles(graph) if len(c) > 1]
    # a package's __init__ re-exporting its own modules is not a cycle of dependency
    assert not cycles, "import cycles:\n" + "\n".join(
        " -> ".join([*c, c[0]]) for c in sorted(cycles, key=len)[:20])


def test_problem_modules_do_not_import_their_solvers() -> None:
    graph = import_graph()
    for pkg in ("chargers", "heat", "logistics"):
        problem = f"siting.{pkg}.problem"
        reach = nx.descendants(graph, problem)
        assert f"siting.{pkg}.solve" not in reach, f"{problem} reaches siting.{pkg}.solve"


def test_no_flat_planner_modules_remain() -> None:
    flat = sorted(p.name for p in ROOT.glob("*.py")
                  if p.stem.split("_")[0] in {"chargers", "heat", "logistics"})
    assert not flat, f"planner modules outside their packages: {flat}"
