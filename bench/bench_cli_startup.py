"""Command-line start-up: `data-engine --help` and `data-engine status` on an empty home, wall time best of N, and
what importing the domain modules costs and pulls in (torch, ultralytics, matplotlib, dask must not be among them).

    .venv/bin/python -m bench.bench_cli_startup [--repeats 5]

Goal: both commands under 0.8 s. `python -c pass` is printed as the floor of any Python command here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = Path(sys.executable).parent / "data-engine"
HEAVY = ("torch", "ultralytics", "matplotlib", "dask", "distributed", "scipy", "dagster")
MODULES = (
    "data_engine.cli",
    "data_engine.stages.ingest",
    "data_engine.stages.mine",
    "data_engine.stages.autolabel",
    "data_engine.catalog",
)


def best_wall(command: list[str], environment: dict[str, str], repeats: int, fresh_home: bool) -> float:
    """Best wall seconds of `repeats` runs; `fresh_home`: a new empty home each run (the catalog is created)."""
    walls = []
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as scratch:
        for index in range(repeats):
            home = Path(scratch) / (str(index) if fresh_home else "home")
            started = time.perf_counter()
            subprocess.run(command, env={**environment, "DATA_ENGINE_HOME": str(home)}, check=True, capture_output=True)
            walls.append(time.perf_counter() - started)
    return min(walls)


def import_cost(module: str, environment: dict[str, str]) -> dict[str, object]:
    """Wall seconds of importing `module` in a fresh interpreter, and which heavy packages it pulled in."""
    probe = (
        "import sys, time, json; started = time.perf_counter(); import " + module + "; "
        "print(json.dumps({'s': time.perf_counter() - started, 'heavy': sorted(m for m in "
        + repr(HEAVY)
        + " if m in sys.modules)}))"
    )
    output = subprocess.run([sys.executable, "-c", probe], env=environment, check=True, capture_output=True, text=True)
    return json.loads(output.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DATA_ENGINE_")}
    print(f"cores: {os.cpu_count()}, load average at start: {os.getloadavg()[0]:.1f}, best of {arguments.repeats}")
    rows = [
        ("python -c pass", [sys.executable, "-c", "pass"], False),
        ("data-engine --help", [str(CLI), "--help"], False),
        ("data-engine status (fresh empty home: creates the catalog)", [str(CLI), "status"], True),
        ("data-engine status (empty home, catalog exists)", [str(CLI), "status"], False),
    ]
    print("| command | best wall s | goal |")
    print("| --- | --- | --- |")
    for label, command, fresh in rows:
        wall = best_wall(command, environment, arguments.repeats, fresh)
        goal = "< 0.8 s" if label.startswith("data-engine") else ""
        print(f"| `{label}` | {wall:.2f} | {goal} |", flush=True)
    print()
    print("| import | wall s (one run) | heavy packages imported |")
    print("| --- | --- | --- |")
    for module in MODULES:
        cost = import_cost(module, environment)
        print(f"| `{module}` | {cost['s']:.2f} | {', '.join(cost['heavy']) or 'none'} |", flush=True)  # type: ignore[arg-type]
    print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
