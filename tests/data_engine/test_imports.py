"""The domain stays light to import: the command line starts fast only if torch, Ultralytics, matplotlib and Dask
are imported by the code that uses them, not by importing the stages."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.videos import make_test_video

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


def test_autolabel_answers_an_unknown_clip_before_loading_any_detector(tmp_path: Path) -> None:
    """`autolabel --clip nope` says the id is unknown without importing torch or loading the model (a model file
    that does not exist would be a different error)."""
    probe = (
        "import sys, json\n"
        "from click.testing import CliRunner\n"
        "from data_engine.cli import main\n"
        "result = CliRunner().invoke(main, ['autolabel', '--clip', 'nope'])\n"
        f"print(json.dumps([result.exit_code, result.output, [m for m in {HEAVY!r} if m in sys.modules]]))"
    )
    env = {
        **os.environ,
        "DATA_ENGINE_HOME": str(tmp_path / "home"),
        "DATA_ENGINE_DETECTORS": str(tmp_path / "no-such-model.pt"),
    }
    output = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, env=env).stdout
    code, text, heavy = json.loads(output.strip().splitlines()[-1])
    assert code == 2 and "no clip with id 'nope'" in text, text
    assert heavy == [], f"imported {heavy} before answering"


def test_ingest_hashes_frames_without_scipy(tmp_path: Path) -> None:
    """The phash DCT is two matrix products: `data-engine ingest` imports no scipy (about 0.2 s of start); nor the
    detectors, which it never runs (~0.08 s)."""
    video = make_test_video(tmp_path / "cam.mp4", frames=30)
    probe = (
        "import sys, json\n"
        "from click.testing import CliRunner\n"
        "from data_engine.cli import main\n"
        f"result = CliRunner().invoke(main, ['ingest', {str(video)!r}])\n"
        "print(json.dumps([result.exit_code, result.output, [m for m in ('scipy', 'data_engine.detectors') if m in"
        " sys.modules]]))"
    )
    env = {**os.environ, "DATA_ENGINE_HOME": str(tmp_path / "home"), "DATA_ENGINE_COMPUTE": "inprocess"}
    output = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, env=env).stdout
    code, text, loaded = json.loads(output.strip().splitlines()[-1])
    assert code == 0, text
    assert loaded == [], f"ingest imported {loaded}"
