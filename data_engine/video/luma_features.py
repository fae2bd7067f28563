"""The per-frame luma features, computed on frames another loop decodes, without pandas.

This is the part of the mining features (`data_engine.mining.features`, which re-exports everything here) that
ingest needs: the probe's decoding pass hands every frame to a `FeatureSink`, which downscales its luma plane and
measures it, and the table is written as Parquet straight from numpy columns. Importing it pulls in neither pandas
nor the mining package (its triggers and their dependencies), which is most of what `data-engine ingest` spent
starting up.
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import av
import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data_engine.closing import Closing
from data_engine.errors import EngineError
from data_engine.store import temporary_path
from data_engine.video.frames import DecodedFrame, frame_to_array

if TYPE_CHECKING:
    import pandas as pd

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


class FeatureSink(Closing):
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
        self._accumulator = FeatureAccumulator()
        self._frames: queue.Queue[tuple[int, av.VideoFrame, float] | None] = queue.Queue(maxsize=queue_frames)
        self._error: BaseException | None = None
        self._worker = threading.Thread(target=self._work, name="frame-features", daemon=True)
        self._worker.start()

    def __call__(self, index: int, decoded: DecodedFrame, pts_s: float) -> None:
        if self._error is not None:
            raise FeaturesError(f"computing frame features failed: {self._error}") from self._error
        self._frames.put((index, decoded.frame, pts_s))

    def table(self) -> pa.Table:
        """The features of every frame given so far as an Arrow table of `FEATURES_SCHEMA` (waits for the worker
        to finish them); `write_table` stores it."""
        self.close()
        if self._error is not None:
            raise FeaturesError(f"computing frame features failed: {self._error}") from self._error
        return self._accumulator.to_table()

    def result(self) -> pd.DataFrame:
        """The same features as a DataFrame, the table `compute_features` gives for the same frames."""
        return self.table().to_pandas()

    def _work(self) -> None:
        while (item := self._frames.get()) is not None:
            if self._error is not None:
                continue  # drain, so the producer never blocks on a full queue
            index, frame, pts_s = item
            try:
                self._accumulator.add(index, pts_s, frame_to_array(frame, "gray", self.width))
            except BaseException as error:  # handed to the decoding thread by __call__ / result
                self._error = error

    def close(self) -> None:
        """Stop the worker once it has measured every frame given so far."""
        if self._worker.is_alive():
            self._frames.put(None)
            self._worker.join()


def phash_thumbnail(luma: np.ndarray) -> np.ndarray:
    """The 32x32 grey image the phash is computed on: cv2's area resize of the (already small) luma, about ten
    times cheaper than PIL's LANCZOS. `imagehash.phash` of this thumbnail gives the same bits as `phash_batch`
    (imagehash leaves an image that is already 32x32 as it is)."""
    return cv2.resize(luma, (PHASH_IMAGE_SIZE, PHASH_IMAGE_SIZE), interpolation=cv2.INTER_AREA)


def _dct_rows(size: int, count: int) -> np.ndarray:
    """The first `count` rows of the unnormalised DCT-II matrix (scipy.fftpack's `dct`, type 2, norm None)."""
    frequency, sample = np.arange(count)[:, None], np.arange(size)[None, :]
    return 2 * np.cos(np.pi * frequency * (2 * sample + 1) / (2 * size))


_PHASH_DCT = _dct_rows(PHASH_IMAGE_SIZE, PHASH_BITS)


def phash_batch(thumbnails: np.ndarray) -> np.ndarray:
    """64-bit perceptual hashes (uint64) of a stack of 32x32 thumbnails, same bits as `imagehash.phash`.

    Same arithmetic as imagehash (DCT-II along rows then columns, 8x8 low frequencies above their median), as two
    matrix products over the stack for just the 8x8 it keeps: scipy's DCT costs ~0.2 s of import per command. The
    coefficients are rounded to 1e-6 (8-bit pixels make them multiples of far more), so float noise where the
    FFT gives exact zeros (a flat frame) cannot set bits; the first bit of imagehash's hex string is the most
    significant bit here.
    """
    if thumbnails.ndim != 3 or thumbnails.shape[1:] != (PHASH_IMAGE_SIZE, PHASH_IMAGE_SIZE):
        raise FeaturesError(f"phash thumbnails must have shape (n, 32, 32), got {thumbnails.shape}")
    low = np.round(_PHASH_DCT @ thumbnails.astype(np.float64) @ _PHASH_DCT.T, 6)
    low = low.reshape(len(thumbnails), PHASH_BITS * PHASH_BITS)
    bits = low > np.median(low, axis=1, keepdims=True)
    return np.packbits(bits, axis=1).view(">u8")[:, 0].astype(np.uint64)


def _block_diff_max(luma: np.ndarray, previous: np.ndarray) -> float:
    """The largest per-block mean absolute difference (blocks of DIFF_BLOCK pixels; a ragged edge is left out)."""
    rows, columns = luma.shape[0] // DIFF_BLOCK, luma.shape[1] // DIFF_BLOCK
    if not rows or not columns:
        return float(cv2.norm(luma, previous, cv2.NORM_L1) / luma.size)
    height, width = rows * DIFF_BLOCK, columns * DIFF_BLOCK
    difference = cv2.absdiff(luma[:height, :width], previous[:height, :width]).astype(np.float32)
    return float(cv2.resize(difference, (columns, rows), interpolation=cv2.INTER_AREA).max())


class FeatureAccumulator:
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

    def columns(self) -> dict[str, np.ndarray]:
        """The features of the frames added so far, one numpy array per column of `FEATURE_COLUMNS`, in order."""
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
        return {name: columns[name] for name in FEATURE_COLUMNS}

    def to_table(self) -> pa.Table:
        """The columns as an Arrow table of `FEATURES_SCHEMA`, sharing their memory. Built from the buffers:
        `pa.array(numpy_array)` would import pandas (~0.3-0.5 s) to check whether it was given a pandas object."""
        arrays = [
            pa.Array.from_buffers(field.type, len(values), [None, pa.py_buffer(np.ascontiguousarray(values))])
            for field, values in zip(FEATURES_SCHEMA, self.columns().values(), strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=FEATURES_SCHEMA)


def write_table(table: pa.Table, path: str | Path) -> Path:
    """Write a features table as Parquet atomically (temporary file + rename): readers never see half a file."""
    if not table.schema.equals(FEATURES_SCHEMA, check_metadata=False):
        raise FeaturesError(f"features table has columns {table.schema.names}; expected {FEATURES_SCHEMA.names}")
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
