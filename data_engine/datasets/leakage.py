"""Leakage check: a training image that is a near-duplicate (perceptual hash within a few bits) of a val or test
image makes the evaluation flatter the model, so the build fails instead."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from data_engine.mining.features import DEFAULT_DUPLICATE_DISTANCE, hamming, phash_batch, phash_thumbnail

_CHUNK = 2048


@dataclass(frozen=True, slots=True)
class Leak:
    """A train image and a val/test image whose perceptual hashes differ by at most the duplicate distance."""

    train_image: str
    other_image: str
    other_split: str
    distance: int


def image_phash(bgr: np.ndarray) -> int:
    """The 64-bit perceptual hash of a BGR image (the same bits as mining's `phash`, i.e. imagehash.phash)."""
    luma = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return int(phash_batch(phash_thumbnail(luma)[None])[0])


def find_leaks(
    train: Sequence[tuple[str, int]],
    others: Sequence[tuple[str, str, int]],
    max_distance: int = DEFAULT_DUPLICATE_DISTANCE,
) -> list[Leak]:
    """Every (train image, val/test image) pair within `max_distance` bits. `train` holds (image, hash) pairs,
    `others` (image, split, hash) triples; the comparison is all pairs, vectorised in chunks."""
    if not train or not others:
        return []
    train_hashes = np.array([value for _, value in train], dtype=np.uint64)
    other_hashes = np.array([value for _, _, value in others], dtype=np.uint64)
    leaks = []
    for start in range(0, len(train_hashes), _CHUNK):
        block = train_hashes[start : start + _CHUNK]
        distances = hamming(block[:, None], other_hashes[None, :])
        for row, column in zip(*np.nonzero(distances <= max_distance), strict=True):
            image, split, _ = others[column]
            leaks.append(Leak(train[start + row][0], image, split, int(distances[row, column])))
    return leaks
