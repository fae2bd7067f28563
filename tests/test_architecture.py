"""Layering rules that keep the domain core reusable without Dagster."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAGSTER_LAYERS = ("assets", "sensors", "resources")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_domain_core_never_imports_dagster() -> None:
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "data_engine").rglob("*.py") if "dagster" in _imports(p)]
    assert offenders == []


def test_domain_tests_never_import_dagster() -> None:
    tests = (REPO / "tests" / "data_engine").rglob("*.py")
    offenders = [str(p.relative_to(REPO)) for p in tests if "dagster" in _imports(p)]
    assert offenders == []


def test_dagster_modules_do_not_use_postponed_annotations() -> None:
    modules = [p for layer in DAGSTER_LAYERS for p in (REPO / layer).rglob("*.py")] + [REPO / "definitions.py"]
    offenders = [str(p.relative_to(REPO)) for p in modules if "from __future__ import annotations" in p.read_text()]
    assert offenders == []
