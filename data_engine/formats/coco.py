"""COCO object detection: `images`, `annotations` (bbox = x, y, w, h in pixels; `score` rides along, as in COCO
results) and `categories` (id = class id). The engine adds one per-image field, `reviewed`, that bundles write as
false and an annotator sets to true for each image answered."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from data_engine.formats import (
    Box,
    BoxProblem,
    FormatError,
    ImageDetections,
    LabelledImage,
    LoadedLabels,
    number,
    read_json,
    write_json,
)

REVIEWED_FIELD = "reviewed"


def to_dict(images: Sequence[ImageDetections], names: Mapping[int, str]) -> dict[str, Any]:
    """One COCO dict over images of possibly different sizes; image id = position, category id = class id."""
    coco_images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, entry in enumerate(images):
        record: dict[str, Any] = {
            "id": image_id,
            "file_name": entry.image,
            "width": entry.width,
            "height": entry.height,
        }
        if entry.reviewed is not None:
            record[REVIEWED_FIELD] = entry.reviewed
        coco_images.append(record)
        detections = entry.detections
        for row in range(len(detections)):
            x1, y1, x2, y2 = (float(value) for value in detections.xyxy[row])
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(detections.class_id[row]),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                    "score": float(detections.confidence[row]),
                }
            )
    categories = [{"id": class_id, "name": name} for class_id, name in sorted(names.items())]
    return {"images": coco_images, "annotations": annotations, "categories": categories}


def save(images: Sequence[ImageDetections], names: Mapping[int, str], path: Path) -> Path:
    write_json(path, to_dict(images, names))
    return path


def from_dict(coco: Any, source: str = "COCO file") -> LoadedLabels:
    """The images of a COCO dict with their boxes (label = category name) and reviewed marks; an annotation that
    names an unknown image or has a malformed bbox is refused on its own."""
    if not isinstance(coco, Mapping):
        raise FormatError(f"{source} is not a COCO detection file (not a JSON object)")
    try:
        categories = {int(c["id"]): str(c["name"]) for c in coco.get("categories") or []}
        entries = {int(image["id"]): image for image in coco["images"]}
        annotations = list(coco.get("annotations") or [])
        for image in entries.values():
            str(image["file_name"])
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise FormatError(f"{source} is not a COCO detection file (missing or malformed {error})") from None
    boxes: dict[int, list[Box]] = {image_id: [] for image_id in entries}
    refused: dict[int, int] = dict.fromkeys(entries, 0)
    problems: list[BoxProblem] = []
    for annotation in annotations:
        try:
            if not isinstance(annotation, Mapping):
                raise ValueError(f"annotation {annotation!r:.60} is not an object")
            image_id = int(number(annotation.get("image_id"), "image_id"))
        except (ValueError, OverflowError) as error:
            problems.append(BoxProblem("", f"malformed annotation: {error}"))
            continue
        if image_id not in entries:
            problems.append(BoxProblem("", f"annotation refers to unknown image id {image_id}"))
            continue
        reference = str(entries[image_id]["file_name"])
        try:
            bbox = annotation.get("bbox")
            if not isinstance(bbox, Sequence) or isinstance(bbox, str) or len(bbox) != 4:
                raise ValueError(f"bbox {bbox!r:.60} is not [x, y, w, h]")
            x, y, w, h = (number(value, "bbox value") for value in bbox)
            category = int(number(annotation.get("category_id"), "category_id"))
            score = number(annotation.get("score", 1.0), "score")
        except (ValueError, OverflowError) as error:
            problems.append(BoxProblem(reference, f"malformed annotation: {error}"))
            refused[image_id] += 1
            continue
        label = categories.get(category, f"category {category}")
        boxes[image_id].append(Box(label, (x, y, x + w, y + h), score))
    images = []
    for image_id, image in entries.items():
        reviewed = image.get(REVIEWED_FIELD)
        images.append(
            LabelledImage(
                image=str(image["file_name"]),
                width=_size(image.get("width")),
                height=_size(image.get("height")),
                boxes=tuple(boxes[image_id]),
                reviewed=reviewed if isinstance(reviewed, bool) else None,
                refused=refused[image_id],
            )
        )
    return LoadedLabels(tuple(images), tuple(problems))


def load(path: Path) -> LoadedLabels:
    return from_dict(read_json(path), path.name)


def _size(value: object) -> int:
    try:
        return int(number(value, "size"))
    except (ValueError, OverflowError):
        return 0
