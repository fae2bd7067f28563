"""The retraining loop through the `data-engine` commands a person runs, with tiny models on CPU: `train` prints
the model, its metrics and the gate's verdict; a useless first model stays out (quality floor); the champion is
named by its registry id everywhere and `doctor` reports it; `models show`, `models add`, `promote` and
`rollback`; round two brings a new class and a new video while the test split stays frozen."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from data_engine.autolabel.labels import LabelFile
from data_engine.cli import main
from data_engine.detections import Detections
from data_engine.runtime import Runtime
from data_engine.settings import Settings
from data_engine.synthetic import SyntheticVideo, generate
from data_engine.training.tiny import tiny_model_yaml
from tests.data_engine.datasets.reviewed import add_review, review_from_truth
from tests.model_fixtures import TINY_IMGSZ

ROUND_TWO_NAMES = {0: "car", 1: "person", 2: "van"}


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_detector_weights: Path):
    home = tmp_path / "home"
    monkeypatch.setenv("DATA_ENGINE_HOME", str(home))
    monkeypatch.delenv("DATA_ENGINE_CATALOG_URL", raising=False)
    monkeypatch.delenv("DATA_ENGINE_DETECTORS", raising=False)
    settings = {
        "TRAIN_MODEL": str(tiny_detector_weights),
        "TRAIN_EPOCHS": "2",
        "TRAIN_IMGSZ": str(TINY_IMGSZ),
        "DETECTOR_IMGSZ": str(TINY_IMGSZ),
        "GATE_MIN_MAP50": "0.05",
        "CLASSES": "car,person",
        "COMPUTE": "inprocess",
        "SETTLE_SECONDS": "0",
        "CLIP_SECONDS": "2",
    }
    for name, value in settings.items():
        monkeypatch.setenv(f"DATA_ENGINE_{name}", value)
    runner = CliRunner()

    def invoke(*args: str, expect: int = 0, env: dict[str, str] | None = None) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False, env=env)
        assert result.exit_code == expect, result.output
        return result.output

    return invoke


def _review_with_vans(runtime: Runtime, video: SyntheticVideo, every: int = 5) -> None:
    """A review in which the annotators use a new class: cars with an odd track id are `van`s."""
    truth = video.truth()
    (row,) = [row for row in runtime.catalog.videos() if Path(row.source_uri) == video.video_path]
    for clip in runtime.catalog.clips(video_id=row.id):
        count = clip.last_frame - clip.first_frame + 1
        frames = [Detections.empty(ROUND_TWO_NAMES)] * count
        for local in range(0, count, every):
            boxes = truth.boxes_at(clip.first_frame + local, min_visibility=0.4).with_names(ROUND_TWO_NAMES)
            vans = (boxes.class_id == 0) & (boxes.track_id % 2 == 1)
            frames[local] = Detections(
                boxes.xyxy, boxes.confidence, np.where(vans, 2, boxes.class_id), boxes.track_id, None, ROUND_TWO_NAMES
            )
        reviewed = {str(frame): {"annotator": "truth"} for frame in range(0, count, every)}
        labels = LabelFile(
            clip.id, 0, "review", count, truth.width, truth.height, ROUND_TWO_NAMES, tuple(frames),
            stats={"review": {"run_id": "round-two", "frames": reviewed}},
        )  # fmt: skip
        add_review(runtime.catalog, runtime.store, clip, labels)


def _test_images(output: str) -> int:
    return int(re.search(r"test (\d+) images", output).group(1))


def test_the_retraining_loop_through_the_cli(
    cli, tmp_path: Path, tiny_detector_weights: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    videos = [generate(tmp_path / "videos", seed=seed, seconds=4.0) for seed in (301, 302, 303, 304, 305)]
    cli("ingest", *(str(video.video_path) for video in videos[:4]))
    runtime = Runtime(Settings.from_env())
    for video in videos[:4]:
        review_from_truth(runtime.catalog, runtime.store, video, every=5)

    # a first model that learnt nothing (one epoch from scratch) is rejected by the quality floor: cold start stays
    from_scratch = {"DATA_ENGINE_TRAIN_MODEL": str(tiny_model_yaml(tmp_path)), "DATA_ENGINE_TRAIN_EPOCHS": "1"}
    first = cli("train", env=from_scratch)
    assert "dataset ds-0001 (new): train " in first and "training finished: 1 epochs on cpu" in first
    assert "gate: rejected: mAP50 0.0000 on the test split of ds-0001 is below the quality floor" in first
    (useless,) = json.loads(cli("models", "--json"))
    assert useless["status"] == "rejected" and "quality floor" in useless["reason"]
    assert "no champion in the registry: cold start" in cli("doctor")

    # starting from a team's tiny detector, the first champion: model, metrics and verdict are printed
    capfd.readouterr()
    trained = cli("train")
    written = capfd.readouterr()
    assert "Ultralytics" not in written.out + written.err, "Ultralytics' own output stays in the run's log"
    model_id = re.search(r"^model (m-\S+)$", trained, re.MULTILINE).group(1)
    assert re.search(r"test split of ds-0001 \(\d+ images\): mAP50 0\.\d{3}, mAP50-95 0\.\d{3}", trained)
    assert re.search(r"class car +mAP50 \d\.\d{3}  mAP50-95", trained) and "class person" in trained
    assert "gate: promoted to champion (first model above the quality floor)" in trained
    frozen_test = _test_images(trained)
    listed = {row["id"]: row for row in json.loads(cli("models", "--json"))}
    assert listed[model_id]["status"] == "champion" and listed[useless["id"]]["status"] == "rejected"

    # one id everywhere: doctor, autolabel output and label files name the champion as `models` does
    doctor = cli("doctor")
    assert f"the registry's champion {model_id}" in doctor and "weights verified: in use" in doctor
    clip_id = json.loads(cli("clips", "--json", "--status", "in_dataset"))[0]["id"]
    assert f"with {model_id} at" in cli("autolabel", "--clip", clip_id)
    assert json.loads(cli("labels", "show", clip_id, "--json"))["models"] == [model_id]
    events = json.loads(cli("clip", "show", clip_id, "--json"))["events"]
    assert events[-1]["stage"] == "autolabel" and events[-1]["from"] == events[-1]["to"] == "in_dataset"

    # a model trained elsewhere is added, measured on the frozen test split, promoted, rolled back
    # (at the size it was trained at, whatever DATA_ENGINE_TRAIN_IMGSZ says)
    added = cli(
        "models", "add", str(tiny_detector_weights), "--id", "team-model", env={"DATA_ENGINE_TRAIN_IMGSZ": "640"}
    )
    assert "model team-model added from" in added and "test split of ds-0001" in added
    assert "registered as challenger" in added
    shown = json.loads(cli("models", "show", "team-model", "--json"))
    assert shown["source"] == str(tiny_detector_weights.resolve()) and shown["evaluation"]["images"] == frozen_test
    assert shown["evaluation"]["imgsz"] == TINY_IMGSZ
    assert set(shown["evaluation"]["per_class"]) == {"car", "person"} and shown["evaluation"]["per_slice"]
    assert f"team-model is the champion; {model_id} is retired" in cli("promote", "team-model", "--note", "try it")
    rolled = cli("rollback", "--note", "worse at night")
    assert f"rolled back: {model_id} is the champion again; team-model is rolled_back" in rolled
    assert "no earlier champion to roll back to" in cli("rollback", expect=2), "never back to team-model"
    statuses = {row["id"]: row["status"] for row in json.loads(cli("models", "--json"))}
    assert statuses == {useless["id"]: "rejected", model_id: "champion", "team-model": "rolled_back"}
    text = cli("models", "show", model_id)
    assert f"model {model_id}: champion, reinstated by cli:" in text and "rolled back" not in text.splitlines()[0]
    assert "gate: promoted to champion (first model above the quality floor)" in text and "class person" in text

    # round two: a new video and a new class; the test split stays the same images
    cli("ingest", str(videos[4].video_path))
    for video in videos:
        _review_with_vans(runtime, video)
    second = cli("train", env={"DATA_ENGINE_TRAIN_EPOCHS": "1"})
    assert "dataset ds-0002 (new)" in second and _test_images(second) == frozen_test
    assert "new-test images (test videos' frames reviewed after the split froze" not in second
    assert "class van" in second and re.search(r"gate: (promoted to champion|rejected: )", second)
    assert "note: new class 'van' (the champion does not know it)" in second
    challenger = re.search(r"^model (m-\S+)$", second, re.MULTILINE).group(1)
    document = json.loads(cli("models", "show", challenger, "--json"))
    assert document["parent"] == model_id and document["lineage"][0]["id"] == model_id
    assert document["gate"]["champion_id"] == model_id and document["training_run"]["epochs"] == 1
    assert "van" in document["evaluation"]["per_class"]
    runtime.catalog.dispose()
