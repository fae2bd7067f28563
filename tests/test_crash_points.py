"""The crash-point harness: kill `data-engine run` at every named crash point, run it again, and require the
same final catalog and store as an uninterrupted run.

The crash points are found in the code (every `crash_point("...")` call in data_engine/), so a new point is
covered without a new test. Each is hit at its first visit and at its second (points reached once per clip
then die in the middle of a video). A point that the fixed inputs never reach fails the test: the inputs must
exercise it. The inputs are the two sample videos cut short plus a file that is not a video.
"""

import ast
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from data_engine.catalog import Catalog
from data_engine.checks import frame_conservation_problems, orphan_files
from data_engine.faults import CRASH_ENV
from data_engine.store import Store, is_temporary
from tests.videos import short_samples

PACKAGE = Path(__file__).resolve().parents[1] / "data_engine"


def crash_points() -> list[str]:
    """Every literal name passed to `crash_point` in the package."""
    names: list[str] = []
    for source in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "crash_point"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.append(node.args[0].value)
    return names


POINTS = crash_points()


def test_crash_points_are_named_once_each() -> None:
    assert len(POINTS) >= 8
    assert [name for name, count in Counter(POINTS).items() if count > 1] == [], "one call site per name"
    assert all(re.fullmatch(r"[a-z_]+\.[a-z_]+", name) for name in POINTS), POINTS


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, sample_videos: Path) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    short_samples(sample_videos, folder)
    (folder / "notes.mp4").write_text("this is not a video\n")
    for path in folder.iterdir():
        os.utime(path, (time.time() - 60, time.time() - 60))
    return folder


def _run(home: Path, inputs: Path, crash_at: str | None = None) -> subprocess.CompletedProcess:
    environment = {
        **{key: value for key, value in os.environ.items() if key != CRASH_ENV},
        "DATA_ENGINE_HOME": str(home),
        "DATA_ENGINE_INBOX": str(home / "inbox"),
        "DATA_ENGINE_COMPUTE": "inprocess",
        "DATA_ENGINE_CLIP_SECONDS": "2",
    }
    if crash_at is not None:
        environment[CRASH_ENV] = crash_at
    command = [sys.executable, "-m", "data_engine", "run", str(inputs)]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)


def _snapshot(home: Path) -> dict[str, Any]:
    """What must converge: the catalog's records and the store's files (bundle ids are random: normalised)."""
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    store = Store(str(home / "store"))
    clips = catalog.clips()
    runs = catalog.annotation_runs()
    snapshot = {
        "videos": sorted((v.id, v.status, v.frames, v.error) for v in catalog.videos()),
        "clips": [(c.id, c.first_frame, c.last_frame, c.start_s, c.end_s, c.method, c.status) for c in clips],
        "events": {c.id: [(e.stage, e.from_state, e.to_state) for e in catalog.history(c.id)] for c in clips},
        "hits": sorted((h.clip_id, h.trigger, h.first_frame, h.last_frame, round(h.score, 6)) for h in catalog.hits()),
        "selected": [(f.clip_id, f.frame) for f in catalog.selected_frames()],
        "pushed": sorted((frame[0], frame[1]) for run in runs for frame in run.record.get("frames", [])),
        "annotation_runs": len(runs),
        "labels": sorted((c.id, v.version, v.kind) for c in clips for v in catalog.label_versions(c.id)),
        "files": sorted(_normalised(key, runs) for key in store.list_keys("")),
    }
    assert frame_conservation_problems(catalog) == []
    assert orphan_files(catalog, store) == []
    assert [key for key in snapshot["files"] if is_temporary(key.rsplit("/", 1)[-1])] == []
    catalog.dispose()
    return snapshot


def _normalised(key: str, runs: list) -> str:
    for index, run in enumerate(runs):
        key = key.replace(run.id, f"<run {index}>")
    return key


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, inputs: Path) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("uninterrupted")
    result = _run(home, inputs)
    assert result.returncode == 0, result.stdout + result.stderr
    snapshot = _snapshot(home)
    assert len(snapshot["videos"]) == 3 and {v[1] for v in snapshot["videos"]} == {"clipped", "quarantined"}
    assert snapshot["selected"] and snapshot["pushed"], "the inputs reach selection and the push"
    return snapshot


@pytest.mark.parametrize("visit", [1, 2])
@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_at_a_crash_point_converges_when_run_again(
    tmp_path: Path, inputs: Path, uninterrupted: dict[str, Any], point: str, visit: int
) -> None:
    crashed = _run(tmp_path, inputs, crash_at=f"{point}:{visit}")
    if visit == 1:
        assert crashed.returncode == 137, f"{point} was never reached: {crashed.stdout}{crashed.stderr}"
    else:
        assert crashed.returncode in (0, 137), crashed.stdout + crashed.stderr
    if crashed.returncode == 137:
        again = _run(tmp_path, inputs)
        assert again.returncode == 0, again.stdout + again.stderr
    assert _snapshot(tmp_path) == uninterrupted
