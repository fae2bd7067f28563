"""The domain stays light to import: the command line starts fast only if torch, Ultralytics, matplotlib and Dask
are imported by the code that uses them, not by importing the stages."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data_engine.stages.test_ingest_stage import _age
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


def command_loads(tmp_path: Path, arguments: list[str], packages: tuple[str, ...]) -> tuple[list[str], str]:
    """Run `data-engine ARGUMENTS` in a fresh interpreter (home under `tmp_path`): which of `packages` it imported,
    and what it printed; the command must succeed."""
    probe = (
        "import sys, json\n"
        "from click.testing import CliRunner\n"
        "from data_engine.cli import main\n"
        f"result = CliRunner().invoke(main, {arguments!r})\n"
        f"print(json.dumps([result.exit_code, result.output, [m for m in {packages!r} if m in sys.modules]]))"
    )
    env = {**os.environ, "DATA_ENGINE_HOME": str(tmp_path / "home"), "DATA_ENGINE_COMPUTE": "inprocess"}
    output = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True, env=env).stdout
    code, text, loaded = json.loads(output.strip().splitlines()[-1])
    assert code == 0, text
    return loaded, text


def test_ingest_hashes_frames_without_scipy(tmp_path: Path) -> None:
    """The phash DCT is two matrix products: `data-engine ingest` imports no scipy (about 0.2 s of start); nor the
    detectors, which it never runs (~0.08 s)."""
    video = make_test_video(tmp_path / "cam.mp4", frames=30)
    loaded = command_loads(tmp_path, ["ingest", str(video)], ("scipy", "data_engine.detectors"))[0]
    assert loaded == [], f"ingest imported {loaded}"


def test_cold_start_mining_reads_features_and_selects_without_pandas(tmp_path: Path) -> None:
    """Without detectors `data-engine mine` reads the features ingest stored, runs the image-level triggers and
    records a diversity sample on numpy columns: it imports no pandas (about 0.3 s of its 1 s)."""
    video = _age(make_test_video(tmp_path / "cam.mp4", frames=60))
    assert "clipped" in command_loads(tmp_path, ["ingest", str(video)], ("pandas",))[1]
    loaded, text = command_loads(tmp_path, ["mine"], ("pandas",))
    assert "selected" in text and loaded == [], "mine imported pandas"
