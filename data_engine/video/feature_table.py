"""The in-memory and Parquet form of the per-frame features: `FrameFeatures`, numpy columns without pandas.

Ingest writes a video's features from here, mining reads a clip's here and hands them to the triggers and the
selection: none of them imports pandas (~0.3 s of a ~1 s `data-engine mine`), so Arrow tables are read and built
from their buffers, the two pyarrow calls that convert numpy arrays (`pa.array`, `to_numpy`) importing it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data_engine.errors import EngineError
from data_engine.store import temporary_path

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


class FeaturesError(EngineError, ValueError):
    """A clip whose features cannot be computed, or a features file or table that is not valid."""


_DTYPES = {name: np.dtype(np.float64) for name in FEATURE_COLUMNS} | {
    "frame_index": np.dtype(np.int64),
    "phash": np.dtype(np.uint64),
}


class FrameFeatures:
    """The per-frame features of a clip or video: one read-only numpy array per column of `FEATURE_COLUMNS`, all of
    one length, read by name (`features["phash"]`); `len()` is the number of frames.

    The one in-memory form of features, from decoding to triggers and selection: plain arrays are all those read,
    and keeping pandas out of the path spares `data-engine mine` its ~0.3 s import. Construction checks the
    columns' names, lengths and types (integers are taken where they fit exactly).
    """

    __slots__ = ("_columns",)

    def __init__(self, columns: Mapping[str, np.ndarray | list[float] | list[int]]) -> None:
        missing = [name for name in FEATURE_COLUMNS if name not in columns]
        unknown = sorted(set(columns) - set(FEATURE_COLUMNS))
        if missing or unknown:
            raise FeaturesError(
                f"features table lacks columns {missing} or has unknown ones {unknown}; build it with compute_features"
            )
        self._columns = {name: _checked_column(name, columns[name]) for name in FEATURE_COLUMNS}
        lengths = {name: len(values) for name, values in self._columns.items()}
        if len(set(lengths.values())) > 1:
            raise FeaturesError(f"feature columns differ in length: {lengths}; give one value per frame in each")

    @classmethod
    def from_table(cls, table: pa.Table) -> FrameFeatures:
        """The features of an Arrow table of `FEATURES_SCHEMA`, sharing its memory (read from the buffers:
        `to_numpy()` would import pandas)."""
        if not table.schema.equals(FEATURES_SCHEMA, check_metadata=False):
            raise FeaturesError(
                f"features table has columns {table.schema.names} with types {table.schema.types}; "
                f"expected {FEATURES_SCHEMA.names} with types {FEATURES_SCHEMA.types}"
            )
        columns = {}
        for name in FEATURE_COLUMNS:
            array = table.column(name).combine_chunks()
            if array.null_count:
                raise FeaturesError(f"feature column {name} has {array.null_count} missing values")
            dtype = _DTYPES[name]
            buffer = array.buffers()[1] if len(array) else b""
            columns[name] = np.frombuffer(buffer, dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)
        return cls(columns)

    def to_table(self) -> pa.Table:
        """The features as an Arrow table of `FEATURES_SCHEMA`, sharing their memory. Built from the buffers:
        `pa.array(numpy_array)` would import pandas (~0.3-0.5 s) to check whether it was given a pandas object."""
        arrays = [
            pa.Array.from_buffers(field.type, len(self), [None, pa.py_buffer(self._columns[field.name])])
            for field in FEATURES_SCHEMA
        ]
        return pa.Table.from_arrays(arrays, schema=FEATURES_SCHEMA)

    def rows(self, selection: slice | np.ndarray) -> FrameFeatures:
        """The features of the frames at `selection` (a slice, positions or a boolean mask), in its order."""
        return FrameFeatures({name: values[selection] for name, values in self._columns.items()})

    @property
    def columns(self) -> tuple[str, ...]:
        return FEATURE_COLUMNS

    def items(self) -> Iterator[tuple[str, np.ndarray]]:
        return iter(self._columns.items())

    def __getitem__(self, name: str) -> np.ndarray:
        return self._columns[name]

    def __contains__(self, name: object) -> bool:
        return name in self._columns

    def __len__(self) -> int:
        return len(self._columns["frame_index"])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FrameFeatures):
            return NotImplemented
        return all(np.array_equal(values, other[name]) for name, values in self.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FrameFeatures({len(self)} frames)"


def _checked_column(name: str, values: np.ndarray | list[float] | list[int]) -> np.ndarray:
    """`values` as a read-only, contiguous 1-d array of the column's type (a copy unless it is one already);
    integers convert when every value fits exactly."""
    dtype, array = _DTYPES[name], np.asarray(values)
    if array.ndim != 1:
        raise FeaturesError(f"feature column {name} has shape {array.shape}; give one value per frame")
    if array.dtype != dtype:
        convertible = array.dtype.kind in ("iu" if dtype.kind != "f" else "iuf") or not len(array)
        converted = array.astype(dtype) if convertible else array
        if not convertible or not np.array_equal(converted, array):
            raise FeaturesError(f"feature column {name} holds {array.dtype} values that are not {dtype}")
        array = converted
    elif array.flags.writeable or not array.flags.c_contiguous:
        array = array.copy()
    array.setflags(write=False)
    return array


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
