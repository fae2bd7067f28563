"""Detector work through the command line: each frame inferred once per model across mining and autolabelling (the
detections mining stores are reused, and invalidated by the model's content and settings), and on Dask the
detectors run inside the workers (a GPU worker when the cluster has one) with the in-process results."""

import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from data_engine.autolabel import autolabel_clip, read_labels
from data_engine.catalog import Catalog
from data_engine.cli import main
from data_engine.compute import ProcessPoolBackend
from data_engine.context import StageContext
from data_engine.detections import Detections
from data_engine.detectors import UltralyticsDetector
from data_engine.detectors.stored import read_detections
from data_engine.settings import Settings
from data_engine.stages.autolabel import autolabel_clips
from data_engine.stages.mine import MiningConfig, compute_batch_features, mine_batch_triggers
from data_engine.store import Store
from data_engine.synthetic import generate
from tests.dask_cluster import dask_cluster
from tests.data_engine.stages.test_ingest_stage import ingest
from tests.model_fixtures import TINY_IMGSZ
from tests.videos import make_test_video

Invoke = Callable[..., Result]


@pytest.fixture
def frames_inferred(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Model id -> frames passed to `UltralyticsDetector.predict` in this process (the in-process backend)."""
    counted: Counter = Counter()
    original = UltralyticsDetector.predict

    def counting(self: UltralyticsDetector, frames: Sequence[np.ndarray]) -> list[Detections]:
        counted[self.model_id] += len(frames)
        return original(self, frames)

    monkeypatch.setattr(UltralyticsDetector, "predict", counting)
    return counted


def engine(home: Path, monkeypatch: pytest.MonkeyPatch, weights: Sequence[Path], **settings: str) -> Invoke:
    """`data-engine` against `home` with the given detectors, in-process unless `settings` say otherwise."""
    environment = {
        "DATA_ENGINE_HOME": str(home),
        "DATA_ENGINE_DETECTORS": ",".join(str(path) for path in weights),
        "DATA_ENGINE_DETECTOR_IMGSZ": str(TINY_IMGSZ),
        "DATA_ENGINE_COMPUTE": "inprocess",
        **settings,
    }
    monkeypatch.delenv("DATA_ENGINE_CATALOG_URL", raising=False)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    return invoke


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = generate(tmp_path_factory.mktemp("videos"), seed=21, seconds=6).video_path
    os.utime(path, (0, 0))  # settled long ago
    return path


def mine_and_autolabel(run: Invoke, video: Path) -> list[dict]:
    run("ingest", str(video))
    run("mine")
    clips = json.loads(run("clips", "--json").output)
    for clip in clips:
        run("autolabel", "--clip", clip["id"])
    return clips


def frame_total(clips: list[dict]) -> int:
    return sum(clip["last_video_frame"] - clip["first_video_frame"] + 1 for clip in clips)


def test_each_frame_is_inferred_once_per_model_and_stored_detections_are_reused_until_the_model_changes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    video: Path,
    tiny_detector_weights: Path,
    second_tiny_detector_weights: Path,
    frames_inferred: Counter,
) -> None:
    models = [tiny_detector_weights, second_tiny_detector_weights]
    ids = [UltralyticsDetector(path, imgsz=TINY_IMGSZ).model_id for path in models]
    run = engine(tmp_path / "home", monkeypatch, models)
    run("ingest", str(video))
    frames_inferred.clear()
    run("mine")
    clips = json.loads(run("clips", "--json").output)
    frames = frame_total(clips)
    assert len(clips) == 1 and frames == 150
    assert frames_inferred == {ids[0]: frames, ids[1]: frames}, "mining ran both models once on every frame"
    (mined,) = [
        event
        for event in json.loads(run("clip", "show", clips[0]["id"], "--json").output)["events"]
        if event["stage"] == "mine"
    ]
    assert mined["detail"]["frames_inferred"] == {ids[0]: frames, ids[1]: frames}

    frames_inferred.clear()
    for _ in range(2):
        run("autolabel", "--clip", clips[0]["id"])
    assert not frames_inferred, "autolabelling (twice) reads every frame back: no inference at all"

    clip_folder = Path(clips[0]["path"]).parent
    labels = read_labels(sorted((clip_folder / "labels").glob("v*.json"))[-1])
    fresh = autolabel_clip(clips[0]["path"], [UltralyticsDetector(path, imgsz=TINY_IMGSZ, conf=0.1) for path in models])
    assert [frame.to_dicts() for frame in labels.frames] == [frame.to_dicts() for frame in fresh.frames], (
        "labels from stored detections are the labels of inferring every frame afresh"
    )

    frames_inferred.clear()
    engine(tmp_path / "home", monkeypatch, models[1:])("autolabel", "--clip", clips[0]["id"])
    assert not frames_inferred, "the second model alone: its stored detections still apply"
    engine(tmp_path / "home", monkeypatch, models[1:], DATA_ENGINE_DETECTOR_CONF="0.2")(
        "autolabel", "--clip", clips[0]["id"]
    )
    assert frames_inferred == {ids[1]: frames}, "another confidence floor is another key: inferred again"
    retrained = tmp_path / "retrained.pt"
    retrained.write_bytes(tiny_detector_weights.read_bytes() + b"\0")  # same name and architecture, other content
    frames_inferred.clear()
    engine(tmp_path / "home", monkeypatch, [retrained])("autolabel", "--clip", clips[0]["id"])
    assert sum(frames_inferred.values()) == frames, "changed weights are another key: inferred again"
    stored = sorted((clip_folder / "detections").glob("*.parquet"))
    assert len(stored) == 4 and all(read_detections(path).frame_count == frames for path in stored)


def test_a_pool_worker_loads_the_detector_once_for_all_its_clips_of_mining_and_autolabelling(
    sqlite_catalog: Catalog, store: Store, tmp_path: Path, tiny_detector_weights: Path
) -> None:
    video = make_test_video(tmp_path / "keyframes every second.mp4", frames=150, gop=25)
    os.utime(video, (0, 0))
    (report,) = ingest(sqlite_catalog, store, [video], clip_seconds=2.0)
    compute_batch_features(StageContext(sqlite_catalog, store, Settings(), ProcessPoolBackend(1)), report.batch_key)
    detector = UltralyticsDetector(tiny_detector_weights, imgsz=TINY_IMGSZ, conf=0.1)
    sampled = MiningConfig(detect_all_frames=False)  # mining infers every 2nd frame, autolabelling the others
    with ProcessPoolBackend(1) as backend:
        context = StageContext(sqlite_catalog, store, Settings(), backend, [detector])
        mined = mine_batch_triggers(context, report.batch_key, config=sampled)
        labelled = autolabel_clips(context, sqlite_catalog.clips())
    assert mined.clips == labelled.clips == len(sqlite_catalog.clips()) >= 3
    (worker,) = mined.models_loaded
    assert worker != os.getpid() and mined.models_loaded == labelled.models_loaded == {worker: 1}, (
        "one load in the one worker, for every clip of both stages"
    )
    assert mined.frames_inferred == labelled.frames_inferred == {detector.model_id: 75}, "each frame inferred once"
    with ProcessPoolBackend(1) as fresh:
        context = StageContext(sqlite_catalog, store, Settings(), fresh, [detector])
        again = autolabel_clips(context, sqlite_catalog.clips())
    assert list(again.models_loaded.values()) == [0] and sum(again.frames_inferred.values()) == 0, (
        "a fresh worker replays the stored detections of every frame without loading the model"
    )
    assert again.boxes == labelled.boxes and again.tracks == labelled.tracks


@pytest.mark.slow
def test_on_dask_the_detectors_run_in_the_gpu_worker_with_the_in_process_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, video: Path, tiny_detector_weights: Path
) -> None:
    local = mine_and_autolabel(engine(tmp_path / "local", monkeypatch, [tiny_detector_weights]), video)
    local_hits = engine(tmp_path / "local", monkeypatch, [tiny_detector_weights])("triggers", "--json").output
    with dask_cluster(workers=2, resources=["GPU=1", None]) as address:
        run = engine(
            tmp_path / "dask",
            monkeypatch,
            [tiny_detector_weights],
            DATA_ENGINE_COMPUTE="dask",
            DATA_ENGINE_DASK_ADDRESS=address,
        )
        remote = mine_and_autolabel(run, video)
        remote_hits = run("triggers", "--json").output
        gpu_worker_pid = _pid_of_worker(address, "worker-0")
    assert gpu_worker_pid != os.getpid()
    assert json.loads(remote_hits) == json.loads(local_hits) and json.loads(remote_hits), "same hits"
    for here, there in zip(local, remote, strict=True):
        here_labels = read_labels(sorted((Path(here["path"]).parent / "labels").glob("v*.json"))[-1])
        there_folder = Path(there["path"]).parent
        there_labels = read_labels(sorted((there_folder / "labels").glob("v*.json"))[-1])
        assert [f.to_dicts() for f in there_labels.frames] == [f.to_dicts() for f in here_labels.frames]
        (stored,) = (read_detections(path) for path in (there_folder / "detections").glob("*.parquet"))
        assert {entry["pid"] for entry in stored.produced_by} == {gpu_worker_pid}, "inference ran in the GPU worker"
        assert sum(entry["frames"] for entry in stored.produced_by) == stored.frame_count


def _pid_of_worker(address: str, name: str) -> int:
    from distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client:
        pids = client.run(os.getpid)
        workers = client.scheduler_info(n_workers=-1)["workers"]
        return next(pids[worker] for worker, info in workers.items() if info.get("name") == name)
