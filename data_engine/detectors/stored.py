"""Detections kept per clip and detector, so that each frame is inferred once: mining stores what it ran, and
autolabelling the same clip runs the detector only on the frames mining skipped.

One Parquet file per (clip, detector) in the clip's `detections/` folder, named by the detector's inference key
(`data_engine.detectors.base.detections_key`: the weights' content hash and the settings that change boxes), so a
changed model or setting finds no file and infers again: invalidation by key, never by guess. One row per inferred
frame (frames with no box included, so "ran, found nothing" differs from "not run"); the file's metadata records the
clip's geometry (which lets a fully covered clip skip decoding) and which process produced the rows (pid, host,
device), for audits and for the tests that prove inference ran on the compute workers.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from data_engine.catalog import Clip
from data_engine.detections import Detections, Provenance, provenance_array
from data_engine.detectors.base import DetectorError
from data_engine.layout import detections_folder_key
from data_engine.store import Store, atomic_path

_METADATA_KEY = b"data-engine/detections"
_SCHEMA = pa.schema(
    [
        ("frame", pa.int32()),
        ("xyxy", pa.list_(pa.float32())),
        ("confidence", pa.list_(pa.float32())),
        ("class_id", pa.list_(pa.int32())),
    ]
)


class StoredDetectionsError(DetectorError, ValueError):
    """A stored detections file that cannot be read back (it is then ignored and the frames inferred again)."""


@dataclass
class StoredDetections:
    """One detector's detections on some frames of one clip, and where they came from."""

    key: str
    model_id: str
    names: dict[int, str]
    frame_count: int
    width: int
    height: int
    frames: dict[int, Detections] = field(default_factory=dict)
    produced_by: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def covers(self, every: int = 1) -> bool:
        """Whether every `every`-th frame of the clip is stored (then the clip needs neither decoding nor a model)."""
        return self.frame_count > 0 and all(index in self.frames for index in range(0, self.frame_count, every))

    def add(self, frames: Mapping[int, Detections], device: str | None = None) -> None:
        """Newly inferred frames, recorded as produced by this process."""
        if not frames:
            return
        self.frames.update(frames)
        self.produced_by.append(
            {"pid": os.getpid(), "host": socket.gethostname(), "device": device, "frames": len(frames)}
        )


def fetch_stored_detections(store: Store, clip: Clip) -> Path:
    """The clip's stored-detections folder as a local path, with the files the store has (an object store's are
    downloaded; a local store's are there already)."""
    if not store.is_local:
        for key in store.list_keys(detections_folder_key(clip)):
            store.fetch(key)
    return store.local_path(detections_folder_key(clip))


def commit_stored_detections(store: Store, clip: Clip, written: Sequence[str]) -> None:
    """Publish the stored-detections files a job wrote (file names in the clip's detections folder)."""
    for name in written:
        store.commit(f"{detections_folder_key(clip)}/{name}")


def detections_file(folder: str | Path, key: str) -> Path:
    return Path(folder) / f"{key}.parquet"


def write_detections(path: str | Path, stored: StoredDetections) -> Path:
    """Write atomically (temporary file + rename): a crash leaves the previous file or none, never half a file."""
    order = sorted(stored.frames)
    found = [stored.frames[index] for index in order]
    table = pa.table(
        {
            "frame": pa.array(order, pa.int32()),
            "xyxy": pa.array([d.xyxy.reshape(-1) for d in found], pa.list_(pa.float32())),
            "confidence": pa.array([d.confidence for d in found], pa.list_(pa.float32())),
            "class_id": pa.array([d.class_id.astype(np.int32) for d in found], pa.list_(pa.int32())),
        },
        schema=_SCHEMA,
    )
    metadata = {
        "key": stored.key,
        "model_id": stored.model_id,
        "names": {str(key): value for key, value in stored.names.items()},
        "frame_count": stored.frame_count,
        "width": stored.width,
        "height": stored.height,
        "produced_by": stored.produced_by,
        "params": stored.params,
    }
    table = table.replace_schema_metadata({_METADATA_KEY: json.dumps(metadata).encode()})
    target = Path(path)
    with atomic_path(target) as temporary:
        pq.write_table(table, temporary)
    return target


def read_detections(path: str | Path) -> StoredDetections:
    """The detections in a file `write_detections` wrote; StoredDetectionsError when it is not one."""
    try:
        table = pq.read_table(path)
        metadata = json.loads((table.schema.metadata or {})[_METADATA_KEY])
        names = {int(key): str(value) for key, value in metadata["names"].items()}
        stored = StoredDetections(
            key=str(metadata["key"]),
            model_id=str(metadata["model_id"]),
            names=names,
            frame_count=int(metadata["frame_count"]),
            width=int(metadata["width"]),
            height=int(metadata["height"]),
            produced_by=list(metadata.get("produced_by", [])),
            params=dict(metadata.get("params", {})),
        )
        if not table.schema.equals(_SCHEMA, check_metadata=False):
            raise StoredDetectionsError(f"columns {table.schema.names} are not {_SCHEMA.names}")
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowException) as error:
        raise StoredDetectionsError(f"stored detections {path} are not readable: {error}") from error
    provenance = Provenance("detected", (stored.model_id,))
    columns = {name: table.column(name).combine_chunks() for name in ("xyxy", "confidence", "class_id")}
    lengths = columns["confidence"].value_lengths().to_numpy(zero_copy_only=False)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    xyxy = columns["xyxy"].flatten().to_numpy(zero_copy_only=False).reshape(-1, 4)
    confidence = columns["confidence"].flatten().to_numpy(zero_copy_only=False)
    class_id = columns["class_id"].flatten().to_numpy(zero_copy_only=False).astype(np.int64)
    for row, frame in enumerate(table.column("frame").to_pylist()):
        start, end = int(offsets[row]), int(offsets[row + 1])
        stored.frames[int(frame)] = Detections(
            xyxy[start:end],
            confidence[start:end],
            class_id[start:end],
            provenance=provenance_array(end - start, provenance),
            names=names,
        )
    return stored


@dataclass
class ReplayDetector:
    """Stands in for a detector whose detections on a clip are all stored: it has the model's id, classes and run
    parameters, and no model, so a job that only reads detections back loads no weights and imports no torch."""

    model_id: str
    names: dict[int, str]
    params: dict[str, Any]
    inference_key: str

    def predict(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        raise DetectorError(
            f"{self.model_id} only replays stored detections; a frame without them needs the real model"
        )

    @classmethod
    def of(cls, stored: StoredDetections) -> ReplayDetector:
        return cls(stored.model_id, dict(stored.names), {**stored.params, "model_id": stored.model_id}, stored.key)
