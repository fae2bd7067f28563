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


def _python_files(*layers: str) -> list[Path]:
    return [path for layer in layers for path in sorted((REPO / layer).rglob("*.py"))]


def test_clip_states_change_only_in_stages() -> None:
    """Clips move through their states by `Catalog.transition`, called from data_engine/stages/ only."""
    stages = REPO / "data_engine" / "stages"
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path in _python_files("data_engine", "assets", "sensors", "resources")
        if stages not in path.parents
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "transition"
    ]
    assert offenders == []


def test_every_engine_error_derives_from_engine_error() -> None:
    """The CLI prints EngineError as one line and lets everything else show its traceback, so every error type
    the engine defines must be an EngineError (directly or through another engine error)."""
    bases: dict[str, set[str]] = {}
    for path in _python_files("data_engine"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                bases[node.name] = {base.id for base in node.bases if isinstance(base, ast.Name)}
    engine = {"EngineError"}
    while grown := {name for name, parents in bases.items() if parents & engine} - engine:
        engine |= grown
    assert sorted(set(bases) - engine) == []
    assert {"NotFoundError", "CatalogError", "SettingsError", "RegistryError", "TrainingError"} <= engine


STORE_PREFIXES = ("clips/", "videos/", "batches/", "annotation/", "datasets/", "models/", "training/")


def test_store_keys_are_spelled_only_in_the_layout_module() -> None:
    """Every store key comes from data_engine/layout.py; a key written as a literal elsewhere is a second copy."""
    layout = REPO / "data_engine" / "layout.py"
    offenders = []
    for path in _python_files("data_engine", "assets", "sensors", "resources"):
        if path == layout:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.values[0] if isinstance(node, ast.JoinedStr) and node.values else node
            if isinstance(text, ast.Constant) and isinstance(text.value, str) and text.value.startswith(STORE_PREFIXES):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno} {text.value!r}")
    assert offenders == []
