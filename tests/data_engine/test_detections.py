"""Detections: validation, indexing, merging, label-file dicts, and the one IoU matcher."""

import json

import numpy as np
import pytest

from data_engine.detections import Detections, DetectionsError, Provenance, box_iou, match_boxes

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


def test_match_boxes_is_one_to_one_and_optimal():
    first = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [100, 100, 110, 110]], np.float32)
    second = np.array([[21, 0, 31, 10], [1, 0, 11, 10], [0, 0, 9, 10]], np.float32)
    matched = match_boxes(first, second, 0.5)
    pairs = sorted(zip(matched.first.tolist(), matched.second.tolist(), strict=True))
    assert len(pairs) == 2 and dict(pairs)[1] == 0, "each box pairs with at most one, the far box with none"
    total = box_iou(first, second)[matched.first, matched.second].sum()
    assert total == pytest.approx(matched.iou.sum())
    assert len(match_boxes(first, np.zeros((0, 4)))) == 0 and len(match_boxes(np.zeros((0, 4)), second)) == 0


def test_match_boxes_with_classes_pairs_only_the_same_class():
    boxes = np.array([[0, 0, 10, 10]], np.float32)
    assert len(match_boxes(boxes, boxes, 0.5, np.array([0]), np.array([1]))) == 0
    assert len(match_boxes(boxes, boxes, 0.5, np.array([1]), np.array([1]))) == 1
    assert len(match_boxes(boxes, boxes, 0.5)) == 1, "class-agnostic without class arrays"
