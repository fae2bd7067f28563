"""ONNX detectors (YOLOX, FastestDet, ...) as a `Detector`, run with onnxruntime, and `OnnxSpec`, the same detector
as plain data that compute workers load it from.

Teams that ship a permissively licensed detector inside a product usually ship it as ONNX, since one runtime serves
CPU, CUDA and TensorRT; the engine mines and pre-annotates with that same file. The family (how frames go in and
what the output means) is named or recognised from the output shape (`onnx_families`). Frames run one at a time
when the model's batch is fixed, else in batches. On a GPU the next chunk is prepared while the runtime works (it
releases the GIL); on the CPU the runtime's threads already take every core, and preparing beside them slowed
`session.run` by as much as it hid (bench/README.md "ONNX detectors").
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data_engine.detections import Detections, Provenance, provenance_array
from data_engine.detectors.base import DetectorError, check_same_file, inference_key
from data_engine.detectors.onnx_families import COCO_NAMES, Family, Prepared, family_named, nms, recognise
from data_engine.store import content_hash

_SETTING = "DATA_ENGINE_DETECTORS"
CPU_BATCH = 8


@dataclass(frozen=True)
class OnnxSpec:
    """An `OnnxDetector` as picklable data. `checksum` is the file's sha256 (a worker refuses a different file, and
    stored detections are keyed by it); `classes` are the engine's class names kept (empty: all the model's), after
    `class_map` (model name -> engine name); `iou` None takes the family's NMS threshold."""

    path: str
    checksum: str
    family: str = ""
    conf: float = 0.1
    iou: float | None = None
    classes: tuple[str, ...] = ()
    class_map: tuple[tuple[str, str], ...] = ()

    @property
    def inference_key(self) -> str:
        """What the boxes depend on: the file's content and every setting that changes them."""
        return inference_key(
            {
                "onnx": self.checksum,
                "family": self.family,
                "conf": self.conf,
                "iou": self.iou,
                "classes": list(self.classes),
                "class_map": list(self.class_map),
            }
        )

    def load(self) -> OnnxDetector:
        detector = OnnxDetector(
            self.path,
            family=self.family or None,
            conf=self.conf,
            iou=self.iou,
            classes=self.classes,
            class_map=dict(self.class_map),
        )
        check_same_file(f"ONNX detector {self.path}", self.checksum, detector.checksum)
        return detector


class OnnxDetector:
    """Batched or pipelined inference of one ONNX detection model; boxes of classes outside `classes` are dropped."""

    def __init__(
        self,
        path: str | Path,
        family: str | None = None,
        conf: float = 0.1,
        iou: float | None = None,
        classes: Sequence[str] = (),
        class_map: Mapping[str, str] | None = None,
        model_id: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.checksum = content_hash(self.path)
        self.session = _session(self.path, threads)
        model_input = self.session.get_inputs()[0]
        shape = list(model_input.shape)
        if len(shape) != 4 or shape[1] != 3 or not all(isinstance(side, int) for side in shape[2:]):
            raise DetectorError(
                f"ONNX model {self.path} takes input {shape}; the engine needs N x 3 x H x W with a fixed H and W"
            )
        self.size: tuple[int, int] = (int(shape[2]), int(shape[3]))
        self.batch = 1 if shape[0] == 1 else CPU_BATCH
        self._input = model_input.name
        output_shape = list(self.session.get_outputs()[0].shape)
        found = family_named(family) if family else recognise(output_shape, self.size)
        if found is None or not found.fits(output_shape, self.size):
            raise DetectorError(
                f"ONNX model {self.path} has output {output_shape} for input {shape}, which fits "
                f"{'the ' + family + ' family' if family else 'no known family'}; name the family as FAMILY:PATH "
                f"in {_SETTING} (yolox, fastestdet)"
            )
        self.family: Family = found
        self.conf, self.iou = conf, found.nms_iou if iou is None else iou
        self.model_id = model_id or f"{self.path.stem}-{self.checksum[:8]}"
        self.class_map = dict(class_map or {})
        self.names, self._lookup = class_lookup(COCO_NAMES, tuple(classes), self.class_map)
        self.spec = OnnxSpec(
            str(self.path),
            self.checksum,
            found.name,
            conf,
            iou,
            tuple(classes),
            tuple(sorted(self.class_map.items())),
        )
        self._provenance = Provenance("detected", (self.model_id,))
        on_gpu = self.session.get_providers()[0] == "CUDAExecutionProvider"
        self._prepare = ThreadPoolExecutor(1, thread_name_prefix="onnx-prepare") if on_gpu else None

    @property
    def params(self) -> dict[str, Any]:
        """How this detector runs, for label files and reproducibility."""
        return {
            "model_id": self.model_id,
            "weights": str(self.path),
            "architecture": f"onnx:{self.family.name}",
            "imgsz": list(self.size),
            "conf": self.conf,
            "iou": self.iou,
            "operating_threshold": self.family.operating_threshold,
            "device": self.session.get_providers()[0],
            "batch": self.batch,
            "class_map": self.class_map,
            "inference_key": self.spec.inference_key,
        }

    def predict(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        """Detections for each BGR frame (on a GPU the next chunk is prepared while the current one runs)."""
        chunks = [frames[start : start + self.batch] for start in range(0, len(frames), self.batch)]
        if self._prepare is None:
            return [found for chunk in chunks for found in self._run(self._prepared(chunk))]
        detections: list[Detections] = []
        pending = self._prepare.submit(self._prepared, chunks[0]) if chunks else None
        for index in range(len(chunks)):
            assert pending is not None
            prepared = pending.result()
            if index + 1 < len(chunks):
                pending = self._prepare.submit(self._prepared, chunks[index + 1])
            detections.extend(self._run(prepared))
        return detections

    def _run(self, prepared: Sequence[Prepared]) -> list[Detections]:
        tensor = prepared[0].tensor if len(prepared) == 1 else np.concatenate([p.tensor for p in prepared])
        output = self.session.run(None, {self._input: tensor})[0]
        return [self._boxes(output[row : row + 1], one) for row, one in enumerate(prepared)]

    def _prepared(self, chunk: Sequence[np.ndarray]) -> list[Prepared]:
        return [self.family.prepare(frame, self.size) for frame in chunk]

    def _boxes(self, output: np.ndarray, prepared: Prepared) -> Detections:
        raw = self.family.decode(output, prepared, self.size, self.conf)
        engine_class = self._lookup[raw.class_id]
        wanted = engine_class >= 0
        xyxy, score, class_id = raw.xyxy[wanted], raw.score[wanted], engine_class[wanted]
        kept = nms(type(raw)(xyxy, score, class_id), self.iou)
        return Detections(
            xyxy[kept], score[kept], class_id[kept], None, provenance_array(len(kept), self._provenance), self.names
        )


def class_lookup(
    model_names: Sequence[str], classes: Sequence[str], class_map: Mapping[str, str]
) -> tuple[dict[int, str], np.ndarray]:
    """The engine's class names and a lookup model id -> engine id (-1: dropped). A model class is kept when its
    name or its mapped name is among `classes` (all are kept when `classes` is empty)."""
    unknown = sorted(set(class_map) - set(model_names))
    if unknown:
        raise DetectorError(f"DATA_ENGINE_CLASS_MAP names classes the model does not have: {', '.join(unknown)}")
    mapped = [class_map.get(name, name) for name in model_names]
    kept = [
        target for name, target in zip(model_names, mapped, strict=True) if not classes or {name, target} & set(classes)
    ]
    if not kept:
        raise DetectorError(
            f"none of DATA_ENGINE_CLASSES ({', '.join(classes)}) is a class of the model; it knows "
            f"{', '.join(model_names[:8])}, ..."
        )
    engine_names = list(dict.fromkeys(kept))
    engine_id = {name: index for index, name in enumerate(engine_names)}
    lookup = np.array([engine_id.get(target, -1) if target in kept else -1 for target in mapped], dtype=np.int64)
    return dict(enumerate(engine_names)), lookup


def _session(path: Path, threads: int | None) -> Any:
    """An onnxruntime session on CUDA when its provider is there, else the CPU, with as many intra-op threads as
    this process may use; a file that is not a model is one clear error."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    available = ort.get_available_providers()
    providers = [name for name in ("CUDAExecutionProvider", "CPUExecutionProvider") if name in available]
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises its own Fail / InvalidProtobuf / InvalidGraph types
        message = str(error).splitlines()[0][:200]
        raise DetectorError(f"cannot load ONNX model {path}: corrupt or not an ONNX model ({message})") from error
