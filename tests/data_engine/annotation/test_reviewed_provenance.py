"""A person's boxes are stored with provenance `reviewed`, not `detected` like a model's, and keep it in the
label file's form (to_dicts/from_dicts)."""

from data_engine.annotation.base import AnnotationRun, RunFrame, reviewed_frame
from data_engine.detections import Detections
from data_engine.formats import Answer, Box, LabelledImage


def test_answered_boxes_are_reviewed_and_stay_so_in_the_label_file_form() -> None:
    frame = RunFrame("clip-1", 7, "key-1", 640, 480, task_id=3)
    run = AnnotationRun("run-1", "labelstudio", "1", "http://ls/projects/1", {0: "person"}, (frame,), "2026-01-01")
    image = LabelledImage(
        "a.jpg", 640, 480, boxes=(Box("person", (10, 10, 50, 90)),), reviewed=True, answer=Answer(annotator="ann")
    )
    reviewed, rejected = reviewed_frame(run, frame, image, pre_annotations=None, source="test")
    assert reviewed is not None and not rejected
    assert [origin.kind for origin in reviewed.detections.provenance] == ["reviewed"]
    stored = reviewed.detections.to_dicts()
    assert stored[0]["provenance"]["kind"] == "reviewed"
    assert Detections.from_dicts(stored, {0: "person"}).provenance[0].kind == "reviewed"
