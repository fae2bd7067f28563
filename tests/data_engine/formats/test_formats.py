"""Every exchange format: canonical Detections saved and loaded back, reviewed marks, and files that hold what a
person or a tool can put in them (malformed values are refused one by one, never a traceback)."""

import json
from pathlib import Path

import numpy as np
import pytest

from data_engine.detections import Detections
from data_engine.formats import (
    Box,
    FormatError,
    ImageDetections,
    coco,
    cvat,
    image_stem,
    labelstudio,
    to_detections,
    yolo,
)
from tests.data_engine.test_detections import HEIGHT, NAMES, WIDTH, sample


def images() -> list[ImageDetections]:
    return [
        ImageDetections("images/a.jpg", WIDTH, HEIGHT, sample(), reviewed=True),
        ImageDetections("images/b.jpg", WIDTH, HEIGHT, Detections.empty(NAMES), reviewed=False),
        ImageDetections("images/c.jpg", WIDTH, HEIGHT, sample()[1:]),
    ]


def assert_same(original: Detections, boxes: tuple[Box, ...], tolerance: float = 0.01) -> None:
    back, problems = to_detections(boxes, NAMES, WIDTH, HEIGHT)
    assert not problems
    assert len(back) == len(original)
    np.testing.assert_allclose(back.xyxy, original.xyxy, atol=tolerance)
    np.testing.assert_array_equal(back.class_id, original.class_id)


def test_coco_save_and_load(tmp_path: Path) -> None:
    path = coco.save(images(), NAMES, tmp_path / "a.json")
    data = json.loads(path.read_text())
    assert data["annotations"][1]["bbox"] == pytest.approx([100.5, 30.25, 79.5, 169.75])
    loaded = coco.load(path)
    assert [image.reviewed for image in loaded.images] == [True, False, None]
    for original, image in zip(images(), loaded.images, strict=True):
        assert_same(original.detections, image.boxes)
    assert loaded.images[0].boxes[0].score == pytest.approx(0.9)


def test_coco_malformed_annotations_are_refused_one_by_one(tmp_path: Path) -> None:
    data = coco.to_dict(images(), NAMES)
    data["annotations"] += [
        {"image_id": 0, "category_id": 0, "bbox": [1, 2, "x", 4]},
        {"image_id": 0, "category_id": 0, "bbox": [1, 2, 3, 4], "score": "high"},
        {"image_id": 0, "category_id": 0, "bbox": {"x": 1}},
        "not an annotation",
        {"image_id": 99, "category_id": 0, "bbox": [1, 2, 3, 4]},
    ]
    (tmp_path / "c.json").write_text(json.dumps(data))
    loaded = coco.load(tmp_path / "c.json")
    assert len(loaded.problems) == 5 and loaded.images[0].refused == 3
    assert any("score 'high' is not a number" in p.reason for p in loaded.problems)
    assert any("unknown image id 99" in p.reason for p in loaded.problems)
    with pytest.raises(FormatError, match="not a COCO"):
        coco.from_dict({"annotations": []})


def test_yolo_save_and_load_with_a_val_split(tmp_path: Path) -> None:
    yolo.save(images(), NAMES, tmp_path, val={"images/c.jpg"})
    document = read_yaml(tmp_path / yolo.DATA_FILE)
    assert document == {"train": "train.txt", "val": "val.txt", "names": {0: "car", 1: "person"}}
    assert (tmp_path / "train.txt").read_text().split() == ["./images/a.jpg", "./images/b.jpg"]
    assert (tmp_path / "val.txt").read_text().split() == ["./images/c.jpg"]
    loaded = yolo.load(tmp_path, {"a": (WIDTH, HEIGHT), "b": (WIDTH, HEIGHT), "c": (WIDTH, HEIGHT)})
    for original, image in zip(images(), loaded.images, strict=True):
        assert_same(original.detections, image.boxes, tolerance=0.01)
    assert all(image.reviewed is None for image in loaded.images), "YOLO has no reviewed mark"


def test_yolo_without_val_and_malformed_lines(tmp_path: Path) -> None:
    yolo.save(images()[:1], NAMES, tmp_path)
    assert "val" not in read_yaml(tmp_path / yolo.DATA_FILE) and not (tmp_path / "val.txt").exists()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5\ncar 0.5 0.5 0.1 0.1\n1 0.5 0.5 0.2 0.2\n")
    (tmp_path / "classes.txt").unlink()
    loaded = yolo.load(tmp_path, {"a": (WIDTH, HEIGHT)})
    assert [p.reason.split(":")[0] for p in loaded.problems] == ["line 1", "line 2"]
    assert [box.label for box in loaded.images[0].boxes] == ["person"], "names from data.yaml"
    assert loaded.images[0].refused == 2


def read_yaml(path: Path) -> object:
    import yaml

    return yaml.safe_load(path.read_text())


def test_cvat_save_and_load_with_reviewed_tags(tmp_path: Path) -> None:
    path = cvat.save(images(), NAMES, tmp_path / "a.xml", "task")
    assert "<tag" in path.read_text() and "<type>tag</type>" in path.read_text()
    loaded = cvat.load(path)
    assert [image.reviewed for image in loaded.images] == [True, False, False]
    for original, image in zip(images(), loaded.images, strict=True):
        assert_same(original.detections, image.boxes)
    path.write_text(path.read_text().replace('xtl="10.00"', 'xtl="ten"', 1))
    reloaded = cvat.load(path)
    assert len(reloaded.problems) == 1 and reloaded.images[0].refused == 1
    (tmp_path / "b.xml").write_text("<annotations><image name=")
    with pytest.raises(FormatError, match="malformed or truncated XML"):
        cvat.load(tmp_path / "b.xml")


def test_label_studio_tasks_predictions_are_never_answers(tmp_path: Path) -> None:
    task = labelstudio.to_task("/data/local-files/?d=x%2Fa.jpg", {"frame_key": "k"}, sample(), WIDTH, HEIGHT, "m1")
    prediction = task["predictions"][0]
    assert prediction["model_version"] == "m1" and prediction["result"][0]["original_width"] == WIDTH
    image, problems = labelstudio.from_task(json.loads(json.dumps(task)))
    assert not problems and image.reviewed is False and image.boxes == ()
    assert image.predictions is not None
    assert_same(sample(), image.predictions)
    answer = labelstudio.to_results(sample(), WIDTH, HEIGHT, with_scores=False)
    task["annotations"] = [
        {"id": 1, "result": [], "was_cancelled": False, "updated_at": "2026-01-01T00:00:00Z", "completed_by": 3},
        {"id": 2, "result": answer, "updated_at": "2026-01-02T00:00:00Z", "completed_by": 3, "lead_time": "7.5"},
        {"id": 3, "result": [], "was_cancelled": True, "updated_at": "2026-01-03T00:00:00Z"},
    ]
    image, problems = labelstudio.from_task(task, annotator_names={3: "anna@example.org"})
    assert image.reviewed and image.answer.annotation_id == "2" and image.answer.annotator == "anna@example.org"
    assert image.answer.lead_time_s == 7.5 and [box.score for box in image.boxes] == [1.0, 1.0, 1.0]
    assert_same(sample(), image.boxes)
    labelstudio.save([task], tmp_path / "t.json")
    assert labelstudio.load(tmp_path / "t.json").images[0].reviewed


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        ("a string", "is not an object"),
        ({"type": "rectanglelabels", "value": [1, 2]}, "value [1, 2] is not an object"),
        ({"type": "choices", "value": {"choices": ["x"]}}, "not a rectangle"),
        (
            {
                "type": "rectanglelabels",
                "original_width": 10,
                "original_height": 10,
                "score": "high",
                "value": {"x": 1, "y": 1, "width": 1, "height": 1, "rectanglelabels": ["car"]},
            },
            "score 'high' is not a number",
        ),
        (
            {
                "type": "rectanglelabels",
                "original_width": 10,
                "original_height": 10,
                "value": {"x": "left", "y": 1, "width": 1, "height": 1, "rectanglelabels": ["car"]},
            },
            "x 'left' is not a number",
        ),
        (
            {
                "type": "rectanglelabels",
                "original_width": 10,
                "original_height": 10,
                "value": {"x": 1, "y": 1, "width": 1, "height": 1, "rotation": 30, "rectanglelabels": ["car"]},
            },
            "rotated",
        ),
    ],
)
def test_label_studio_malformed_results_are_refused_one_by_one(result: object, reason: str) -> None:
    good = labelstudio.to_results(sample()[0], WIDTH, HEIGHT)
    boxes, problems = labelstudio.from_results([result, *good])
    assert len(boxes) == 1
    (problem,) = problems
    assert reason in problem.reason


def test_label_studio_non_numeric_lead_time_keeps_the_answer() -> None:
    task = {"data": {"image": "a.jpg"}, "annotations": [{"id": 1, "result": [], "lead_time": [1]}]}
    image, problems = labelstudio.from_task(task, (WIDTH, HEIGHT))
    assert image.reviewed and image.answer.lead_time_s is None
    assert "lead_time" in problems[0].reason


def test_deeply_nested_json_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FormatError, match="nests JSON too deeply"):
        labelstudio.load(path)
    path.write_text('[{"data": ')
    with pytest.raises(FormatError, match="malformed or truncated"):
        coco.load(path)


def test_validation_refuses_what_detections_cannot_hold() -> None:
    boxes = [
        Box("car", (10, 10, 50, 50)),
        Box("bus", (10, 10, 50, 50)),
        Box("car", (float("nan"), 10, 50, 50)),
        Box("car", (50, 10, 10, 50)),
        Box("car", (300, 200, 400, 300)),
        Box("person", (-0.5, 0, 320.5, 240), score=2.0),
    ]
    detections, problems = to_detections(boxes, NAMES, WIDTH, HEIGHT, "a.jpg")
    assert len(detections) == 2 and detections.xyxy[1].tolist() == [0, 0, 320, 240]
    assert detections.confidence.tolist() == [1.0, 1.0]
    assert [p.reason.split(" ")[0] for p in problems] == ["unknown", "coordinates", "empty", "box"]


def test_image_stems_from_every_kind_of_reference() -> None:
    assert image_stem("/data/local-files/?d=bundles%2Fb1%2Fimages%2Fc-00001_f000010_t0.400s.jpg") == (
        "c-00001_f000010_t0.400s"
    )
    assert image_stem("http://images.example.org/b1/images/x.jpg?token=1") == "x"
    assert image_stem("images/x.jpg") == "x"
