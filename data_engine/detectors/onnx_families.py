"""How each family of ONNX detectors wants its frames and what its output means: one decoder per output family,
picked by name or recognised from the model's input and output shapes.

- `yolox` (Megvii YOLOX `preproc` / `demo_postprocess`): the BGR frame letterboxed at the top-left (fill 114, raw
  0-255 values), output N x A x (5 + classes) over the grids of strides 8, 16, 32; score = objectness x class.
- `fastestdet` (dog-qiuqiu FastestDet): the BGR frame resized to the input (values / 255), output
  N x (5 + classes) x H x W per cell; score = objectness^0.6 x class^0.4.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from data_engine.detectors.base import DetectorError

COCO_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
)  # fmt: skip
"""COCO's 80 detection classes in the order both families were trained with."""


@dataclass(frozen=True)
class Prepared:
    """One frame as the model's input, and what maps its output back to the frame's pixels."""

    tensor: np.ndarray
    scale_x: float
    scale_y: float
    width: int
    height: int


@dataclass(frozen=True)
class Raw:
    """A frame's candidate boxes before NMS: frame-pixel xyxy, score and best class per candidate."""

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray


class Family(Protocol):
    """A detector family: how frames go in, how one frame's output comes out."""

    name: str
    nms_iou: float
    operating_threshold: float
    """The score its authors threshold at: the point of its own scale that hindsight maps onto the common one."""

    def prepare(self, frame: np.ndarray, size: tuple[int, int]) -> Prepared: ...

    def decode(self, output: np.ndarray, prepared: Prepared, size: tuple[int, int], floor: float) -> Raw: ...

    def fits(self, output_shape: Sequence[int | str | None], size: tuple[int, int]) -> bool: ...


def _keep(xyxy: np.ndarray, score: np.ndarray, class_id: np.ndarray, floor: float) -> Raw:
    sure = score >= floor
    return Raw(xyxy[sure].astype(np.float32), score[sure].astype(np.float32), class_id[sure].astype(np.int64))


class Yolox:
    """YOLOX: letterbox, strides 8/16/32, objectness x class score."""

    name = "yolox"
    nms_iou = 0.45
    operating_threshold = 0.3  # YOLOX's demo (tools/demo.py --conf)
    strides = (8, 16, 32)

    def prepare(self, frame: np.ndarray, size: tuple[int, int]) -> Prepared:
        height, width = size
        ratio = min(height / frame.shape[0], width / frame.shape[1])
        resized = cv2.resize(
            frame, (int(frame.shape[1] * ratio), int(frame.shape[0] * ratio)), interpolation=cv2.INTER_LINEAR
        )
        canvas = np.full((height, width, 3), 114, dtype=np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        tensor = cv2.dnn.blobFromImage(canvas, 1.0, swapRB=False, crop=False)
        return Prepared(tensor, 1 / ratio, 1 / ratio, frame.shape[1], frame.shape[0])

    @functools.lru_cache(maxsize=8)  # noqa: B019 (two module-level instances, a few input sizes)
    def _grid(self, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        grids, strides = [], []
        for stride in self.strides:
            rows, cols = size[0] // stride, size[1] // stride
            yv, xv = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
            grids.append(np.stack((xv, yv), axis=2).reshape(-1, 2))
            strides.append(np.full((rows * cols, 1), stride))
        return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)

    def decode(self, output: np.ndarray, prepared: Prepared, size: tuple[int, int], floor: float) -> Raw:
        rows = output.reshape(-1, output.shape[-1])
        grid, stride = self._grid(size)
        # score = objectness x class score <= objectness: rows under the floor cannot pass, decode only the others
        alive = rows[:, 4] >= floor
        rows, grid, stride = rows[alive], grid[alive], stride[alive]
        centre = (rows[:, :2] + grid) * stride
        extent = np.exp(np.minimum(rows[:, 2:4], 20.0)) * stride
        class_scores = rows[:, 5:]
        class_id = class_scores.argmax(axis=1)
        score = rows[:, 4] * class_scores[np.arange(len(rows)), class_id]
        xyxy = np.concatenate((centre - extent / 2, centre + extent / 2), axis=1) * prepared.scale_x
        return _keep(_clip(xyxy, prepared), score, class_id, floor)

    def fits(self, output_shape: Sequence[int | str | None], size: tuple[int, int]) -> bool:
        anchors = sum((size[0] // stride) * (size[1] // stride) for stride in self.strides)
        return len(output_shape) == 3 and output_shape[1] == anchors and _int(output_shape[2]) > 5


class FastestDet:
    """FastestDet: plain resize, one candidate per cell, objectness^0.6 x class^0.4."""

    name = "fastestdet"
    nms_iou = 0.45
    operating_threshold = 0.65  # FastestDet's runtime example (its scores run higher than YOLOX's)

    def prepare(self, frame: np.ndarray, size: tuple[int, int]) -> Prepared:
        height, width = size
        # one OpenCV call resizes, scales to 0..1 and lays the frame out as NCHW (BGR kept)
        tensor = cv2.dnn.blobFromImage(frame, 1 / 255.0, (width, height), swapRB=False, crop=False)
        return Prepared(tensor, frame.shape[1], frame.shape[0], frame.shape[1], frame.shape[0])

    def decode(self, output: np.ndarray, prepared: Prepared, size: tuple[int, int], floor: float) -> Raw:
        cells = output.reshape(output.shape[-3], -1).T  # (H*W, 5 + classes)
        rows, cols = output.shape[-2], output.shape[-1]
        yv, xv = _cells(rows, cols)
        # score = objectness^0.6 x class^0.4 <= objectness^0.6: cells under the floor cannot pass
        alive = np.clip(cells[:, 0], 0, 1) >= floor ** (1 / 0.6)
        cells, yv, xv = cells[alive], yv[alive], xv[alive]
        class_scores = cells[:, 5:]
        class_id = class_scores.argmax(axis=1)
        best = class_scores[np.arange(len(cells)), class_id]
        score = np.power(np.clip(cells[:, 0], 0, 1), 0.6) * np.power(np.clip(best, 0, 1), 0.4)
        cx = (xv + np.tanh(cells[:, 1])) / cols
        cy = (yv + np.tanh(cells[:, 2])) / rows
        half_w, half_h = _sigmoid(cells[:, 3]) / 2, _sigmoid(cells[:, 4]) / 2
        xyxy = np.stack((cx - half_w, cy - half_h, cx + half_w, cy + half_h), axis=1)
        xyxy *= np.array([prepared.scale_x, prepared.scale_y, prepared.scale_x, prepared.scale_y], dtype=np.float32)
        return _keep(_clip(xyxy, prepared), score, class_id, floor)

    def fits(self, output_shape: Sequence[int | str | None], size: tuple[int, int]) -> bool:
        return len(output_shape) == 4 and _int(output_shape[1]) > 5 and isinstance(output_shape[2], int)


FAMILIES: dict[str, Family] = {family.name: family for family in (Yolox(), FastestDet())}
"""The decoders by name, as `DATA_ENGINE_DETECTORS=FAMILY:PATH.onnx` names them."""


def family_named(name: str) -> Family:
    """The family called `name`; a clear error naming the known ones otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise DetectorError(f"unknown ONNX detector family {name!r}; known: {', '.join(FAMILIES)}") from None


def recognise(output_shape: Sequence[int | str | None], size: tuple[int, int]) -> Family | None:
    """The one family whose output fits this shape (None when none or several do)."""
    fitting = [family for family in FAMILIES.values() if family.fits(output_shape, size)]
    return fitting[0] if len(fitting) == 1 else None


def nms(raw: Raw, iou: float) -> np.ndarray:
    """Indices kept by class-aware non-maximum suppression (OpenCV's, scores already above the floor)."""
    if not len(raw.score):
        return np.zeros(0, dtype=np.int64)
    xywh = np.concatenate((raw.xyxy[:, :2], raw.xyxy[:, 2:] - raw.xyxy[:, :2]), axis=1)
    kept = cv2.dnn.NMSBoxesBatched(xywh.tolist(), raw.score.tolist(), raw.class_id.tolist(), 0.0, iou)
    return np.asarray(kept, dtype=np.int64).reshape(-1)


@functools.lru_cache(maxsize=8)
def _cells(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every cell of a rows x cols map, row-major."""
    yv, xv = np.meshgrid(np.arange(rows, dtype=np.float32), np.arange(cols, dtype=np.float32), indexing="ij")
    return yv.reshape(-1), xv.reshape(-1)


def _clip(xyxy: np.ndarray, prepared: Prepared) -> np.ndarray:
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, prepared.width)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, prepared.height)
    return xyxy


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-values))


def _int(value: int | str | None) -> int:
    return value if isinstance(value, int) else -1
