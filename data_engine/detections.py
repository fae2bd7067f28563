"""The one canonical box container of the data engine, and adapters to the formats at its edges.

`Detections` holds the boxes of ONE frame as parallel numpy arrays (in the spirit of roboflow/supervision):
pixel xyxy, confidence, class id, track id (-1 = none) and a per-box `Provenance` saying where the box came from
(which models, detected / interpolated / fused). Everything inside the engine speaks `Detections`; the adapters
(`from_ultralytics`, label-file dicts, COCO, YOLO txt, Label Studio) exist only at the edges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from data_engine.errors import EngineError

ProvenanceKind = Literal["detected", "interpolated", "fused"]
PROVENANCE_KINDS: frozenset[str] = frozenset({"detected", "interpolated", "fused"})
NO_TRACK = -1


class DetectionsError(EngineError, ValueError):
    """Boxes or a label format that cannot be turned into valid detections."""


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where one box came from.

    `models`: ids of the models whose boxes produced it. `fused_from`: how many boxes were fused into it (1 when
    not fused). `relabelled_from`: the class id a model gave it before hindsight made its track's class consistent.
    """

    kind: ProvenanceKind = "detected"
    models: tuple[str, ...] = ()
    fused_from: int = 1
    relabelled_from: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in PROVENANCE_KINDS:
            raise DetectionsError(f"unknown provenance kind {self.kind!r}; expected one of {sorted(PROVENANCE_KINDS)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON form for label files; defaults are left out to keep files small."""
        out: dict[str, Any] = {"kind": self.kind, "models": list(self.models)}
        if self.fused_from != 1:
            out["fused_from"] = self.fused_from
        if self.relabelled_from is not None:
            out["relabelled_from"] = self.relabelled_from
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Provenance:
        """Inverse of `to_dict`."""
        relabelled = data.get("relabelled_from")
        return cls(
            kind=data.get("kind", "detected"),
            models=tuple(data.get("models", ())),
            fused_from=int(data.get("fused_from", 1)),
            relabelled_from=None if relabelled is None else int(relabelled),
        )


def _object_array(items: Sequence[Any]) -> np.ndarray:
    array = np.empty(len(items), dtype=object)
    for index, item in enumerate(items):
        array[index] = item
    return array


def provenance_array(count: int, provenance: Provenance) -> np.ndarray:
    """An object array repeating one provenance `count` times (they are immutable, sharing is safe)."""
    return _object_array([provenance] * count)


@dataclass(frozen=True, slots=True, eq=False, init=False)
class Detections:
    """The boxes of one frame. Validated on construction: finite pixel coordinates, x2 >= x1, y2 >= y1,
    confidences in [0, 1], one class id, track id and provenance per box.

    The constructor takes anything array-like; the fields always hold numpy arrays of one entry per box (no track
    id given: NO_TRACK; no provenance given: `Provenance()`)."""

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    track_id: np.ndarray
    provenance: np.ndarray
    names: dict[int, str]

    def __init__(
        self,
        xyxy: ArrayLike,
        confidence: ArrayLike,
        class_id: ArrayLike,
        track_id: ArrayLike | None = None,
        provenance: Iterable[Provenance] | None = None,
        names: Mapping[int, str] | None = None,
    ) -> None:
        xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4) if np.size(xyxy) else np.zeros((0, 4))
        count = len(xyxy)
        confidence = np.asarray(confidence, dtype=np.float32).reshape(-1)
        class_id = np.asarray(class_id).reshape(-1)
        track_id = (
            np.full(count, NO_TRACK, dtype=np.int64)
            if track_id is None
            else np.asarray(track_id).reshape(-1).astype(np.int64)
        )
        provenance = provenance_array(count, Provenance()) if provenance is None else _object_array(list(provenance))
        for name, values in (
            ("confidence", confidence),
            ("class_id", class_id),
            ("track_id", track_id),
            ("provenance", provenance),
        ):
            if len(values) != count:
                raise DetectionsError(f"{name} has {len(values)} entries for {count} boxes; give one per box")
        if count and not np.all(np.isfinite(xyxy)):
            raise DetectionsError("box coordinates must be finite numbers; got NaN or infinity")
        if count and (np.any(xyxy[:, 2] < xyxy[:, 0]) or np.any(xyxy[:, 3] < xyxy[:, 1])):
            raise DetectionsError("boxes must be x1, y1, x2, y2 with x2 >= x1 and y2 >= y1")
        out_of_range = ~((confidence >= 0.0) & (confidence <= 1.0))
        if count and np.any(out_of_range):
            raise DetectionsError(
                f"confidence scores must lie in [0, 1] and not be NaN; got {confidence[out_of_range][:3].tolist()}"
            )
        if class_id.size and not np.issubdtype(class_id.dtype, np.integer) and np.any(np.mod(class_id, 1) != 0):
            raise DetectionsError("class ids must be integers")
        if not all(isinstance(item, Provenance) for item in provenance):
            raise DetectionsError("provenance entries must be Provenance values")
        object.__setattr__(self, "xyxy", xyxy.astype(np.float32))
        object.__setattr__(self, "confidence", confidence)
        object.__setattr__(self, "class_id", class_id.astype(np.int64))
        object.__setattr__(self, "track_id", track_id)
        object.__setattr__(self, "provenance", provenance)
        object.__setattr__(self, "names", {int(key): str(value) for key, value in (names or {}).items()})

    @classmethod
    def empty(cls, names: Mapping[int, str] | None = None) -> Detections:
        """No boxes, with the class-name map kept (frames without objects still know their classes)."""
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, np.int64),
            names=dict(names or {}),
        )

    @classmethod
    def concat(cls, parts: Iterable[Detections], names: Mapping[int, str] | None = None) -> Detections:
        """All boxes of `parts` in one container. Class-name maps must agree on the ids they share."""
        parts = list(parts)
        merged: dict[int, str] = dict(names or {})
        for part in parts:
            for class_id, name in part.names.items():
                if merged.setdefault(class_id, name) != name:
                    raise DetectionsError(
                        f"class {class_id} is {merged[class_id]!r} in one set and {name!r} in another; "
                        "map both to one class list before merging"
                    )
        if not parts:
            return cls.empty(merged)
        return cls(
            xyxy=np.concatenate([part.xyxy for part in parts]),
            confidence=np.concatenate([part.confidence for part in parts]),
            class_id=np.concatenate([part.class_id for part in parts]),
            track_id=np.concatenate([part.track_id for part in parts]),
            provenance=np.concatenate([part.provenance for part in parts]),
            names=merged,
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: int | slice | Sequence[int] | np.ndarray) -> Detections:
        """A subset as Detections: an int keeps one box, a slice / index array / boolean mask keeps several."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            self.track_id[index],
            self.provenance[index],
            self.names,
        )

    def with_min_confidence(self, threshold: float) -> Detections:
        """Only the boxes whose confidence is at least `threshold`."""
        return self[self.confidence >= threshold]

    def with_names(self, names: Mapping[int, str]) -> Detections:
        """The same boxes with another class-name map."""
        return Detections(
            self.xyxy,
            self.confidence,
            self.class_id,
            self.track_id,
            self.provenance,
            dict(names),
        )

    @property
    def area(self) -> np.ndarray:
        """Box areas in square pixels."""
        return (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])

    # ---- label-file dicts -------------------------------------------------------------------------------------

    def to_dicts(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per box, the box schema of the data-engine label file."""
        return [
            {
                "xyxy": [round(float(value), 2) for value in self.xyxy[row]],
                "class_id": int(self.class_id[row]),
                "score": round(float(self.confidence[row]), 4),
                "track_id": int(self.track_id[row]),
                "provenance": self.provenance[row].to_dict(),
            }
            for row in range(len(self))
        ]

    @classmethod
    def from_dicts(cls, boxes: Sequence[Mapping[str, Any]], names: Mapping[int, str]) -> Detections:
        """Inverse of `to_dicts`."""
        if not boxes:
            return cls.empty(names)
        try:
            return cls(
                xyxy=np.array([box["xyxy"] for box in boxes], dtype=np.float32),
                confidence=np.array([box.get("score", 1.0) for box in boxes], dtype=np.float32),
                class_id=np.array([box["class_id"] for box in boxes], dtype=np.int64),
                track_id=np.array([box.get("track_id", NO_TRACK) for box in boxes], dtype=np.int64),
                provenance=_object_array([Provenance.from_dict(box.get("provenance", {})) for box in boxes]),
                names=dict(names),
            )
        except (KeyError, TypeError) as error:
            raise DetectionsError(f"a box in the label file lacks a field or has a wrong type: {error}") from error


# ---- Ultralytics ----------------------------------------------------------------------------------------------


def from_ultralytics(result: Any, model_id: str) -> Detections:
    """Boxes of one `ultralytics.engine.results.Results` (detect or track mode), provenance `model_id`."""
    boxes = result.boxes
    names = {int(key): str(value) for key, value in dict(result.names).items()}
    if boxes is None or len(boxes) == 0:
        return Detections.empty(names)
    track = boxes.id
    count = len(boxes)
    return Detections(
        xyxy=boxes.xyxy.cpu().numpy(),
        confidence=boxes.conf.cpu().numpy(),
        class_id=boxes.cls.cpu().numpy().astype(np.int64),
        track_id=None if track is None else track.cpu().numpy().astype(np.int64),
        provenance=provenance_array(count, Provenance("detected", (model_id,))),
        names=names,
    )


# ---- COCO -----------------------------------------------------------------------------------------------------


def to_coco(
    frames: Sequence[Detections],
    width: int,
    height: int,
    file_names: Sequence[str] | None = None,
    names: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """A COCO detection dict: one image per frame (id = frame index), category id = class id, bbox = x, y, w, h.
    `score` and `track_id` ride along on each annotation (the COCO results convention and a common extension)."""
    if file_names is not None and len(file_names) != len(frames):
        raise DetectionsError(f"{len(file_names)} file names for {len(frames)} frames; give one per frame")
    class_names = dict(names) if names is not None else Detections.concat(frames).names
    images, annotations = [], []
    for image_id, detections in enumerate(frames):
        file_name = file_names[image_id] if file_names is not None else f"{image_id:06d}.jpg"
        images.append({"id": image_id, "file_name": file_name, "width": width, "height": height})
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
                    "track_id": int(detections.track_id[row]),
                }
            )
    categories = [{"id": class_id, "name": name} for class_id, name in sorted(class_names.items())]
    return {"images": images, "annotations": annotations, "categories": categories}


def from_coco(coco: Mapping[str, Any]) -> list[Detections]:
    """Inverse of `to_coco`: one Detections per image, in the order of `images`; category id = class id."""
    try:
        names = {int(category["id"]): str(category["name"]) for category in coco.get("categories", [])}
        by_image: dict[int, list[Mapping[str, Any]]] = {int(image["id"]): [] for image in coco["images"]}
        for annotation in coco.get("annotations", []):
            if int(annotation["image_id"]) not in by_image:
                raise DetectionsError(
                    f"annotation {annotation.get('id')} refers to unknown image {annotation['image_id']}"
                )
            by_image[int(annotation["image_id"])].append(annotation)
        frames = []
        for image in coco["images"]:
            annotations = by_image[int(image["id"])]
            if not annotations:
                frames.append(Detections.empty(names))
                continue
            xywh = np.array([annotation["bbox"] for annotation in annotations], dtype=np.float32).reshape(-1, 4)
            frames.append(
                Detections(
                    xyxy=np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]]),
                    confidence=np.array([a.get("score", 1.0) for a in annotations], dtype=np.float32),
                    class_id=np.array([a["category_id"] for a in annotations], dtype=np.int64),
                    track_id=np.array(
                        [a.get("track_id", NO_TRACK) for a in annotations],
                        dtype=np.int64,
                    ),
                    names=names,
                )
            )
        return frames
    except (KeyError, TypeError) as error:
        raise DetectionsError(f"not a COCO detection dict, missing or malformed field: {error}") from error


# ---- YOLO txt -------------------------------------------------------------------------------------------------


def to_yolo(detections: Detections, width: int, height: int, with_confidence: bool = False) -> str:
    """YOLO label lines `class cx cy w h` normalised to [0, 1] (plus the confidence when asked, as Ultralytics'
    save_conf does). Boxes are clipped to the image first."""
    if not len(detections):
        return ""
    xyxy = np.clip(detections.xyxy, 0, [width, height, width, height])
    centre_x = (xyxy[:, 0] + xyxy[:, 2]) / 2 / width
    centre_y = (xyxy[:, 1] + xyxy[:, 3]) / 2 / height
    box_w = (xyxy[:, 2] - xyxy[:, 0]) / width
    box_h = (xyxy[:, 3] - xyxy[:, 1]) / height
    lines = []
    for row in range(len(detections)):
        values = [centre_x[row], centre_y[row], box_w[row], box_h[row]]
        if with_confidence:
            values.append(detections.confidence[row])
        lines.append(" ".join([str(int(detections.class_id[row]))] + [f"{value:.6f}" for value in values]))
    return "\n".join(lines) + "\n"


def from_yolo(text: str, width: int, height: int, names: Mapping[int, str]) -> Detections:
    """Inverse of `to_yolo`; a sixth column is read as the confidence, otherwise confidence is 1."""
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (5, 6):
            raise DetectionsError(
                f"YOLO label line {number} has {len(fields)} fields; expected 'class cx cy w h [conf]'"
            )
        try:
            rows.append([float(value) for value in fields] + ([1.0] if len(fields) == 5 else []))
        except ValueError as error:
            raise DetectionsError(f"YOLO label line {number} is not numeric: {line!r}") from error
    if not rows:
        return Detections.empty(names)
    table = np.array(rows, dtype=np.float64)
    centre_x, centre_y = table[:, 1] * width, table[:, 2] * height
    half_w, half_h = table[:, 3] * width / 2, table[:, 4] * height / 2
    return Detections(
        xyxy=np.column_stack([centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h]),
        confidence=table[:, 5],
        class_id=table[:, 0],
        names=dict(names),
    )


# ---- Label Studio ---------------------------------------------------------------------------------------------


def to_label_studio(
    detections: Detections,
    width: int,
    height: int,
    from_name: str = "label",
    to_name: str = "image",
    model_version: str | None = None,
) -> dict[str, Any]:
    """A Label Studio prediction: `rectanglelabels` results in percent of the original size, a score per box and
    the mean score as the prediction score."""
    results = []
    for row in range(len(detections)):
        x1, y1, x2, y2 = (float(value) for value in detections.xyxy[row])
        class_id = int(detections.class_id[row])
        if class_id not in detections.names:
            raise DetectionsError(f"class {class_id} has no name; Label Studio needs label names")
        results.append(
            {
                "id": f"box{row}",
                "type": "rectanglelabels",
                "from_name": from_name,
                "to_name": to_name,
                "original_width": width,
                "original_height": height,
                "image_rotation": 0,
                "score": float(detections.confidence[row]),
                "value": {
                    "x": x1 / width * 100,
                    "y": y1 / height * 100,
                    "width": (x2 - x1) / width * 100,
                    "height": (y2 - y1) / height * 100,
                    "rotation": 0,
                    "rectanglelabels": [detections.names[class_id]],
                },
            }
        )
    prediction: dict[str, Any] = {
        "result": results,
        "score": float(detections.confidence.mean()) if len(detections) else 0.0,
    }
    if model_version is not None:
        prediction["model_version"] = model_version
    return prediction


def from_label_studio(
    annotation: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    names: Mapping[int, str],
) -> Detections:
    """Boxes of a Label Studio annotation or prediction (a dict with `result`, or the result list itself).

    Only `rectanglelabels` results count; coordinates are percent of `original_width`/`original_height`.
    Reviewed annotations carry no score: their confidence is 1."""
    results = annotation.get("result", []) if isinstance(annotation, Mapping) else annotation
    class_of = {name: class_id for class_id, name in names.items()}
    boxes, scores, classes = [], [], []
    for result in results:
        if result.get("type") != "rectanglelabels":
            continue
        try:
            value = result["value"]
            width, height = (
                float(result["original_width"]),
                float(result["original_height"]),
            )
            label = value["rectanglelabels"][0]
            x1, y1 = value["x"] / 100 * width, value["y"] / 100 * height
            boxes.append(
                [
                    x1,
                    y1,
                    x1 + value["width"] / 100 * width,
                    y1 + value["height"] / 100 * height,
                ]
            )
        except (KeyError, IndexError, TypeError) as error:
            raise DetectionsError(f"Label Studio result {result.get('id')!r} is malformed: missing {error}") from error
        if label not in class_of:
            raise DetectionsError(f"Label Studio label {label!r} is not a known class; known: {sorted(class_of)}")
        classes.append(class_of[label])
        scores.append(float(result.get("score", 1.0)))
    if not boxes:
        return Detections.empty(names)
    return Detections(np.array(boxes), np.array(scores), np.array(classes), names=dict(names))


def box_iou(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Pairwise IoU of two (N, 4) and (M, 4) xyxy arrays as an (N, M) matrix."""
    first = np.asarray(first, dtype=np.float32).reshape(-1, 4)
    second = np.asarray(second, dtype=np.float32).reshape(-1, 4)
    top_left = np.maximum(first[:, None, :2], second[None, :, :2])
    bottom_right = np.minimum(first[:, None, 2:], second[None, :, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_first = np.prod(first[:, 2:] - first[:, :2], axis=1)
    area_second = np.prod(second[:, 2:] - second[:, :2], axis=1)
    union = area_first[:, None] + area_second[None, :] - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-9), 0.0).astype(np.float32)
