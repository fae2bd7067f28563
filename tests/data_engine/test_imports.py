"""The domain stays light to import: the command line starts fast only if torch, Ultralytics, matplotlib and Dask
are imported by the code that uses them, not by importing the stages."""

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "ultralytics", "matplotlib", "dask", "distributed")


@pytest.mark.parametrize(
    "module",
    [
        "data_engine.stages.ingest",
        "data_engine.stages.mine",
        "data_engine.stages.autolabel",
        "data_engine.autolabel",
        "data_engine.detectors",
        "data_engine.mining",
        "data_engine.compute",
    ],
)
def test_importing_a_stage_or_domain_module_pulls_in_no_heavy_package(module: str) -> None:
    probe = f"import sys, json; import {module}; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    output = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert json.loads(output) == [], f"importing {module} imported {output.strip()}"
