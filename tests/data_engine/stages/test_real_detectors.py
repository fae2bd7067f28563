"""The real pretrained detectors of ../shared/models through what a user runs: `data-engine run` on the sample
videos mines with the model's triggers and writes person labels; `data-engine evaluate` on TUD-Campus reproduces
the models' published raw figures (the decoders are right) and fuses both; the two models disagree on the crowd."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_engine.autolabel.labels import read_latest_labels
from data_engine.catalog import Catalog
from data_engine.mining.model_triggers import DETECTION_TRIGGERS
from data_engine.store import Store
from tests.conftest import SAMPLE_VIDEOS

MODELS = SAMPLE_VIDEOS.parent / "models"
TUD = SAMPLE_VIDEOS.parent / "sequences" / "TUD-Campus"
YOLOX, FASTESTDET = MODELS / "yolox_nano.onnx", MODELS / "fastestdet.onnx"
MODEL_TRIGGERS = set(DETECTION_TRIGGERS)
pytestmark = pytest.mark.skipif(not YOLOX.is_file(), reason=f"the pretrained ONNX detectors are not in {MODELS}")

PUBLISHED = {  # ../shared/models/README.md: person class, IoU 0.5, raw boxes at confidence 0.25
    "yolox_nano": {"precision": 0.553, "recall": 0.780, "ap50": 0.743},
    "fastestdet": {"precision": 0.232, "recall": 0.802, "ap50": 0.774},
}


def _engine(home: Path, *args: str, detectors: str) -> subprocess.CompletedProcess:
    environment = {
        **os.environ,
        "DATA_ENGINE_HOME": str(home),
        "DATA_ENGINE_DETECTORS": detectors,
        "DATA_ENGINE_CLASSES": "person",
        "YOLO_OFFLINE": "1",
    }
    environment.pop("DATA_ENGINE_CATALOG_URL", None)
    command = [str(Path(sys.executable).parent / "data-engine"), *args]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=900)


def test_run_on_the_sample_videos_with_yolox_mines_with_the_model_and_labels_persons(tmp_path: Path) -> None:
    home = tmp_path / "home"
    result = _engine(home, "run", str(SAMPLE_VIDEOS), detectors=str(YOLOX))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "model in use: yolox_nano-" in result.stdout
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    store = Store(str(home / "store"))
    try:
        assert MODEL_TRIGGERS & {hit.trigger for hit in catalog.hits()}
        labelled = [clip for clip in catalog.clips() if clip.status in ("autolabelled", "pushed")]
        assert labelled
        boxes = 0
        for clip in labelled:
            labels = read_latest_labels(store.fetch(clip.path).parent)
            assert labels is not None and labels.names == {0: "person"}
            boxes += sum(len(frame) for frame in labels.frames)
        assert boxes > 0
    finally:
        catalog.dispose()


def _evaluated(tmp_path: Path, detectors: str) -> dict:
    result = _engine(tmp_path / "home", "evaluate", str(TUD), "--json", detectors=detectors)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.parametrize("model", ["yolox_nano", "fastestdet"])
def test_evaluate_on_tud_campus_reproduces_each_models_published_raw_figures(tmp_path: Path, model: str) -> None:
    report = _evaluated(tmp_path, str(MODELS / f"{model}.onnx"))
    (raw,) = [scores for source, scores in report["detection"].items() if source.startswith(f"raw {model}")]
    for key, published in PUBLISHED[model].items():
        assert raw[key] == pytest.approx(published, abs=0.01), (key, raw)


def _never_worse(report: dict) -> None:
    """Hindsight's labels beat the best raw model's F1 and ByteTrack's HOTA and IDF1 on the same boxes."""
    best_raw = max(scores["f1"] for source, scores in report["detection"].items() if source.startswith("raw "))
    assert report["detection"]["hindsight"]["f1"] >= best_raw
    for figure in ("hota", "idf1"):
        assert report["tracking"]["hindsight"][figure] >= report["tracking"]["bytetrack"][figure], figure


@pytest.mark.parametrize("model", ["yolox_nano", "fastestdet"])
def test_hindsight_with_each_real_model_is_never_worse_than_raw_boxes_or_bytetrack(tmp_path: Path, model: str) -> None:
    _never_worse(_evaluated(tmp_path, str(MODELS / f"{model}.onnx")))


def test_evaluate_with_both_models_reports_both_raw_rows_and_the_fused_hindsight_row(tmp_path: Path) -> None:
    report = _evaluated(tmp_path, f"{YOLOX},{FASTESTDET}")
    _never_worse(report)
    sources = set(report["detection"])
    assert {source.split("-")[0] for source in sources if source.startswith("raw ")} == {
        "raw yolox_nano",
        "raw fastestdet",
    }
    assert "hindsight" in sources and "hindsight" in report["tracking"]


def test_the_two_real_models_disagree_on_the_crowd_video(tmp_path: Path) -> None:
    inbox = tmp_path / "videos"
    inbox.mkdir()
    (inbox / "crowd.avi").symlink_to(SAMPLE_VIDEOS / "crowd_overhead_720p.avi")
    home = tmp_path / "home"
    result = _engine(home, "run", str(inbox), detectors=f"{YOLOX},{FASTESTDET}")
    assert result.returncode == 0, result.stderr[-2000:]
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    try:
        assert [hit for hit in catalog.hits() if hit.trigger == "model_disagreement"]
    finally:
        catalog.dispose()


def test_an_onnx_model_added_as_champion_mines_and_labels_the_next_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    added = _engine(home, "models", "add", str(YOLOX), "--id", "yolox-shipped", "--promote", detectors="")
    assert added.returncode == 0, added.stderr[-2000:]
    gated = _engine(home, "models", "add", str(FASTESTDET), "--gate", detectors="")
    assert gated.returncode == 2 and "reads Ultralytics models only" in gated.stderr
    inbox = tmp_path / "videos"
    inbox.mkdir()
    (inbox / "crowd.avi").symlink_to(SAMPLE_VIDEOS / "crowd_overhead_720p.avi")
    result = _engine(home, "run", str(inbox), detectors="")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "model in use: yolox-shipped" in result.stdout
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    try:
        assert MODEL_TRIGGERS & {hit.trigger for hit in catalog.hits()}
    finally:
        catalog.dispose()
