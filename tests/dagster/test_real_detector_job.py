"""`process_new_videos`, the Dagster job the inbox sensor launches, with the real YOLOX-Nano from ../shared/models
bound from the environment as the product's definitions bind it: model-level trigger hits, person labels."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from data_engine.autolabel.labels import read_latest_labels
from data_engine.catalog import Catalog
from data_engine.mining.model_triggers import DETECTION_TRIGGERS
from data_engine.store import Store
from tests.concurrency import settled_inbox
from tests.conftest import SAMPLE_VIDEOS
from tests.dagster.engine import record_batch

REPO = Path(__file__).resolve().parents[2]
YOLOX = SAMPLE_VIDEOS.parent / "models" / "yolox_nano.onnx"
MODEL_TRIGGERS = set(DETECTION_TRIGGERS)


@pytest.mark.skipif(not YOLOX.is_file(), reason=f"the pretrained ONNX detector is not at {YOLOX}")
def test_process_new_videos_mines_and_labels_with_the_real_onnx_detector(tmp_path: Path, sample_videos: Path) -> None:
    home, url = tmp_path / "home", f"sqlite:///{tmp_path / 'home' / 'catalog.db'}"
    inbox = settled_inbox(tmp_path, sample_videos)
    key = record_batch(home, url, inbox)
    start = tmp_path / "start"
    start.touch()
    environment = {
        **os.environ,
        "DATA_ENGINE_HOME": str(home),
        "DATA_ENGINE_CATALOG_URL": url,
        "DATA_ENGINE_DETECTORS": str(YOLOX),
        "DATA_ENGINE_CLASSES": "person",
        "DATA_ENGINE_CLIP_SECONDS": "2",
    }
    launched = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.dagster.launch_batch",
            key,
            str(tmp_path / "r"),
            str(start),
        ],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    catalog, store = Catalog(url), Store(str(home / "store"))
    try:
        assert MODEL_TRIGGERS & {hit.trigger for hit in catalog.hits()}
        labelled = [clip for clip in catalog.clips() if clip.status in ("autolabelled", "pushed")]
        labels = [read_latest_labels(store.fetch(clip.path).parent) for clip in labelled]
        assert labels and all(found is not None and found.names == {0: "person"} for found in labels)
        assert sum(len(frame) for found in labels if found is not None for frame in found.frames) > 0
    finally:
        catalog.dispose()
