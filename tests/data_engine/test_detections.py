"""Detections: validation, indexing, merging and round trips through every edge format."""

import json

import numpy as np
import pytest

from data_engine.detections import (
    Detections,
    DetectionsError,
    Provenance,
    from_coco,
    from_label_studio,
    from_yolo,
    to_coco,
    to_label_studio,
    to_yolo,
)

NAMES = {0: "car", 1: "person"}
WIDTH, HEIGHT = 320, 240


def sample() -> Detections:
    return Detections(
        xyxy=np.array([[10, 20, 60, 80], [100.5, 30.25, 180, 200], [0, 0, 320, 240]]),
        confidence=np.array([0.9, 0.45, 0.2]),
        class_id=np.array([0, 1, 1]),
        track_id=np.array([3, -1, 7]),
        provenance=[
            Provenance("detected", ("a",)),
            Provenance("fused", ("a", "b"), 2),
            Provenance("interpolated"),
        ],
        names=NAMES,
    )


def assert_same_boxes(left: Detections, right: Detections, tolerance: float = 1.0) -> None:
    assert len(left) == len(right)
    np.testing.assert_allclose(left.xyxy, right.xyxy, atol=tolerance)
    np.testing.assert_array_equal(left.class_id, right.class_id)


def test_indexing_masks_and_confidence_filter():
    detections = sample()
    assert len(detections) == 3
    assert len(detections[0]) == 1 and detections[0].class_id.tolist() == [0]
    assert detections[1:].track_id.tolist() == [-1, 7]
    kept = detections[detections.class_id == 1]
    assert kept.provenance[0].kind == "fused" and kept.provenance[1].kind == "interpolated"
    assert detections.with_min_confidence(0.4).confidence.tolist() == pytest.approx([0.9, 0.45])
    assert detections.names == NAMES


def test_empty_keeps_names_and_concat_merges():
    empty = Detections.empty(NAMES)
    assert len(empty) == 0 and empty.names == NAMES and empty.xyxy.shape == (0, 4)
    merged = Detections.concat([sample(), empty, sample()[0]])
    assert len(merged) == 4 and merged.track_id.tolist() == [3, -1, 7, 3]
    assert len(Detections.concat([], NAMES)) == 0


def test_concat_refuses_conflicting_names():
    other = sample().with_names({0: "truck", 1: "person"})
    with pytest.raises(DetectionsError, match=r"class 0 is 'car'.*'truck'"):
        Detections.concat([sample(), other])


@pytest.mark.parametrize(
    ("confidence", "message"),
    [([float("nan")], "confidence"), ([1.5], "confidence"), ([-0.1], "confidence")],
)
def test_bad_scores_raise(confidence, message):
    with pytest.raises(DetectionsError, match=message):
        Detections(np.array([[0, 0, 1, 1]]), np.array(confidence), np.array([0]))


def test_bad_boxes_raise():
    with pytest.raises(DetectionsError, match="finite"):
        Detections(np.array([[0, np.nan, 1, 1]]), np.array([0.5]), np.array([0]))
    with pytest.raises(DetectionsError, match="x2 >= x1"):
        Detections(np.array([[5, 0, 1, 1]]), np.array([0.5]), np.array([0]))
    with pytest.raises(DetectionsError, match="one per box"):
        Detections(np.array([[0, 0, 1, 1]]), np.array([0.5, 0.2]), np.array([0]))
    with pytest.raises(DetectionsError, match="provenance kind"):
        Provenance("guessed")


def test_label_file_dicts_round_trip():
    detections = sample()
    boxes = json.loads(json.dumps(detections.to_dicts()))
    back = Detections.from_dicts(boxes, NAMES)
    assert_same_boxes(detections, back, tolerance=0.01)
    assert back.track_id.tolist() == [3, -1, 7]
    assert [p.kind for p in back.provenance] == ["detected", "fused", "interpolated"]
    assert back.provenance[1] == Provenance("fused", ("a", "b"), 2)
    assert len(Detections.from_dicts([], NAMES)) == 0
    with pytest.raises(DetectionsError, match="lacks a field"):
        Detections.from_dicts([{"score": 0.5}], NAMES)


def test_coco_round_trip():
    frames = [sample(), Detections.empty(NAMES), sample()[1:]]
    coco = json.loads(json.dumps(to_coco(frames, WIDTH, HEIGHT)))
    assert {c["name"] for c in coco["categories"]} == {"car", "person"}
    assert coco["annotations"][1]["bbox"] == pytest.approx([100.5, 30.25, 79.5, 169.75])
    back = from_coco(coco)
    assert len(back) == 3
    for original, restored in zip(frames, back, strict=True):
        assert_same_boxes(original, restored)
        np.testing.assert_allclose(original.confidence, restored.confidence, atol=1e-6)
    assert back[0].names == NAMES
    with pytest.raises(DetectionsError, match="COCO"):
        from_coco({"annotations": []})


def test_yolo_round_trip():
    detections = sample()
    text = to_yolo(detections, WIDTH, HEIGHT)
    assert text.splitlines()[0].split()[0] == "0" and len(text.splitlines()) == 3
    assert_same_boxes(detections, from_yolo(text, WIDTH, HEIGHT, NAMES))
    with_conf = from_yolo(to_yolo(detections, WIDTH, HEIGHT, with_confidence=True), WIDTH, HEIGHT, NAMES)
    np.testing.assert_allclose(with_conf.confidence, detections.confidence, atol=1e-5)
    assert to_yolo(Detections.empty(NAMES), WIDTH, HEIGHT) == ""
    assert len(from_yolo("\n", WIDTH, HEIGHT, NAMES)) == 0
    with pytest.raises(DetectionsError, match="line 1 has 3 fields"):
        from_yolo("0 0.5 0.5", WIDTH, HEIGHT, NAMES)
    with pytest.raises(DetectionsError, match="not numeric"):
        from_yolo("car 0.5 0.5 0.1 0.1", WIDTH, HEIGHT, NAMES)


def test_label_studio_round_trip():
    detections = sample()
    prediction = json.loads(json.dumps(to_label_studio(detections, WIDTH, HEIGHT, model_version="m1")))
    first = prediction["result"][0]
    assert first["type"] == "rectanglelabels" and first["original_width"] == WIDTH
    assert first["value"]["rectanglelabels"] == ["car"] and first["value"]["x"] == pytest.approx(10 / WIDTH * 100)
    assert prediction["model_version"] == "m1"
    back = from_label_studio(prediction, NAMES)
    assert_same_boxes(detections, back)
    np.testing.assert_allclose(back.confidence, detections.confidence, atol=1e-6)
    reviewed = [dict(result) for result in prediction["result"]]
    for result in reviewed:
        result.pop("score")
    assert from_label_studio(reviewed, NAMES).confidence.tolist() == [1.0, 1.0, 1.0]
    with pytest.raises(DetectionsError, match="'bus' is not a known class"):
        bad = json.loads(json.dumps(prediction))
        bad["result"][0]["value"]["rectanglelabels"] = ["bus"]
        from_label_studio(bad, NAMES)
