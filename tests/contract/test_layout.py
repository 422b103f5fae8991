"""The layout rule of DESIGN.md: services never import each other; ganlink imports no service
except in its composition root (cli/, demo.py), and there only inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("gateway", "collector", "analytics", "api")
COMPOSITION_ROOT = ("ganlink/cli/", "ganlink/demo.py")


def imported_packages(tree: ast.AST, *, top_level_only: bool) -> set[str]:
    nodes = tree.body if top_level_only and isinstance(tree, ast.Module) else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_imports_no_other_service(service: str) -> None:
    offenders = []
    for path in python_files(service):
        others = imported_packages(ast.parse(path.read_text()), top_level_only=False) & set(SERVICES) - {service}
        if others:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(others)}")
    assert offenders == []


def test_ganlink_imports_services_only_lazily_in_its_composition_root() -> None:
    offenders = []
    for path in python_files("ganlink"):
        relative = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text())
        in_root = relative.startswith(COMPOSITION_ROOT)
        services = imported_packages(tree, top_level_only=in_root) & set(SERVICES)
        if services:
            offenders.append(f"{relative} imports {sorted(services)}{' at module level' if in_root else ''}")
    assert offenders == []


def test_the_layout_checker_sees_an_import() -> None:
    tree = ast.parse("def f():\n    from collector.service import run_collector\n")
    assert imported_packages(tree, top_level_only=False) == {"collector"}
    assert imported_packages(tree, top_level_only=True) == set()
