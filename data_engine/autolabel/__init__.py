"""Hindsight autolabelling of clips: streaming batched detection, fusion, offline tracking, label files."""

from data_engine.autolabel.evaluation import Metrics, evaluate
from data_engine.autolabel.fusion import fuse_frame
from data_engine.autolabel.hindsight import (
    AutolabelResult,
    HindsightParams,
    HindsightStats,
    apply_hindsight,
    autolabel_clip,
    link_tracks,
)
from data_engine.autolabel.labels import (
    LabelFile,
    LabelsError,
    label_file_from_result,
    label_versions,
    labels_to_parquet,
    next_label_path,
    read_labels,
    read_latest_labels,
    write_labels,
    write_next_labels,
)
from data_engine.autolabel.stream import AutolabelError, StreamedDetections, detect_stream

__all__ = [
    "AutolabelError",
    "AutolabelResult",
    "HindsightParams",
    "HindsightStats",
    "LabelFile",
    "LabelsError",
    "Metrics",
    "StreamedDetections",
    "apply_hindsight",
    "autolabel_clip",
    "detect_stream",
    "evaluate",
    "fuse_frame",
    "label_file_from_result",
    "label_versions",
    "labels_to_parquet",
    "link_tracks",
    "next_label_path",
    "read_labels",
    "read_latest_labels",
    "write_labels",
    "write_next_labels",
]
