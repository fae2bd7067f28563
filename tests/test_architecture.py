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


def _state_moving_methods() -> set[str]:
    """The catalog's public methods that move a clip's state: every one whose body calls `_move`."""
    found = set()
    for path in _python_files("data_engine/catalog"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                calls = (call for call in ast.walk(node) if isinstance(call, ast.Call))
                if any(isinstance(call.func, ast.Attribute) and call.func.attr == "_move" for call in calls):
                    found.add(node.name)
    return found


def test_clip_states_change_only_in_stages() -> None:
    """Clips move through their states by the catalog methods that move them (`transition`, `record_mined`,
    `record_selection`, `record_autolabel`, ...), called from data_engine/stages/ only."""
    moving = _state_moving_methods()
    assert {"transition", "record_mined", "record_selection", "record_autolabel"} <= moving
    stages, catalog = REPO / "data_engine" / "stages", REPO / "data_engine" / "catalog"
    offenders = [
        f"{path.relative_to(REPO)}:{node.lineno} {node.func.attr}"
        for path in _python_files("data_engine", "assets", "sensors", "resources")
        if stages not in path.parents and catalog not in path.parents
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in moving
    ]
    assert offenders == []


FLOORS: tuple[tuple[str, ...], ...] = (
    ("errors", "faults", "processes", "progress", "layout", "attributes", "closing"),
    ("documents",),
    ("compute", "detections", "inbox"),
    ("settings",),
    ("store", "preflight", "catalog"),
    ("video", "plots", "formats", "runtime", "leases"),
    ("synthetic", "detectors"),
    ("autolabel", "training"),
    ("mining", "annotation"),
    ("datasets",),
    ("evaluation",),
    ("registry",),
    ("reports",),
    ("context",),
    ("stages",),
    ("checks", "doctor", "experiments"),
    ("cli",),
    ("__main__",),
)
"""The packages and top-level modules of data_engine/ from the bottom floor up: a module imports only from its own
package or from packages on lower floors (two packages on one floor do not import each other)."""


def _engine_imports(path: Path) -> list[tuple[int, str]]:
    """Every data_engine module `path` imports (at any depth, TYPE_CHECKING blocks included), with its line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.startswith("data_engine.")]


def _package(module: str) -> str:
    """`data_engine.stages.mine` -> `stages`; `data_engine.plots` -> `plots`."""
    return module.split(".")[1]


def test_no_data_engine_package_imports_one_above_it() -> None:
    floor = {package: level for level, packages in enumerate(FLOORS) for package in packages}
    engine = REPO / "data_engine"
    packages = {
        path.relative_to(engine).parts[0].removesuffix(".py") for path in engine.glob("*") if path.name[0] != "_"
    }
    assert packages - {"__init__"} - set(floor) == set(), "every package and top-level module has a floor"
    upward = []
    for path in _python_files("data_engine"):
        source = path.relative_to(engine).parts[0].removesuffix(".py")
        if source == "__init__":
            continue
        for line, module in _engine_imports(path):
            target = _package(module)
            if target in floor and target != source and floor[target] >= floor[source]:
                upward.append(f"{path.relative_to(REPO)}:{line} {source} -> {target}")
    assert upward == []


COMPOSERS = ("main_job", "pipeline")
"""The modules of data_engine/stages/ that put the stages together (the per-batch declaration and its walker)."""


def test_no_stage_imports_another_stage() -> None:
    """A stage imports the domain only: what two stages share lives below them, so the pipeline's order is the
    declaration's (stages/pipeline.py), not an import picture."""
    stages = REPO / "data_engine" / "stages"
    offenders = []
    for path in sorted(stages.glob("*.py")):
        if path.stem in (*COMPOSERS, "__init__"):
            continue
        for line, module in _engine_imports(path):
            parts = module.split(".")
            if parts[:2] == ["data_engine", "stages"] and len(parts) > 2 and parts[2] != path.stem:
                offenders.append(f"{path.relative_to(REPO)}:{line} {module}")
    assert offenders == []


DEFERRED_IMPORTS = {
    "data_engine/runtime.py": "the catalog, store and compute backends load on first use (`--help` stays fast)",
    "data_engine/cli": "each command imports what it runs when it runs (`--help` and `status` stay fast)",
    "data_engine/cli.py": "each command imports what it runs when it runs (`--help` and `status` stay fast)",
}
"""Where a function may import a data_engine module, and why: start-up speed, never to dodge an import loop."""


def test_no_function_local_import_of_the_engine() -> None:
    """An engine import inside a function hides a package loop from the floors above; third-party imports on use
    (torch, scipy, matplotlib) are a start-up cost matter and stay allowed."""
    offenders = []
    for path in _python_files("data_engine"):
        relative = path.relative_to(REPO).as_posix()
        if any(relative == allowed or relative.startswith(allowed + "/") for allowed in DEFERRED_IMPORTS):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in (node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                    offenders += [
                        f"{relative}:{node.lineno} {name}" for name in names if name.startswith("data_engine")
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
