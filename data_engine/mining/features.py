"""Per-frame image features of a clip, computed in one decoding pass on a small luma image, stored as Parquet.

Triggers read these features instead of the video, so they can be re-run (with other parameters, or new triggers)
without decoding again. Everything is computed on the luma plane downscaled to `width` pixels (no colour
conversion): brightness, contrast, frame-to-frame differences, sharpness and a perceptual hash.

Ingest already decodes every frame of a video to probe it; `FeatureSink` computes the features of those very frames
(on a worker thread, overlapping the decoder), and `clip_features` cuts a clip's rows out of them, so a clip copied
without re-encoding is never decoded again for mining. The per-frame computation and `FeatureSink` live in
`data_engine.video.luma_features`, the schema and `FrameFeatures` (the features in memory: numpy columns, no pandas)
in `data_engine.video.feature_table`; ingest imports only those, and they are re-exported here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data_engine.video.feature_table import (
    FEATURE_COLUMNS,
    FEATURES_SCHEMA,
    FeaturesError,
    FrameFeatures,
    write_table,
)
from data_engine.video.frames import THUMBNAIL_DECODING, iter_frames
from data_engine.video.luma_features import (
    DIFF_BLOCK,
    MIN_WIDTH,
    PHASH_BITS,
    PHASH_IMAGE_SIZE,
    TEXTURE_STD_FLOOR,
    FeatureAccumulator,
    FeatureSink,
    phash_batch,
    phash_thumbnail,
)

__all__ = [
    "DEFAULT_DUPLICATE_DISTANCE",
    "DIFF_BLOCK",
    "FEATURES_SCHEMA",
    "FEATURE_COLUMNS",
    "MIN_WIDTH",
    "PHASH_BITS",
    "PHASH_IMAGE_SIZE",
    "TEXTURE_STD_FLOOR",
    "FeatureSink",
    "FeaturesError",
    "FrameFeatures",
    "clip_features",
    "compute_features",
    "hamming",
    "phash_batch",
    "phash_thumbnail",
    "read_features",
    "write_features",
]


def compute_features(
    clip_path: str | Path,
    width: int = 160,
    progress: Callable[[int], None] | None = None,
) -> FrameFeatures:
    """Decode `clip_path` once and return the features of each frame (columns `FEATURE_COLUMNS`).

    `width`: the luma is downscaled to this width (aspect kept) before any feature is computed; small is fast.
    `progress`: called with the number of frames done so far, every 100 frames and at the end.
    """
    path = Path(clip_path)
    if not path.is_file():
        raise FeaturesError(f"clip {path} does not exist or is not a file; pass the path of a video file")
    if width < MIN_WIDTH:
        raise FeaturesError(f"width {width} is too small; use at least {MIN_WIDTH} pixels (the phash needs 32x32)")
    accumulator = FeatureAccumulator()
    try:
        for frame in iter_frames(path, pixel_format="gray", width=width, decoder_options=THUMBNAIL_DECODING):
            accumulator.add(frame.index, frame.pts_s, frame.image)
            if progress is not None and accumulator.count % 100 == 0:
                progress(accumulator.count)
    except av.error.FFmpegError as error:
        raise FeaturesError(f"cannot decode {path}: {error}; check that it is a readable video file") from error
    if progress is not None:
        progress(accumulator.count)
    return accumulator.features()


def clip_features(video_features: FrameFeatures, first_frame: int, last_frame: int) -> FrameFeatures:
    """The rows of a clip's frames out of its video's features, as `compute_features` of the clip file gives them.

    Valid for clips copied without re-encoding (their decoded frames are the video's, bit for bit). Frame indices
    start at 0 and the differences to the previous frame are 0 on the clip's first frame, as when the clip is
    decoded alone; `pts_s` counts from the clip's first frame.
    """
    frames = video_features["frame_index"]
    rows = video_features.rows((frames >= first_frame) & (frames <= last_frame))
    if len(rows) != last_frame - first_frame + 1:
        raise FeaturesError(
            f"video features hold {len(rows)} of the clip's {last_frame - first_frame + 1} frames "
            f"({first_frame}-{last_frame}); recompute the clip's features from its file"
        )
    columns = dict(rows.items())
    columns["frame_index"] = columns["frame_index"] - first_frame
    columns["pts_s"] = columns["pts_s"] - columns["pts_s"][0]
    for name in ("diff_prev", "block_diff_max", "texture_diff_prev"):
        columns[name] = np.concatenate(([0.0], columns[name][1:]))
    return FrameFeatures(columns)


DEFAULT_DUPLICATE_DISTANCE = 8
"""Two frames whose perceptual hashes differ by at most this many bits (of 64) are near-duplicates: for selection
(never select both) and for the dataset's leakage check (never one in train, the other in val/test). Measured in
data_engine/mining/selection.py's docstring."""


def hamming(hashes_a: np.ndarray | Sequence[int], hashes_b: np.ndarray | Sequence[int]) -> np.ndarray:
    """Number of differing bits between two arrays of uint64 hashes (element-wise). Python ints are converted
    straight to uint64: `np.array` of a list holding one >= 2**63 beside smaller ones would make it floats."""
    a, b = np.asarray(hashes_a, dtype=np.uint64), np.asarray(hashes_b, dtype=np.uint64)
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)


def write_features(features: FrameFeatures, path: str | Path) -> Path:
    """Write features as Parquet atomically (temporary file + rename): readers never see half a file."""
    return write_table(features.to_table(), path)


def read_features(path: str | Path) -> FrameFeatures:
    """Read features written by `write_features`, checking their columns and types. Read with `ParquetFile`:
    `pq.read_table` goes through pyarrow's datasets, which import pandas."""
    source = Path(path)
    if not source.is_file():
        raise FeaturesError(f"features file {source} does not exist; compute it with compute_features first")
    try:
        with pq.ParquetFile(source) as file:
            table = file.read()
    except (pa.ArrowException, OSError) as error:
        raise FeaturesError(f"features file {source} is not readable Parquet: {error}") from error
    try:
        return FrameFeatures.from_table(table)
    except FeaturesError as error:
        raise FeaturesError(f"features file {source}: {error} (recompute it with compute_features)") from error
