"""Exchange formats at the engine's edges, one module per format holding both its save and its load (in the spirit
of roboflow/supervision): `coco`, `yolo`, `labelstudio`, `cvat`.

Savers take `ImageDetections` (an image reference, its size and canonical `Detections`). Loaders return
`LabelledImage`s whose boxes are still as the file gave them (`Box`: label name, pixel xyxy, score), because files
written by people and tools hold what the engine must refuse box by box (unknown labels, NaN, boxes outside the
image) rather than fail on; `to_detections` turns them into canonical `Detections` against a label schema and
reports each refused box (`BoxProblem`). A file that cannot be read at all raises `FormatError`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from data_engine.detections import Detections, Provenance, provenance_array
from data_engine.errors import EngineError

COORDINATE_TOLERANCE_PX = 1.0


class FormatError(EngineError, ValueError):
    """A file that is not a readable instance of its format; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class Box:
    """A box as a file gave it, before validation: label name, pixel xyxy and score (1 for human boxes)."""

    label: str
    xyxy: tuple[float, float, float, float]
    score: float = 1.0


@dataclass(frozen=True, slots=True)
class BoxProblem:
    """A box (or, with `label` None and `box` None, a whole image entry) that was refused, and why."""

    image: str
    reason: str
    label: str | None = None
    box: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """Who answered an image and when, where the format says it (Label Studio does, the others do not)."""

    annotator: str = ""
    created_at: str = ""
    updated_at: str = ""
    lead_time_s: float | None = None
    annotation_id: str = ""


@dataclass(frozen=True)
class LabelledImage:
    """One image of a label file: its reference as written in the file (a relative path or a URL), its size, its
    boxes, whether a person answered it (`reviewed`: True or False where the format records it, None where it
    cannot) and, for Label Studio, the answer's author and the predictions (pre-annotations) the task carried.
    `data` holds the format's extra per-image fields (Label Studio's task data); `refused` counts the box entries
    of the image that could not even be read (their problems are in the file's `problems`)."""

    image: str
    width: int
    height: int
    boxes: tuple[Box, ...] = ()
    reviewed: bool | None = None
    answer: Answer = field(default_factory=Answer)
    predictions: tuple[Box, ...] | None = None
    data: Mapping[str, object] = field(default_factory=dict)
    refused: int = 0


@dataclass(frozen=True)
class ImageDetections:
    """One image to write: its reference (relative path or URL), size, canonical detections, and the reviewed mark
    to write where the format can carry one (None: write none)."""

    image: str
    width: int
    height: int
    detections: Detections
    reviewed: bool | None = None


@dataclass(frozen=True)
class LoadedLabels:
    """What a loader read: the images, and the entries it refused with the reason."""

    images: tuple[LabelledImage, ...]
    problems: tuple[BoxProblem, ...] = ()


def boxes_of(detections: Detections, names: Mapping[int, str] | None = None) -> tuple[Box, ...]:
    """Canonical detections as format boxes (label names from `names`, else from the detections)."""
    class_names = dict(names) if names is not None else detections.names
    return tuple(
        Box(
            class_names[int(detections.class_id[row])],
            (
                float(detections.xyxy[row, 0]),
                float(detections.xyxy[row, 1]),
                float(detections.xyxy[row, 2]),
                float(detections.xyxy[row, 3]),
            ),
            float(detections.confidence[row]),
        )
        for row in range(len(detections))
    )


def to_detections(
    boxes: Iterable[Box],
    names: Mapping[int, str],
    width: int,
    height: int,
    image: str = "",
    provenance: Provenance | None = None,
) -> tuple[Detections, list[BoxProblem]]:
    """Keep the boxes with a known label, finite numbers and coordinates inside the image (within a pixel, then
    clipped); refuse the rest with a reason. Neither the platforms nor the file formats validate this. Every box
    kept gets `provenance` (a person's answer: `reviewed`; default: `detected`)."""
    class_of = {name: class_id for class_id, name in names.items()}
    kept_boxes: list[list[float]] = []
    kept_scores: list[float] = []
    kept_classes: list[int] = []
    problems: list[BoxProblem] = []
    for box in boxes:
        reason = _box_problem(box, class_of, width, height)
        if reason:
            problems.append(BoxProblem(image, reason, box.label, tuple(box.xyxy)))
            continue
        x1, y1, x2, y2 = box.xyxy
        kept_boxes.append([min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width)])
        kept_boxes[-1].append(min(max(y2, 0.0), height))
        kept_scores.append(min(max(box.score, 0.0), 1.0))
        kept_classes.append(class_of[box.label])
    if not kept_boxes:
        return Detections.empty(names), problems
    origins = None if provenance is None else provenance_array(len(kept_boxes), provenance)
    kept = Detections(
        np.array(kept_boxes), np.array(kept_scores), np.array(kept_classes), names=names, provenance=origins
    )
    return kept, problems


def _box_problem(box: Box, class_of: Mapping[str, int], width: int, height: int) -> str:
    if box.label not in class_of:
        return f"unknown label {box.label!r}; the label schema has {sorted(class_of)}"
    x1, y1, x2, y2 = box.xyxy
    if not all(math.isfinite(value) for value in box.xyxy) or not math.isfinite(box.score):
        return "coordinates or score are not finite numbers"
    if x2 <= x1 or y2 <= y1:
        return f"empty or inverted box {box.xyxy}"
    tolerance = COORDINATE_TOLERANCE_PX
    if x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
        return f"box {tuple(round(v, 1) for v in box.xyxy)} lies outside the {width}x{height} image"
    return ""


def number(value: object, what: str) -> float:
    """A float from a file value, or ValueError naming what was not a number (strings like "1.5" are accepted,
    booleans and containers are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} {value!r:.40} is not a number")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{what} {value!r:.40} is not a number") from None


def read_json(path: Path) -> Any:
    """A JSON file's value, or FormatError for a file that is not JSON, is truncated, or nests too deeply for the
    parser (a RecursionError otherwise)."""
    try:
        return json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FormatError(f"{path.name} is malformed or truncated JSON ({error}); export it again") from None
    except RecursionError:
        raise FormatError(f"{path.name} nests JSON too deeply to be an annotation file; export it again") from None


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def image_stem(reference: str) -> str:
    """The file stem an image reference names, whatever form a tool wrote it in: a relative path, an absolute URL
    (query dropped), or Label Studio's local-files URL (`/data/local-files/?d=<path>`)."""
    parsed = urlsplit(reference)
    target = parse_qs(parsed.query).get("d", [None])[0] if parsed.query else None
    path = unquote(target if target is not None else parsed.path)
    return PurePosixPath(path.replace("\\", "/")).stem
