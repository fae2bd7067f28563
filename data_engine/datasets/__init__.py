"""Dataset versions: immutable manifests of reviewed frames, split per video (frozen test), exported for training."""

from data_engine.datasets.build import (
    DatasetConfig,
    DatasetError,
    DatasetReport,
    DatasetVersion,
    LeakageError,
    Rejection,
    build_dataset,
    load_dataset,
    new_reviewed_frames,
    reviewed_frames,
)
from data_engine.datasets.leakage import DEFAULT_DUPLICATE_DISTANCE, Leak, find_leaks, image_phash
from data_engine.datasets.manifest import DatasetManifest, ManifestFrame
from data_engine.datasets.splits import SPLITS, Split, SplitConfig, SplitError, assign_splits

__all__ = [
    "DEFAULT_DUPLICATE_DISTANCE",
    "SPLITS",
    "DatasetConfig",
    "DatasetError",
    "DatasetManifest",
    "DatasetReport",
    "DatasetVersion",
    "Leak",
    "LeakageError",
    "ManifestFrame",
    "Rejection",
    "Split",
    "SplitConfig",
    "SplitError",
    "assign_splits",
    "build_dataset",
    "find_leaks",
    "image_phash",
    "load_dataset",
    "new_reviewed_frames",
    "reviewed_frames",
]
