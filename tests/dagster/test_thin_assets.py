"""Thin assets: every asset body makes exactly one stage call (data_engine.stages) and otherwise only turns what
the stage and the check computations (data_engine.checks) return into its MaterializeResult (building a config
value such as MiningConfig is not a call into the engine)."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _domain_names(tree: ast.Module) -> dict[str, str]:
    """Names imported from data_engine, with the module they come from."""
    return {
        alias.asname or alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("data_engine")
        for alias in node.names
    }


def _is_asset(function: ast.FunctionDef) -> bool:
    return any(
        isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "dg.asset"
        for decorator in function.decorator_list
    )


def test_each_asset_makes_one_stage_call_and_no_other_domain_call() -> None:
    bodies = {}
    for path in sorted((REPO / "assets").glob("*.py")):
        tree = ast.parse(path.read_text())
        imported = _domain_names(tree)
        for function in (node for node in tree.body if isinstance(node, ast.FunctionDef) and _is_asset(node)):
            called = [
                imported[node.func.id]
                for node in ast.walk(function)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in imported
                and not node.func.id[0].isupper()
            ]
            bodies[function.name] = (
                sum(module.startswith("data_engine.stages") for module in called),
                [m for m in called if not m.startswith(("data_engine.stages", "data_engine.checks"))],
            )
    assert len(bodies) == 11
    assert {name: counts for name, counts in bodies.items() if counts != (1, [])} == {}
