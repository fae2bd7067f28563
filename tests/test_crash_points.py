"""The crash-point harness: kill a `data-engine` command at every named crash point, run it again, finish the
scenario, and require the same final catalog and store as the uninterrupted scenario.

The crash points are found in the code (every `crash_point("...")` call in data_engine/), so a new point is
covered without a new test. Each scenario is a sequence of `data-engine` commands in subprocesses, from an empty
home or from the end of another scenario: a cold `run` on the inputs (two sample videos cut short and a file that
is not a video); answering the bundle that run pushed, as an annotator would, then `import-annotations`; and a
`run` with a tiny trained detector, so that mining stores detections and autolabelling labels the selected clips.
The uninterrupted scenarios record which command visits which point how often (`DATA_ENGINE_CRASH_TRACE`); a
point is killed in the first scenario that reaches it, at its first visit and, when the command visits it more
than once (once per clip), at its second. A point that no scenario reaches fails the test: the inputs must
exercise it.

Fast by construction: every home lives at one path (records hold absolute bundle paths), the uninterrupted
scenarios run once per module and their homes before each command are kept, so a test copies the home the
crashed command starts from instead of re-running what came before.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from data_engine.annotation import AnnotationRun
from data_engine.catalog import Catalog
from data_engine.checks import frame_conservation_problems, orphan_files
from data_engine.faults import CRASH_ENV, TRACE_ENV
from data_engine.store import Store, is_temporary
from tests.answers import answer_every_frame
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
    assert len(POINTS) >= 15
    assert [name for name, count in Counter(POINTS).items() if count > 1] == [], "one call site per name"
    assert all(re.fullmatch(r"[a-z_]+\.[a-z_]+", name) for name in POINTS), POINTS


@dataclass(frozen=True)
class Scenario:
    """Commands run one after the other on a home: empty, or as scenario `after` left it and `prepare` changed it.
    `{inputs}` in a command is the scenario's input folder, `{bundle}` the folder of the home's pushed bundle."""

    name: str
    commands: tuple[tuple[str, ...], ...]
    after: str | None = None
    prepare: Callable[[Path], object] | None = None
    inputs: str = "inputs"
    detector: bool = False


SCENARIOS = (
    Scenario("run", (("run", "{inputs}"),)),
    Scenario("import", (("import-annotations", "{bundle}"),), after="run", prepare=answer_every_frame),
    Scenario("autolabel", (("run", "{inputs}"),), inputs="crowd", detector=True),
)


@dataclass
class Uninterrupted:
    """A scenario run to the end: the homes before each command and at the end (`before[-1]`), which points each
    command visited how often, and the final snapshot."""

    scenario: Scenario
    before: list[Path] = field(default_factory=list)
    visits: list[Counter[str]] = field(default_factory=list)
    snapshot: dict[str, Any] = field(default_factory=dict)


@dataclass
class Harness:
    home: Path
    folder: Path
    inputs: dict[str, Path]
    environment: dict[str, str]
    detector: Path
    scenarios: dict[str, Uninterrupted] = field(default_factory=dict)

    def restore(self, saved: Path | None) -> None:
        """Put a kept home (None: an empty one) at the one home path."""
        shutil.rmtree(self.home, ignore_errors=True)
        if saved is None:
            self.home.mkdir(parents=True)
        else:
            shutil.copytree(saved, self.home, symlinks=True)

    def keep(self, name: str) -> Path:
        saved = self.folder / "kept" / name
        shutil.rmtree(saved, ignore_errors=True)
        shutil.copytree(self.home, saved, symlinks=True)
        return saved

    def command(
        self, scenario: Scenario, index: int, *, crash_at: str | None = None, trace: Path | None = None
    ) -> subprocess.CompletedProcess:
        environment = dict(self.environment)
        if scenario.detector:
            environment["DATA_ENGINE_DETECTORS"] = str(self.detector)
        if crash_at is not None:
            environment[CRASH_ENV] = crash_at
        if trace is not None:
            environment[TRACE_ENV] = str(trace)
        placeholders = {"{inputs}": lambda: str(self.inputs[scenario.inputs]), "{bundle}": self._bundle}
        arguments = [placeholders[part]() if part in placeholders else part for part in scenario.commands[index]]
        command = [sys.executable, "-m", "data_engine", *arguments]
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)

    def _bundle(self) -> str:
        catalog = Catalog(f"sqlite:///{self.home / 'catalog.db'}")
        (record,) = catalog.annotation_runs()
        catalog.dispose()
        return str(AnnotationRun.from_json(record.record).project_url)

    def uninterrupted(self, name: str) -> Uninterrupted:
        if name in self.scenarios:
            return self.scenarios[name]
        scenario = next(s for s in SCENARIOS if s.name == name)
        done = Uninterrupted(scenario)
        self.restore(self.uninterrupted(scenario.after).before[-1] if scenario.after else None)
        if scenario.prepare is not None:
            scenario.prepare(self.home)
        for index in range(len(scenario.commands)):
            done.before.append(self.keep(f"{name}-{index}"))
            trace = self.folder / f"{name}-{index}.trace"
            trace.unlink(missing_ok=True)
            result = self.command(scenario, index, trace=trace)
            assert result.returncode == 0, result.stdout + result.stderr
            done.visits.append(Counter(trace.read_text().split()) if trace.exists() else Counter())
        done.before.append(self.keep(f"{name}-end"))
        done.snapshot = _snapshot(self.home)
        self.scenarios[name] = done
        return done


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory, sample_videos: Path, tiny_detector_weights: Path) -> Harness:
    folder = tmp_path_factory.mktemp("crash_points")
    inputs = folder / "inputs"
    short_samples(sample_videos, inputs)
    (inputs / "notes.mp4").write_text("this is not a video\n")
    crowd = folder / "crowd"
    crowd.mkdir()
    shutil.copyfile(inputs / "crowd.mkv", crowd / "crowd.mkv")
    for path in [*inputs.iterdir(), *crowd.iterdir()]:
        os.utime(path, (time.time() - 60, time.time() - 60))
    home = folder / "home"
    environment = {
        **{key: value for key, value in os.environ.items() if not key.startswith("DATA_ENGINE_")},
        "DATA_ENGINE_HOME": str(home),
        "DATA_ENGINE_INBOX": str(home / "inbox"),
        "DATA_ENGINE_COMPUTE": "inprocess",
        "DATA_ENGINE_CLIP_SECONDS": "2",
        "DATA_ENGINE_DETECTOR_IMGSZ": "160",
        "YOLO_OFFLINE": "1",
    }
    return Harness(home, folder, {"inputs": inputs, "crowd": crowd}, environment, tiny_detector_weights)


def _snapshot(home: Path) -> dict[str, Any]:
    """What must converge: the catalog's records and the store's files (bundle ids are random: normalised)."""
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    store = Store(str(home / "store"))
    clips = catalog.clips()
    runs = catalog.annotation_runs()
    snapshot = {
        "videos": sorted((v.id, v.status, v.frames, v.error) for v in catalog.videos()),
        "clips": [(c.id, c.first_frame, c.last_frame, c.start_s, c.end_s, c.method, c.status) for c in clips],
        "claims": [c.id for c in clips if c.claimed_by is not None],
        "events": {c.id: [(e.stage, e.from_state, e.to_state) for e in catalog.history(c.id)] for c in clips},
        "hits": sorted((h.clip_id, h.trigger, h.first_frame, h.last_frame, round(h.score, 6)) for h in catalog.hits()),
        "selected": [(f.clip_id, f.frame) for f in catalog.selected_frames()],
        "pushed": sorted((frame[0], frame[1]) for run in runs for frame in run.record.get("frames", [])),
        "annotation_runs": sorted(run.status for run in runs),
        "imports": len(catalog.annotation_imports()),
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


def test_the_scenarios_reach_selection_the_push_the_import_and_autolabelling(harness: Harness) -> None:
    cold = harness.uninterrupted("run").snapshot
    assert len(cold["videos"]) == 3 and {v[1] for v in cold["videos"]} == {"clipped", "quarantined"}
    assert cold["selected"] and cold["pushed"], "the inputs reach selection and the push"
    imported = harness.uninterrupted("import").snapshot
    assert imported["imports"] == 1 and any(kind == "review" for _, _, kind in imported["labels"])
    autolabelled = harness.uninterrupted("autolabel").snapshot
    assert any(kind == "autolabel" for _, _, kind in autolabelled["labels"]), "the detector scenario autolabels"


@pytest.mark.parametrize("visit", [1, 2])
@pytest.mark.parametrize("point", POINTS)
def test_a_command_killed_at_a_crash_point_converges_when_run_again(harness: Harness, point: str, visit: int) -> None:
    reached = [
        (done, index)
        for done in (harness.uninterrupted(scenario.name) for scenario in SCENARIOS)
        for index, visits in enumerate(done.visits)
        if visits[point]
    ]
    assert reached, f"{point} was never reached by any scenario: make one exercise it"
    done, index = reached[0]
    if done.visits[index][point] < visit:
        pytest.skip(f"{point} is visited once by {done.scenario.name}")
    harness.restore(done.before[index])
    crashed = harness.command(done.scenario, index, crash_at=f"{point}:{visit}")
    assert crashed.returncode == 137, f"{point} was not reached again: {crashed.stdout}{crashed.stderr}"
    for rest in range(index, len(done.scenario.commands)):
        again = harness.command(done.scenario, rest)
        assert again.returncode == 0, again.stdout + again.stderr
    assert _snapshot(harness.home) == done.snapshot
