"""Answers a test annotator gives: the pre-annotations it kept, plus the boxes it drew."""

from pathlib import Path

import numpy as np

from data_engine.annotation import AnnotationRun, FrameAnswer, answer_bundle
from data_engine.catalog import Catalog
from data_engine.detections import Detections


def with_box(boxes: Detections, class_id: int, xyxy: list[float]) -> Detections:
    """`boxes` and one more box of class `class_id`, as an annotator who drew it."""
    return Detections(
        np.vstack([boxes.xyxy, np.array([xyxy], np.float32)]),
        np.ones(len(boxes) + 1, np.float32),
        np.append(boxes.class_id, class_id),
        names=boxes.names,
    )


def answer_every_frame(home: Path) -> AnnotationRun:
    """The annotator of the home's only pushed bundle: one box on every frame, written into its answer file."""
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    (record,) = catalog.annotation_runs()
    catalog.dispose()
    run = AnnotationRun.from_json(record.record)
    boxes = Detections([[10, 10, 60, 110]], [1.0], [0], names=run.names)
    answer_bundle(run, {(frame.clip_id, frame.frame): FrameAnswer(boxes) for frame in run.frames})
    return run
