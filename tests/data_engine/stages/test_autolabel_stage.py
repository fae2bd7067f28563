"""The autolabel stage on the sample videos with a tiny detector trained by the test session."""

import json
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from data_engine.autolabel import HindsightParams, read_labels
from data_engine.catalog import Catalog, ClipState
from data_engine.cli import main
from data_engine.context import StageContext
from data_engine.detectors import UltralyticsDetector
from data_engine.settings import Settings
from data_engine.stages.autolabel import autolabel_clips, write_boxes_table
from data_engine.store import Store
from tests.data_engine.stages.test_ingest_stage import _age, ingest


@pytest.fixture(scope="module")
def detector(tiny_detector_weights: Path) -> UltralyticsDetector:
    return UltralyticsDetector(tiny_detector_weights, imgsz=160, conf=0.1)


def test_both_sample_videos_are_autolabelled_end_to_end(
    sqlite_catalog: Catalog, store: Store, sample_videos: Path, detector: UltralyticsDetector
) -> None:
    ingest(sqlite_catalog, store, [sample_videos])
    clips = sqlite_catalog.clips()
    context = StageContext(sqlite_catalog, store, Settings(), detectors=[detector], run_id="run-a")
    report = autolabel_clips(context, clips, params=HindsightParams(every=2))
    assert report.failed == {} and report.clips == len(clips)
    assert report.frames == 341 + 1571
    for clip in sqlite_catalog.clips():
        assert clip.status == ClipState.AUTOLABELLED
        labels = read_labels(store.local_path(report.label_keys[clip.id]))
        assert labels.frame_count == clip.last_frame - clip.first_frame + 1
        assert labels.version == 1 and labels.kind == "autolabel"
        event = sqlite_catalog.history(clip.id)[-1]
        assert (event.stage, event.to_state, event.run_id) == ("autolabel", "autolabelled", "run-a")
        assert event.detail["models"] == [detector.model_id]
    (batch,) = sqlite_catalog.batch_keys()
    table = pq.read_table(store.local_path(write_boxes_table(sqlite_catalog, store, batch)))
    assert table.num_rows == report.boxes

    again = autolabel_clips(StageContext(sqlite_catalog, store, Settings(), detectors=[detector]), clips[:1])
    assert again.label_keys[clips[0].id].endswith("labels/v0002.json")
    assert [v.version for v in sqlite_catalog.label_versions(clips[0].id)] == [1, 2], "versions are kept"
    assert store.local_path(report.label_keys[clips[0].id]).exists()


def test_an_all_black_clip_gets_no_boxes_and_no_crash(
    sqlite_catalog: Catalog, store: Store, tmp_path: Path, detector: UltralyticsDetector
) -> None:
    black = tmp_path / "black.mp4"
    with av.open(str(black), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for _ in range(50):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((240, 320, 3), np.uint8), format="bgr24")))
        container.mux(stream.encode(None))
    ingest(sqlite_catalog, store, [_age(black)])
    context = StageContext(sqlite_catalog, store, Settings(), detectors=[detector])
    report = autolabel_clips(context, sqlite_catalog.clips())
    assert report.failed == {} and report.frames == 50 and report.boxes == 0


def test_cli_autolabel_and_labels_show(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_detector_weights: Path
) -> None:
    from tests.videos import make_test_video

    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    video = _age(make_test_video(tmp_path / "v.mp4", frames=40, gop=20))
    assert runner.invoke(main, ["ingest", str(video)]).exit_code == 0
    clip_id = json.loads(runner.invoke(main, ["clips", "--json"]).output)[0]["id"]

    unconfigured = runner.invoke(main, ["autolabel", "--clip", clip_id])
    assert unconfigured.exit_code == 2 and "set DATA_ENGINE_DETECTORS" in unconfigured.output

    monkeypatch.setenv("DATA_ENGINE_DETECTORS", str(tmp_path / "missing.pt"))
    missing = runner.invoke(main, ["autolabel", "--clip", clip_id])
    assert missing.exit_code == 2 and "missing.pt" in missing.output and "Traceback" not in missing.output

    monkeypatch.setenv("DATA_ENGINE_DETECTORS", str(tiny_detector_weights))
    monkeypatch.setenv("DATA_ENGINE_DETECTOR_IMGSZ", "160")
    labelled = runner.invoke(main, ["autolabel", "--clip", clip_id])
    assert labelled.exit_code == 0, labelled.output
    assert "autolabelled 1 clips (40 frames" in labelled.output
    shown = json.loads(runner.invoke(main, ["labels", "show", clip_id, "--json"]).output)
    assert shown["frames"] == 40 and shown["version"] == 1 and shown["kind"] == "autolabel"
    assert [v["kind"] for v in shown["versions"]] == ["autolabel"]
