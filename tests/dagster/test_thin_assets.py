"""Thin assets: every asset body makes exactly one stage call (data_engine.stages) and otherwise only turns what
the stage and the check computations (data_engine.checks) return into its MaterializeResult (building a config
value such as MiningConfig is not a call into the engine). Calls count whatever their spelling: `fn()`,
`module.fn()`, `step.run()` of an imported object."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _domain_names(tree: ast.Module) -> dict[str, str]:
    """Names imported from data_engine (functions, classes and modules), with the module they come from."""
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("data_engine"):
            names.update({alias.asname or alias.name: node.module for alias in node.names})
        elif isinstance(node, ast.Import):
            names.update(
                {alias.asname or alias.name: alias.name for alias in node.names if alias.name.startswith("data_engine")}
            )
    return names


def _called(call: ast.Call, imported: dict[str, str]) -> str | None:
    """The data_engine module a call goes into: `fn()` of a name imported from it, or `module.fn()`,
    `STEPS[0].run()` and the like whose root name is imported from it; None for other calls and for constructors
    (`MiningConfig(...)`)."""
    func: ast.expr = call.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    while isinstance(func, ast.Attribute | ast.Subscript | ast.Call):
        func = func.func if isinstance(func, ast.Call) else func.value
    if not called or called[0].isupper() or not isinstance(func, ast.Name) or func.id not in imported:
        return None
    return imported[func.id]


def _is_asset(function: ast.FunctionDef) -> bool:
    return any(
        isinstance(decorator, ast.Call) and ast.unparse(decorator.func) in ("dg.asset", "engine_asset")
        for decorator in function.decorator_list
    )


def test_each_asset_makes_one_stage_call_and_no_other_domain_call() -> None:
    bodies = {}
    for path in sorted((REPO / "assets").glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = _domain_names(tree)
        for function in (node for node in tree.body if isinstance(node, ast.FunctionDef) and _is_asset(node)):
            calls = (node for node in ast.walk(function) if isinstance(node, ast.Call))
            called = [module for module in (_called(call, imported) for call in calls) if module is not None]
            bodies[function.name] = (
                sum(module.startswith("data_engine.stages") for module in called),
                [m for m in called if not m.startswith(("data_engine.stages", "data_engine.checks"))],
            )
    assert len(bodies) == 11
    assert {name: counts for name, counts in bodies.items() if counts != (1, [])} == {}
