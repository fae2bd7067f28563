"""Label Studio JSON: tasks (`data.image` plus our own data fields, `predictions` = pre-annotations) and their
export (the same tasks with `annotations`). Boxes are `rectanglelabels` results in percent of the original image
size. A task counts as answered only through a submitted, not cancelled, annotation; a prediction never does.

This module is the one place where Label Studio results are turned into boxes, for the REST backend and the
bundle files alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from data_engine.detections import Detections
from data_engine.formats import (
    Answer,
    Box,
    BoxProblem,
    FormatError,
    LabelledImage,
    LoadedLabels,
    image_stem,
    number,
    read_json,
    write_json,
)

FROM_NAME = "label"
TO_NAME = "image"
RECTANGLE = "rectanglelabels"


def labeling_config(names: Mapping[int, str]) -> str:
    """A RectangleLabels labeling config with one label per class, in class id order."""
    labels = "".join(f"<Label value={quoteattr(name)}/>" for _, name in sorted(names.items()))
    return (
        f'<View><Image name="{TO_NAME}" value="$image"/>'
        f'<RectangleLabels name="{FROM_NAME}" toName="{TO_NAME}">{labels}</RectangleLabels></View>'
    )


def to_results(detections: Detections, width: int, height: int, with_scores: bool = True) -> list[dict[str, Any]]:
    """Boxes as `rectanglelabels` results in percent of the image size (a score per box for predictions; the
    labeling UI submits none)."""
    results = []
    for row in range(len(detections)):
        x1, y1, x2, y2 = (float(value) for value in detections.xyxy[row])
        class_id = int(detections.class_id[row])
        if class_id not in detections.names:
            raise FormatError(f"class {class_id} has no name; Label Studio needs label names")
        result: dict[str, Any] = {
            "id": f"box{row}",
            "type": RECTANGLE,
            "from_name": FROM_NAME,
            "to_name": TO_NAME,
            "original_width": width,
            "original_height": height,
            "image_rotation": 0,
            "value": {
                "x": x1 / width * 100,
                "y": y1 / height * 100,
                "width": (x2 - x1) / width * 100,
                "height": (y2 - y1) / height * 100,
                "rotation": 0,
                "rectanglelabels": [detections.names[class_id]],
            },
        }
        if with_scores:
            result["score"] = float(detections.confidence[row])
        results.append(result)
    return results


def to_prediction(detections: Detections, width: int, height: int, model_version: str) -> dict[str, Any]:
    """A Label Studio prediction (pre-annotation): results with scores, the mean score as its score."""
    return {
        "model_version": model_version,
        "score": float(detections.confidence.mean()) if len(detections) else 0.0,
        "result": to_results(detections, width, height),
    }


def to_task(
    image_url: str,
    data: Mapping[str, Any],
    pre_annotations: Detections | None,
    width: int,
    height: int,
    model_version: str,
) -> dict[str, Any]:
    """One task: the image URL and our data fields; the pre-annotations as a prediction (none on a cold start)."""
    task: dict[str, Any] = {"data": {TO_NAME: image_url, **data}}
    if pre_annotations is not None:
        task["predictions"] = [to_prediction(pre_annotations, width, height, model_version)]
    return task


def save(tasks: Sequence[Mapping[str, Any]], path: Path) -> Path:
    """A task file Label Studio imports as it is (Import > upload, or POST /api/projects/<id>/import)."""
    write_json(path, list(tasks))
    return path


def from_results(
    results: Any, fallback_size: tuple[int, int] | None = None, image: str = ""
) -> tuple[list[Box], list[BoxProblem]]:
    """Pixel boxes of `rectanglelabels` results; any other result (another type, rotated, malformed: a string, a
    `value` that is not an object, a coordinate or score that is not a number) is refused on its own. Sizes come
    from each result's `original_width`/`original_height`, else from `fallback_size`."""
    if not isinstance(results, list):
        return [], [BoxProblem(image, f"annotation result {results!r:.60} is not a list of results")]
    boxes: list[Box] = []
    problems: list[BoxProblem] = []
    for result in results:
        if not isinstance(result, Mapping):
            problems.append(BoxProblem(image, f"result {result!r:.60} is not an object"))
            continue
        value = result.get("value")
        if not isinstance(value, Mapping):
            problems.append(BoxProblem(image, f"result value {value!r:.60} is not an object"))
            continue
        labels = value.get(RECTANGLE)
        label = str(labels[0]) if isinstance(labels, list) and labels else None
        try:
            box = _box(result, value, label, fallback_size)
        except (ValueError, OverflowError, ZeroDivisionError) as error:
            problems.append(BoxProblem(image, str(error), label))
            continue
        boxes.append(box)
    return boxes, problems


def _box(
    result: Mapping[str, Any], value: Mapping[str, Any], label: str | None, fallback: tuple[int, int] | None
) -> Box:
    if result.get("type") != RECTANGLE:
        raise ValueError(f"result type {result.get('type')!r} is not a rectangle")
    if label is None:
        raise ValueError("rectangle without a label")
    if number(value.get("rotation") or 0, "rotation") != 0:
        raise ValueError("rotated rectangles are not supported")
    if result.get("original_width") is not None and result.get("original_height") is not None:
        width = number(result["original_width"], "original_width")
        height = number(result["original_height"], "original_height")
    elif fallback is not None:
        width, height = fallback
    else:
        raise ValueError("result has no original_width/original_height")
    x1, y1 = number(value.get("x"), "x") / 100 * width, number(value.get("y"), "y") / 100 * height
    x2 = x1 + number(value.get("width"), "width") / 100 * width
    y2 = y1 + number(value.get("height"), "height") / 100 * height
    return Box(label, (x1, y1, x2, y2), number(result.get("score", 1.0), "score"))


def answered(task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The task's answer: its most recently updated submitted annotation that was not cancelled (skipped)."""
    annotations = [a for a in _list(task.get("annotations")) if isinstance(a, Mapping) and not a.get("was_cancelled")]
    if not annotations:
        return None
    return max(annotations, key=lambda a: (str(a.get("updated_at") or ""), str(a.get("id") or "")))


def from_task(
    task: Any,
    fallback_size: tuple[int, int] | None = None,
    annotator_names: Mapping[int, str] | None = None,
) -> tuple[LabelledImage, list[BoxProblem]]:
    """One task of a task file or export: its answer's boxes (reviewed only with an answer), who answered, when and
    how long, and its first prediction's boxes as the pre-annotations it carried. FormatError when it is not a
    task at all (no `data.image`)."""
    data = task.get("data") if isinstance(task, Mapping) else None
    if not isinstance(data, Mapping) or not isinstance(data.get(TO_NAME), str):
        raise FormatError(f"a task lacks data.{TO_NAME}; this is not a Label Studio task file or export")
    image = str(data[TO_NAME])
    problems: list[BoxProblem] = []
    predictions = [p for p in _list(task.get("predictions")) if isinstance(p, Mapping)]
    pre: tuple[Box, ...] | None = None
    if predictions:
        boxes, _ = from_results(predictions[0].get("result"), fallback_size, image)
        pre = tuple(boxes)
    annotation = answered(task)
    if annotation is None:
        return LabelledImage(image, *(fallback_size or (0, 0)), reviewed=False, predictions=pre, data=data), []
    boxes, refused = from_results(annotation.get("result") or [], fallback_size, image)
    problems.extend(refused)
    lead_time: float | None = None
    if annotation.get("lead_time") is not None:
        try:
            lead_time = number(annotation["lead_time"], "lead_time")
        except ValueError as error:
            problems.append(BoxProblem(image, f"{error}; the answer is kept without its lead time"))
    answer = Answer(
        annotator=_annotator(annotation.get("completed_by"), annotator_names or {}),
        created_at=str(annotation.get("created_at") or ""),
        updated_at=str(annotation.get("updated_at") or ""),
        lead_time_s=lead_time,
        annotation_id=str(annotation.get("id", "")),
    )
    size = fallback_size or (0, 0)
    return LabelledImage(image, size[0], size[1], tuple(boxes), True, answer, pre, data, len(refused)), problems


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _annotator(completed_by: Any, names: Mapping[int, str]) -> str:
    """Who answered: an export gives a user id (named through `names`), a user object or, in files people edit,
    a plain name."""
    if isinstance(completed_by, Mapping):
        completed_by = completed_by.get("email") or completed_by.get("username") or completed_by.get("id")
    if completed_by is None:
        return ""
    if isinstance(completed_by, int) and not isinstance(completed_by, bool):
        return names.get(completed_by, f"user {completed_by}")
    return str(completed_by)


def load(
    path: Path, sizes: Mapping[str, tuple[int, int]] | None = None, annotator_names: Mapping[int, str] | None = None
) -> LoadedLabels:
    """A task file or export; `sizes` (image stem -> width, height) sizes results that do not carry theirs."""
    tasks = read_json(path)
    if not isinstance(tasks, list):
        raise FormatError(f"{path.name} is not a Label Studio task list")
    images: list[LabelledImage] = []
    problems: list[BoxProblem] = []
    for task in tasks:
        data = task.get("data") if isinstance(task, Mapping) else None
        reference = data.get(TO_NAME) if isinstance(data, Mapping) else None
        size = (sizes or {}).get(image_stem(reference)) if isinstance(reference, str) else None
        image, refused = from_task(task, size, annotator_names)
        images.append(image)
        problems.extend(refused)
    return LoadedLabels(tuple(images), tuple(problems))
