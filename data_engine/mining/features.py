"""Per-frame image features of a clip, computed in one decoding pass on a small luma image, stored as Parquet.

Triggers read these features instead of the video, so they can be re-run (with other parameters, or new triggers)
without decoding again. Everything is computed on the luma plane downscaled to `width` pixels (no colour
conversion): brightness, contrast, frame-to-frame differences, sharpness and a perceptual hash.

Ingest already decodes every frame of a video to probe it; `FeatureSink` computes the features of those very frames
(on a worker thread, overlapping the decoder), and `clip_features` cuts a clip's rows out of them, so a clip copied
without re-encoding is never decoded again for mining.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import av
import cv2
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data_engine.errors import EngineError
from data_engine.store import temporary_path
from data_engine.video.frames import DecodedFrame, frame_to_array, iter_frames

FEATURES_SCHEMA = pa.schema(
    [
        ("frame_index", pa.int64()),
        ("pts_s", pa.float64()),
        ("brightness_mean", pa.float64()),
        ("brightness_std", pa.float64()),
        ("diff_prev", pa.float64()),
        ("block_diff_max", pa.float64()),
        ("texture_diff_prev", pa.float64()),
        ("sharpness", pa.float64()),
        ("phash", pa.uint64()),
    ]
)
"""Columns, one row per decoded frame:

- brightness_mean / brightness_std: of the luma, in grey levels 0..255.
- diff_prev: mean absolute luma difference to the previous frame (0 for the first frame).
- block_diff_max: the largest mean absolute luma difference to the previous frame over blocks of DIFF_BLOCK x
  DIFF_BLOCK pixels (0 for the first frame): a picture that changed anywhere (one person moving in a still room)
  has a large value here while its whole-frame mean stays near 0.
- texture_diff_prev: the same on luma standardised per frame, (y - mean) / max(std, TEXTURE_STD_FLOOR); blind to a
  global brightness or contrast change (lighting), large when the content changes (cut, glitch). 0 for the first.
- sharpness: variance of the Laplacian of the luma (low for blurred or flat frames).
- phash: 64-bit perceptual hash, bit for bit `imagehash.phash` of the 32x32 area-resized luma (`phash_thumbnail`).
"""
FEATURE_COLUMNS: tuple[str, ...] = tuple(FEATURES_SCHEMA.names)
TEXTURE_STD_FLOOR = 8.0
DIFF_BLOCK = 8
PHASH_IMAGE_SIZE = 32
PHASH_BITS = 8
MIN_WIDTH = PHASH_IMAGE_SIZE
_PHASH_BATCH = 512


class FeaturesError(EngineError, ValueError):
    """A clip whose features cannot be computed, or a features file or table that is not valid."""


def compute_features(
    clip_path: str | Path,
    width: int = 160,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Decode `clip_path` once and return one row of features per frame (columns `FEATURE_COLUMNS`).

    `width`: the luma is downscaled to this width (aspect kept) before any feature is computed; small is fast.
    `progress`: called with the number of frames done so far, every 100 frames and at the end.
    """
    path = Path(clip_path)
    if not path.is_file():
        raise FeaturesError(f"clip {path} does not exist or is not a file; pass the path of a video file")
    if width < MIN_WIDTH:
        raise FeaturesError(f"width {width} is too small; use at least {MIN_WIDTH} pixels (the phash needs 32x32)")
    accumulator = _FeatureAccumulator()
    try:
        for frame in iter_frames(path, pixel_format="gray", width=width):
            accumulator.add(frame.index, frame.pts_s, frame.image)
            if progress is not None and accumulator.count % 100 == 0:
                progress(accumulator.count)
    except av.error.FFmpegError as error:
        raise FeaturesError(f"cannot decode {path}: {error}; check that it is a readable video file") from error
    if progress is not None:
        progress(accumulator.count)
    return accumulator.to_frame()


class FeatureSink:
    """Features of frames another loop decodes (the ingest probe), so that mining needs no decoding pass of its own.

    Call it with each decoded frame in presentation order; a worker thread downscales and measures while the caller
    decodes the next frames (cv2 and the decoder release the GIL), at most `queue_frames` frames behind. `result()`
    waits for the last frame and returns the same table `compute_features` gives for the same frames. Use as a
    context manager so the thread stops also when decoding fails.
    """

    def __init__(self, width: int = 160, queue_frames: int = 8) -> None:
        if width < MIN_WIDTH:
            raise FeaturesError(f"width {width} is too small; use at least {MIN_WIDTH} pixels (the phash needs 32x32)")
        self.width = width
        self._accumulator = _FeatureAccumulator()
        self._frames: queue.Queue[tuple[int, av.VideoFrame, float] | None] = queue.Queue(maxsize=queue_frames)
        self._error: BaseException | None = None
        self._worker = threading.Thread(target=self._work, name="frame-features", daemon=True)
        self._worker.start()

    def __call__(self, index: int, decoded: DecodedFrame, pts_s: float) -> None:
        if self._error is not None:
            raise FeaturesError(f"computing frame features failed: {self._error}") from self._error
        self._frames.put((index, decoded.frame, pts_s))

    def result(self) -> pd.DataFrame:
        """The features of every frame given so far (waits for the worker to finish them)."""
        self._stop()
        if self._error is not None:
            raise FeaturesError(f"computing frame features failed: {self._error}") from self._error
        return self._accumulator.to_frame()

    def _work(self) -> None:
        while (item := self._frames.get()) is not None:
            if self._error is not None:
                continue  # drain, so the producer never blocks on a full queue
            index, frame, pts_s = item
            try:
                self._accumulator.add(index, pts_s, frame_to_array(frame, "gray", self.width))
            except BaseException as error:  # handed to the decoding thread by __call__ / result
                self._error = error

    def _stop(self) -> None:
        if self._worker.is_alive():
            self._frames.put(None)
            self._worker.join()

    def __enter__(self) -> FeatureSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stop()


def clip_features(video_features: pd.DataFrame, first_frame: int, last_frame: int) -> pd.DataFrame:
    """The rows of a clip's frames out of its video's features, as `compute_features` of the clip file gives them.

    Valid for clips copied without re-encoding (their decoded frames are the video's, bit for bit). Frame indices
    start at 0 and the differences to the previous frame are 0 on the clip's first frame, as when the clip is
    decoded alone; `pts_s` counts from the clip's first frame.
    """
    rows = video_features[
        (video_features["frame_index"] >= first_frame) & (video_features["frame_index"] <= last_frame)
    ]
    if len(rows) != last_frame - first_frame + 1:
        raise FeaturesError(
            f"video features hold {len(rows)} of the clip's {last_frame - first_frame + 1} frames "
            f"({first_frame}-{last_frame}); recompute the clip's features from its file"
        )
    clip = rows.reset_index(drop=True).copy()
    clip["frame_index"] -= first_frame
    clip["pts_s"] -= clip["pts_s"].iloc[0]
    clip.loc[0, ["diff_prev", "block_diff_max", "texture_diff_prev"]] = 0.0
    return clip


def phash_thumbnail(luma: np.ndarray) -> np.ndarray:
    """The 32x32 grey image the phash is computed on: cv2's area resize of the (already small) luma, about ten
    times cheaper than PIL's LANCZOS. `imagehash.phash` of this thumbnail gives the same bits as `phash_batch`
    (imagehash leaves an image that is already 32x32 as it is)."""
    return cv2.resize(luma, (PHASH_IMAGE_SIZE, PHASH_IMAGE_SIZE), interpolation=cv2.INTER_AREA)


def phash_batch(thumbnails: np.ndarray) -> np.ndarray:
    """64-bit perceptual hashes (uint64) of a stack of 32x32 thumbnails, same bits as `imagehash.phash`.

    Same arithmetic as imagehash (scipy DCT-II along rows then columns, 8x8 low frequencies above their median),
    vectorised over the stack; the first bit of imagehash's hex string is the most significant bit here.
    """
    import scipy.fftpack  # imported on use: scipy.fft takes ~0.3 s to import

    if thumbnails.ndim != 3 or thumbnails.shape[1:] != (PHASH_IMAGE_SIZE, PHASH_IMAGE_SIZE):
        raise FeaturesError(f"phash thumbnails must have shape (n, 32, 32), got {thumbnails.shape}")
    dct = scipy.fftpack.dct(scipy.fftpack.dct(thumbnails, axis=1), axis=2)
    low = dct[:, :PHASH_BITS, :PHASH_BITS].reshape(len(thumbnails), PHASH_BITS * PHASH_BITS)
    bits = low > np.median(low, axis=1, keepdims=True)
    return np.packbits(bits, axis=1).view(">u8")[:, 0].astype(np.uint64)


DEFAULT_DUPLICATE_DISTANCE = 8
"""Two frames whose perceptual hashes differ by at most this many bits (of 64) are near-duplicates: for selection
(never select both) and for the dataset's leakage check (never one in train, the other in val/test). Measured in
data_engine/mining/selection.py's docstring."""


def hamming(hashes_a: np.ndarray, hashes_b: np.ndarray) -> np.ndarray:
    """Number of differing bits between two arrays of uint64 hashes (element-wise)."""
    return np.bitwise_count(np.bitwise_xor(hashes_a.astype(np.uint64), hashes_b.astype(np.uint64))).astype(np.int64)


def write_features(features: pd.DataFrame, path: str | Path) -> Path:
    """Write a features table as Parquet atomically (temporary file + rename): readers never see half a file."""
    table = _to_table(features)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(target)
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def read_features(path: str | Path) -> pd.DataFrame:
    """Read a features table written by `write_features`, checking its columns and types."""
    source = Path(path)
    if not source.is_file():
        raise FeaturesError(f"features file {source} does not exist; compute it with compute_features first")
    try:
        table = pq.read_table(source)
    except (pa.ArrowException, OSError) as error:
        raise FeaturesError(f"features file {source} is not readable Parquet: {error}") from error
    if not table.schema.equals(FEATURES_SCHEMA, check_metadata=False):
        raise FeaturesError(
            f"features file {source} has columns {table.schema.names} with types {table.schema.types}; "
            f"expected {FEATURES_SCHEMA.names} (recompute it with compute_features)"
        )
    return table.to_pandas()


def _to_table(features: pd.DataFrame) -> pa.Table:
    missing = [column for column in FEATURE_COLUMNS if column not in features.columns]
    if missing:
        raise FeaturesError(f"features table lacks columns {missing}; build it with compute_features")
    try:
        return pa.Table.from_pandas(features[list(FEATURE_COLUMNS)], schema=FEATURES_SCHEMA, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
        raise FeaturesError(f"features table has values of the wrong type: {error}") from error


def _block_diff_max(luma: np.ndarray, previous: np.ndarray) -> float:
    """The largest per-block mean absolute difference (blocks of DIFF_BLOCK pixels; a ragged edge is left out)."""
    rows, columns = luma.shape[0] // DIFF_BLOCK, luma.shape[1] // DIFF_BLOCK
    if not rows or not columns:
        return float(cv2.norm(luma, previous, cv2.NORM_L1) / luma.size)
    height, width = rows * DIFF_BLOCK, columns * DIFF_BLOCK
    difference = cv2.absdiff(luma[:height, :width], previous[:height, :width]).astype(np.float32)
    return float(cv2.resize(difference, (columns, rows), interpolation=cv2.INTER_AREA).max())


class _FeatureAccumulator:
    """Per-frame features as frames stream by; phash DCTs are batched (one numpy call per 512 frames)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[float]] = {
            name: [] for name in FEATURE_COLUMNS if name not in ("phash", "frame_index", "pts_s")
        }
        self.indices: list[int] = []
        self.timestamps: list[float] = []
        self.hashes: list[np.ndarray] = []
        self.pending_thumbnails: list[np.ndarray] = []
        self.previous: np.ndarray | None = None
        self.previous_standardised: np.ndarray | None = None

    @property
    def count(self) -> int:
        return len(self.indices)

    def add(self, index: int, pts_s: float, luma: np.ndarray) -> None:
        mean, std = (float(value[0, 0]) for value in cv2.meanStdDev(luma))
        standardised = (luma.astype(np.float32) - mean) * (1.0 / max(std, TEXTURE_STD_FLOOR))
        if self.previous is None or self.previous_standardised is None or self.previous.shape != luma.shape:
            diff = block_diff = texture_diff = 0.0
        else:
            diff = cv2.norm(luma, self.previous, cv2.NORM_L1) / luma.size
            block_diff = _block_diff_max(luma, self.previous)
            texture_diff = cv2.norm(standardised, self.previous_standardised, cv2.NORM_L1) / luma.size
        laplacian_std = cv2.meanStdDev(cv2.Laplacian(luma, cv2.CV_32F))[1][0, 0]
        self.indices.append(index)
        self.timestamps.append(pts_s)
        self.rows["brightness_mean"].append(mean)
        self.rows["brightness_std"].append(std)
        self.rows["diff_prev"].append(diff)
        self.rows["block_diff_max"].append(block_diff)
        self.rows["texture_diff_prev"].append(texture_diff)
        self.rows["sharpness"].append(float(laplacian_std) ** 2)
        self.pending_thumbnails.append(phash_thumbnail(luma))
        if len(self.pending_thumbnails) >= _PHASH_BATCH:
            self._flush_hashes()
        self.previous, self.previous_standardised = luma, standardised

    def _flush_hashes(self) -> None:
        if self.pending_thumbnails:
            self.hashes.append(phash_batch(np.stack(self.pending_thumbnails)))
            self.pending_thumbnails = []

    def to_frame(self) -> pd.DataFrame:
        self._flush_hashes()
        hashes = np.concatenate(self.hashes) if self.hashes else np.zeros(0, dtype=np.uint64)
        columns = {
            "frame_index": np.asarray(self.indices, dtype=np.int64),
            # Containers without presentation timestamps (AVI) give frames their packets' decode-order times;
            # frames arrive in presentation order, so sorting the times puts each on its frame.
            "pts_s": np.sort(np.asarray(self.timestamps, dtype=np.float64)),
            **{name: np.asarray(values, dtype=np.float64) for name, values in self.rows.items()},
            "phash": hashes,
        }
        return pd.DataFrame(columns)[list(FEATURE_COLUMNS)]
