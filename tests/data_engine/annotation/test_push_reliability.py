"""Pushes and imports idempotent by content (issue 11): a frame goes to a platform at most once whatever the number
of concurrent pushes or crashes, a bundle is published whole or not at all, and re-running after a crash at any
point finishes the work without doing any of it twice. The pushes run as real `data-engine` processes, racing
each other or killed at the engine's named crash points (`DATA_ENGINE_CRASH_AT`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from data_engine.annotation import AnnotationRun
from data_engine.catalog import Catalog, ClipState
from data_engine.cli import main
from tests.answers import answer_every_frame
from tests.data_engine.stages.test_ingest_stage import _age

PUSH_CRASH_POINTS = ("push.claimed", "bundle.written", "push.sent", "push.recorded")
IMPORT_CRASH_POINTS = ("import.labels_written", "import.recorded")


def engine_env(home: Path, catalog_url: str | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DATA_ENGINE_")}
    env.update(
        DATA_ENGINE_HOME=str(home),
        DATA_ENGINE_COMPUTE="inprocess",
        DATA_ENGINE_CLIP_SECONDS="5",
        DATA_ENGINE_BUDGET_PER_DAY="8",
        DATA_ENGINE_SETTLE_SECONDS="0",
        YOLO_OFFLINE="1",
    )
    if catalog_url is not None:
        env["DATA_ENGINE_CATALOG_URL"] = catalog_url
    return env


def prepare(home: Path, sample_videos: Path, monkeypatch: pytest.MonkeyPatch, catalog_url: str | None = None) -> None:
    """A cold-start home with the crowd sample ingested and mined: clips selected, nothing pushed yet."""
    for key, value in engine_env(home, catalog_url).items():
        if key.startswith("DATA_ENGINE_"):
            monkeypatch.setenv(key, value)
    video = home.parent / "in" / "crowd.avi"
    video.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample_videos / "crowd_overhead_720p.avi", video)
    _age(video)
    runner = CliRunner()
    for args in (["ingest", str(video)], ["mine"]):
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    catalog = Catalog(catalog_url or f"sqlite:///{home / 'catalog.db'}")
    assert catalog.selected_frames() and catalog.clips(status=ClipState.SELECTED)
    catalog.dispose()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, sample_videos: Path) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("template") / "home"
    with pytest.MonkeyPatch.context() as monkeypatch:
        prepare(home, sample_videos, monkeypatch)
    yield home


@pytest.fixture
def home(template: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(template, copy)
    return copy


def engine(home: Path, *args: str, crash_at: str | None = None, catalog_url: str | None = None) -> subprocess.Popen:
    env = engine_env(home, catalog_url)
    if crash_at:
        env["DATA_ENGINE_CRASH_AT"] = crash_at
    return subprocess.Popen(
        [sys.executable, "-m", "data_engine", *args],
        env=env,
        cwd=home.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def cli(home: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    """The same command in this process (quicker than a new one) for the runs that are not killed."""
    for key, value in engine_env(home).items():
        if key.startswith("DATA_ENGINE_"):
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(home.parent)
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    return invoke


def finished(process: subprocess.Popen) -> tuple[int, str]:
    output, _ = process.communicate(timeout=600)
    return process.returncode, output


def assert_pushed_once(home: Path, catalog_url: str | None = None) -> list[AnnotationRun]:
    """Every selected frame is in exactly one finished run and one published bundle; nothing half-done is left."""
    catalog = Catalog(catalog_url or f"sqlite:///{home / 'catalog.db'}")
    selected = {(frame.clip_id, frame.frame) for frame in catalog.selected_frames()}
    records = catalog.annotation_runs()
    assert {record.status for record in records} == {"pushed"}, "no push left unfinished"
    runs = [AnnotationRun.from_json(record.record) for record in records]
    pushed = Counter((frame.clip_id, frame.frame) for run in runs for frame in run.frames)
    assert set(pushed) == selected and set(pushed.values()) == {1}, "every frame pushed, none twice"
    assert {clip.status for clip in catalog.clips()} <= {ClipState.PUSHED, ClipState.EXTRACTED, ClipState.MINED}
    assert all(clip.status == ClipState.PUSHED for clip in catalog.clips() if clip.id in {c for c, _ in selected})
    catalog.dispose()
    bundles = home / "store" / "annotation" / "bundles"
    assert sorted(path.name for path in bundles.iterdir()) == sorted(
        [run.run_id for run in runs] + [f"{run.run_id}.zip" for run in runs]
    ), "one folder and one zip per run, no temporary leftovers"
    for run in runs:
        manifest = json.loads((bundles / run.run_id / "manifest.json").read_text())
        assert len(manifest["frames"]) == len(run.frames)
        assert len(list((bundles / run.run_id / "images").iterdir())) == len(run.frames)
    return runs


@pytest.mark.parametrize("processes", [2, 3])
def test_pushes_racing_in_separate_processes_push_each_frame_once_sqlite(home: Path, processes: int) -> None:
    started = [engine(home, "push", "--backend", "bundle") for _ in range(processes)]
    results = [finished(process) for process in started]
    assert all(code == 0 for code, _ in results), results
    assert sum("pushed " in output for _, output in results) >= 1
    assert_pushed_once(home)


@pytest.mark.postgres
def test_pushes_racing_after_a_crash_push_each_frame_once_postgresql(
    tmp_path: Path, sample_videos: Path, monkeypatch: pytest.MonkeyPatch, catalog_url: str
) -> None:
    if catalog_url.startswith("sqlite"):
        pytest.skip("the SQLite race has its own test on a copied home")
    home = tmp_path / "home"
    prepare(home, sample_videos, monkeypatch, catalog_url)
    code, output = finished(engine(home, "push", "--backend", "bundle", crash_at="push.sent", catalog_url=catalog_url))
    assert code == 137, output

    started = [engine(home, "push", "--backend", "bundle", catalog_url=catalog_url) for _ in range(2)]
    results = [finished(process) for process in started]

    assert all(code == 0 for code, _ in results), results
    assert sum("finished push" in output for _, output in results) == 1, "one of the two takes the dead push over"
    assert len(assert_pushed_once(home, catalog_url)) == 1


@pytest.mark.parametrize("point", PUSH_CRASH_POINTS)
def test_a_push_killed_at_any_point_is_finished_by_the_next_without_doubles(
    home: Path, cli: Callable[..., tuple[int, str]], point: str
) -> None:
    code, output = finished(engine(home, "push", "--backend", "bundle", crash_at=point))
    assert code == 137, output

    code, output = cli("push", "--backend", "bundle")

    assert code == 0, output
    if point != "push.recorded":
        assert "finished push" in output and "left unfinished by a process that stopped" in output
    else:
        assert "nothing to push" in output
    assert len(assert_pushed_once(home)) == 1, "the crashed push was finished, not pushed again"
    code, output = cli("push", "--backend", "bundle")
    assert code == 0 and "nothing to push" in output


def test_a_lost_bundle_zip_is_re_created_by_the_next_push(home: Path, cli: Callable[..., tuple[int, str]]) -> None:
    code, output = cli("push", "--backend", "bundle")
    assert code == 0, output
    (zipped,) = (home / "store" / "annotation" / "bundles").glob("*.zip")
    zipped.unlink()

    code, output = cli("push", "--backend", "bundle")

    assert code == 0 and f"re-created the missing files of push {zipped.stem}" in output, output
    assert zipped.is_file() and "nothing to push" in output
    assert_pushed_once(home)


def answered(home: Path, cli: Callable[..., tuple[int, str]]) -> AnnotationRun:
    """Push, then answer every frame of the bundle with one box."""
    code, output = cli("push", "--backend", "bundle")
    assert code == 0, output
    return answer_every_frame(home)


@pytest.mark.parametrize("point", IMPORT_CRASH_POINTS)
def test_an_import_killed_at_any_point_is_finished_by_the_next_without_doubles(
    home: Path, cli: Callable[..., tuple[int, str]], point: str
) -> None:
    run = answered(home, cli)
    bundle = Path(run.project_url)
    code, output = finished(engine(home, "import-annotations", str(bundle), crash_at=point))
    assert code == 137, output

    code, output = cli("import-annotations", str(bundle))

    assert code == 0, output
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    clips = {frame.clip_id for frame in run.frames}
    for clip_id in clips:
        reviews = [v for v in catalog.label_versions(clip_id) if v.kind == "review"]
        assert len(reviews) == 1, "one review version per clip, not two"
        assert catalog.get_clip(clip_id).status == ClipState.ANNOTATED
    (imported,) = catalog.annotation_imports()
    assert set(imported.record["clips"]) == clips, "the import knows every version it wrote, so it can be undone"
    catalog.dispose()
    labels = [path for path in (home / "store").rglob("labels/*.json")]
    assert len(labels) == len(clips), "no second label file"
    code, output = cli("import-annotations", "--undo", imported.id)
    assert code == 0 and f"{len(clips)} clips restored" in output, output
