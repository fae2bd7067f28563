"""UltralyticsDetector on a real tiny checkpoint: batched inference, class mapping and clear loading errors."""

from dataclasses import replace

import numpy as np
import pytest
from ultralytics import YOLO

from data_engine.detections import Detections
from data_engine.detectors import Detector, DetectorError, UltralyticsDetector, check_same_classes
from data_engine.video.frames import iter_frames
from tests.model_fixtures import TINY_IMGSZ


@pytest.fixture(scope="module")
def frames(proving_ground):
    video = proving_ground.val[0]
    return [frame.image for frame in iter_frames(video.video_path) if frame.index < 20]


def test_batched_predictions_match_ultralytics_and_carry_provenance(tiny_detector_weights, frames):
    detector = UltralyticsDetector(tiny_detector_weights, imgsz=TINY_IMGSZ, conf=0.25, batch=8)
    assert isinstance(detector, Detector)
    assert detector.device == "cpu" and detector.half is False
    assert detector.names == {0: "car", 1: "person"}
    assert detector.model_id.startswith("best-") and detector.params["imgsz"] == TINY_IMGSZ
    ours = detector.predict(frames)
    assert len(ours) == len(frames) and all(isinstance(d, Detections) for d in ours)
    assert sum(len(d) for d in ours) > 0, "the tiny model should find something in 20 frames"
    reference = YOLO(str(tiny_detector_weights)).predict(frames[:3], imgsz=TINY_IMGSZ, conf=0.25, verbose=False)
    for mine, theirs in zip(ours[:3], reference, strict=True):
        np.testing.assert_allclose(mine.xyxy, theirs.boxes.xyxy.numpy(), atol=1.0)
    box_provenance = next(d for d in ours if len(d)).provenance[0]
    assert box_provenance.kind == "detected" and box_provenance.models == (detector.model_id,)


def test_class_map_renames_and_drops_classes(tiny_detector_weights, frames):
    plain = UltralyticsDetector(tiny_detector_weights, imgsz=TINY_IMGSZ)
    renamed = UltralyticsDetector(
        tiny_detector_weights, imgsz=TINY_IMGSZ, class_map={"person": "pedestrian"}, names={0: "pedestrian"}
    )
    assert renamed.names == {0: "pedestrian"}
    with pytest.raises(DetectorError, match=r"different classes.*class_map"):
        check_same_classes([plain, renamed])
    before, after = plain.predict(frames), renamed.predict(frames)
    for original, mapped in zip(before, after, strict=True):
        assert len(mapped) == int(np.sum(original.class_id == 1))
        assert set(mapped.class_id.tolist()) <= {0}
    with pytest.raises(DetectorError, match="does not have"):
        UltralyticsDetector(tiny_detector_weights, class_map={"bus": "car"})


def test_missing_official_weights_fail_fast_offline(monkeypatch):
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    with pytest.raises(DetectorError, match=r"set DATA_ENGINE_DETECTORS to a local \.pt file"):
        UltralyticsDetector("yolo11n.pt")


def test_missing_local_weights_and_corrupt_weights_name_the_file(tmp_path):
    with pytest.raises(DetectorError, match=r"nowhere/best\.pt not found locally"):
        UltralyticsDetector(tmp_path / "nowhere" / "best.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"this is not a checkpoint" * 100)
    with pytest.raises(DetectorError, match=f"cannot load detector weights {corrupt}: corrupt"):
        UltralyticsDetector(corrupt)
    with pytest.raises(DetectorError, match="batch must be at least 1"):
        UltralyticsDetector(corrupt, batch=0)


def test_no_detector_is_a_configuration_error():
    with pytest.raises(DetectorError, match="at least one"):
        check_same_classes([])


def test_a_spec_refuses_weights_that_differ_from_the_ones_the_run_started_with(tiny_detector_weights):
    spec = UltralyticsDetector(tiny_detector_weights, imgsz=TINY_IMGSZ).spec
    assert spec.load().checksum == spec.checksum
    with pytest.raises(DetectorError, match="differs on this worker"):
        replace(spec, checksum="0" * 64).load()
