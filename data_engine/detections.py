"""The one canonical box container of the data engine, and adapters to the formats at its edges.

`Detections` holds the boxes of ONE frame as parallel numpy arrays (in the spirit of roboflow/supervision):
pixel xyxy, confidence, class id, track id (-1 = none) and a per-box `Provenance` saying where the box came from
(which models, detected / interpolated / fused). Everything inside the engine speaks `Detections`; the adapters
exist only at the edges: `from_ultralytics` and the label-file dicts here, the exchange formats (COCO, YOLO, Label
Studio, CVAT) in `data_engine.formats`. `match_boxes` is the one IoU matcher (Hungarian assignment) of the engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from data_engine.errors import EngineError

ProvenanceKind = Literal["detected", "interpolated", "fused", "reviewed"]
PROVENANCE_KINDS: frozenset[str] = frozenset({"detected", "interpolated", "fused", "reviewed"})
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
        provenance: Sequence[Provenance] | np.ndarray | None = None,
        names: Mapping[int, str] | None = None,
    ) -> None:
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4) if np.size(xyxy) else np.zeros((0, 4))
        count = len(boxes)
        scores = np.asarray(confidence, dtype=np.float32).reshape(-1)
        classes = np.asarray(class_id).reshape(-1)
        tracks = (
            np.full(count, NO_TRACK, dtype=np.int64)
            if track_id is None
            else np.asarray(track_id).reshape(-1).astype(np.int64)
        )
        origins = provenance_array(count, Provenance()) if provenance is None else _object_array(list(provenance))
        for name, values in (
            ("confidence", scores),
            ("class_id", classes),
            ("track_id", tracks),
            ("provenance", origins),
        ):
            if len(values) != count:
                raise DetectionsError(f"{name} has {len(values)} entries for {count} boxes; give one per box")
        if count and not np.all(np.isfinite(boxes)):
            raise DetectionsError("box coordinates must be finite numbers; got NaN or infinity")
        if count and (np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1])):
            raise DetectionsError("boxes must be x1, y1, x2, y2 with x2 >= x1 and y2 >= y1")
        out_of_range = ~((scores >= 0.0) & (scores <= 1.0))
        if count and np.any(out_of_range):
            raise DetectionsError(
                f"confidence scores must lie in [0, 1] and not be NaN; got {scores[out_of_range][:3].tolist()}"
            )
        if classes.size and not np.issubdtype(classes.dtype, np.integer) and np.any(np.mod(classes, 1) != 0):
            raise DetectionsError("class ids must be integers")
        if not all(isinstance(item, Provenance) for item in origins):
            raise DetectionsError("provenance entries must be Provenance values")
        object.__setattr__(self, "xyxy", boxes.astype(np.float32))
        object.__setattr__(self, "confidence", scores)
        object.__setattr__(self, "class_id", classes.astype(np.int64))
        object.__setattr__(self, "track_id", tracks)
        object.__setattr__(self, "provenance", origins)
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


@dataclass(frozen=True, slots=True)
class BoxMatch:
    """One-to-one pairs between two box sets: row indices into the first, into the second, and each pair's IoU."""

    first: np.ndarray
    second: np.ndarray
    iou: np.ndarray

    def __len__(self) -> int:
        return len(self.first)


def match_boxes(
    first: ArrayLike,
    second: ArrayLike,
    min_iou: float = 0.5,
    first_class: ArrayLike | None = None,
    second_class: ArrayLike | None = None,
) -> BoxMatch:
    """Match two (N, 4) and (M, 4) xyxy sets one-to-one maximising the total IoU (Hungarian assignment); pairs
    under `min_iou` are dropped. With both class arrays given, only boxes of the same class can pair."""
    overlaps = box_iou(np.asarray(first), np.asarray(second))
    if first_class is not None and second_class is not None:
        different = np.asarray(first_class).reshape(-1)[:, None] != np.asarray(second_class).reshape(-1)[None, :]
        overlaps[different] = 0.0
    if not overlaps.size:
        empty = np.zeros(0, dtype=np.int64)
        return BoxMatch(empty, empty, np.zeros(0, dtype=np.float32))
    from scipy.optimize import linear_sum_assignment  # imported here: half a second that most users never need

    rows, columns = linear_sum_assignment(-overlaps)
    good = overlaps[rows, columns] >= min_iou
    return BoxMatch(rows[good].astype(np.int64), columns[good].astype(np.int64), overlaps[rows[good], columns[good]])
