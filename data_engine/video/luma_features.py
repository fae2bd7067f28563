"""The per-frame luma features, computed on frames another loop decodes, without pandas.

This is the part of the mining features (`data_engine.mining.features`, which re-exports everything here) that
ingest needs: the probe's decoding pass hands every frame to a `FeatureSink`, which downscales its luma plane and
measures it, and the table is written as Parquet straight from numpy columns (`data_engine.video.feature_table`
has the schema and the in-memory form, `FrameFeatures`). Importing it pulls in neither pandas nor the mining
package (its triggers and their dependencies), which is most of what `data-engine ingest` spent starting up.
"""

from __future__ import annotations

import queue
import threading

import av
import cv2
import numpy as np
import pyarrow as pa

from data_engine.closing import Closing
from data_engine.video.feature_table import FEATURE_COLUMNS, FeaturesError, FrameFeatures
from data_engine.video.frames import DecodedFrame, frame_to_array

TEXTURE_STD_FLOOR = 8.0
DIFF_BLOCK = 8
PHASH_IMAGE_SIZE = 32
PHASH_BITS = 8
MIN_WIDTH = PHASH_IMAGE_SIZE
_PHASH_BATCH = 512


class FeatureSink(Closing):
    """Features of frames another loop decodes (the ingest probe), so that mining needs no decoding pass of its own.

    Call it with each decoded frame in presentation order; a worker thread downscales and measures while the caller
    decodes the next frames (cv2 and the decoder release the GIL), at most `queue_frames` frames behind. `table()`
    waits for the last frame and returns the features `compute_features` gives for the same frames. Use as a
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
        return self._accumulator.features().to_table()

    def _work(self) -> None:
        while (item := self._frames.get()) is not None:
            if self._error is not None:
                continue  # drain, so the producer never blocks on a full queue
            index, frame, pts_s = item
            try:
                self._accumulator.add(index, pts_s, frame_to_array(frame, "gray", self.width))
            except BaseException as error:  # handed to the decoding thread by __call__ / table
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

    def features(self) -> FrameFeatures:
        """The features of the frames added so far."""
        self._flush_hashes()
        hashes = np.concatenate(self.hashes) if self.hashes else np.zeros(0, dtype=np.uint64)
        return FrameFeatures(
            {
                "frame_index": np.asarray(self.indices, dtype=np.int64),
                # Containers without presentation timestamps (AVI) give frames their packets' decode-order times;
                # frames arrive in presentation order, so sorting the times puts each on its frame.
                "pts_s": np.sort(np.asarray(self.timestamps, dtype=np.float64)),
                **{name: np.asarray(values, dtype=np.float64) for name, values in self.rows.items()},
                "phash": hashes,
            }
        )
