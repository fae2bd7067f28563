"""Label files: the versioned JSON a clip's labels live in, written atomically and never overwritten.

Layout: `<clip_dir>/labels/v0001.json`, `v0002.json`, ... each a complete "data-engine/labels" document (schema
version 1). Autolabelling and human review each add a new version; the latest one is the clip's current labels.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from data_engine.attributes import attributes
from data_engine.detections import Detections, DetectionsError
from data_engine.documents import read_json_document
from data_engine.errors import EngineError
from data_engine.store import temporary_path

LABELS_SCHEMA = "data-engine/labels"
LABELS_SCHEMA_VERSION = 1
LABELS_DIR = "labels"
LabelKind = Literal["autolabel", "review"]
_VERSION_NAME = re.compile(r"^v(\d{4,})\.json$")


class LabelsError(EngineError):
    """A label file that cannot be written or read as a data-engine label file."""


@dataclass(frozen=True, slots=True)
class LabelFile:
    """One version of a clip's labels: boxes of every frame plus how they were made."""

    clip_id: str
    version: int
    kind: LabelKind
    frame_count: int
    width: int
    height: int
    names: dict[int, str]
    frames: tuple[Detections, ...]
    models: tuple[dict[str, Any], ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": LABELS_SCHEMA,
            "schema_version": LABELS_SCHEMA_VERSION,
            **attributes(self, "clip_id", "version"),
            "created_at": self.created_at or datetime.now(UTC).isoformat(timespec="seconds"),
            "kind": self.kind,
            "models": list(self.models),
            **attributes(self, "params", "frame_count", "width", "height"),
            "names": {str(key): value for key, value in self.names.items()},
            "frames": [{"frame": index, "boxes": frame.to_dicts()} for index, frame in enumerate(self.frames)],
            "stats": self.stats,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = "label file") -> LabelFile:
        if data.get("schema") != LABELS_SCHEMA or data.get("schema_version") != LABELS_SCHEMA_VERSION:
            raise LabelsError(f"{source} is not a {LABELS_SCHEMA} v{LABELS_SCHEMA_VERSION} document")
        try:
            names = {int(key): str(value) for key, value in data["names"].items()}
            frames = [Detections.empty(names)] * int(data["frame_count"])
            for entry in data["frames"]:
                frames[int(entry["frame"])] = Detections.from_dicts(entry["boxes"], names)
            return cls(
                clip_id=str(data["clip_id"]),
                version=int(data["version"]),
                kind=data["kind"],
                frame_count=int(data["frame_count"]),
                width=int(data["width"]),
                height=int(data["height"]),
                names=names,
                frames=tuple(frames),
                models=tuple(data.get("models", ())),
                params=dict(data.get("params", {})),
                stats=dict(data.get("stats", {})),
                created_at=str(data.get("created_at", "")),
            )
        except (KeyError, TypeError, ValueError, IndexError, DetectionsError) as error:
            raise LabelsError(f"{source} is malformed: {error}") from error


def label_versions(clip_dir: str | Path) -> list[Path]:
    """The clip's label files, oldest first."""
    directory = Path(clip_dir) / LABELS_DIR
    if not directory.is_dir():
        return []
    found = [(int(match.group(1)), path) for path in directory.iterdir() if (match := _VERSION_NAME.match(path.name))]
    return [path for _, path in sorted(found)]


def next_label_path(clip_dir: str | Path) -> Path:
    """Where the next label version goes: `labels/v0001.json` for a clip without labels, else one above the last."""
    versions = label_versions(clip_dir)
    return label_path(clip_dir, version_of(versions[-1]) + 1 if versions else 1)


def label_path(clip_dir: str | Path, version: int) -> Path:
    """The file of label version `version` of the clip in `clip_dir`."""
    return Path(clip_dir) / LABELS_DIR / f"v{version:04d}.json"


def version_of(path: str | Path) -> int:
    """The version number in a label file name (`v0003.json` -> 3)."""
    match = _VERSION_NAME.match(Path(path).name)
    if not match:
        raise LabelsError(f"{path} is not a label version file name (expected vNNNN.json)")
    return int(match.group(1))


def write_labels(path: str | Path, labels: LabelFile) -> Path:
    """Write atomically (temporary file, fsync, hard link into place) and never overwrite: an existing `path`
    is an error, also when another writer wins a race for it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        raise LabelsError(f"label file {path} already exists; label versions are never overwritten (next_label_path)")
    temporary = temporary_path(path)
    try:
        with open(temporary, "x", encoding="utf-8") as handle:
            json.dump(labels.to_json(), handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError as error:
            raise LabelsError(f"label file {path} was written by someone else meanwhile; not overwriting") from error
    finally:
        os.unlink(temporary)
    return path


def write_next_labels(clip_dir: str | Path, labels: LabelFile) -> Path:
    """Write `labels` as the clip's next version (its `version` field set from the file name)."""
    path = next_label_path(clip_dir)
    return write_labels(path, replace(labels, version=version_of(path)))


def read_labels(path: str | Path) -> LabelFile:
    """Read one label file."""
    path = Path(path)
    return LabelFile.from_json(read_json_document(path, LabelsError, "label file"), source=str(path))


def read_latest_labels(clip_dir: str | Path) -> LabelFile | None:
    """The clip's current labels (highest version), or None when it has none yet."""
    versions = label_versions(clip_dir)
    return read_labels(versions[-1]) if versions else None


_BOX_COLUMNS = pa.schema(
    [
        ("clip_id", pa.string()),
        ("version", pa.int32()),
        ("kind", pa.string()),
        ("frame", pa.int32()),
        ("x1", pa.float32()),
        ("y1", pa.float32()),
        ("x2", pa.float32()),
        ("y2", pa.float32()),
        ("class_id", pa.int32()),
        ("class_name", pa.string()),
        ("score", pa.float32()),
        ("track_id", pa.int64()),
        ("provenance", pa.string()),
        ("models", pa.list_(pa.string())),
    ]
)


def labels_to_parquet(label_files: Iterable[LabelFile], path: str | Path) -> Path:
    """One Parquet table of every box of many clips, for batch analysis (written atomically)."""
    columns: dict[str, list[Any]] = {name: [] for name in _BOX_COLUMNS.names}
    for labels in label_files:
        for frame_index, frame in enumerate(labels.frames):
            for row in range(len(frame)):
                x1, y1, x2, y2 = (float(value) for value in frame.xyxy[row])
                provenance = frame.provenance[row]
                class_id = int(frame.class_id[row])
                values = (
                    labels.clip_id,
                    labels.version,
                    labels.kind,
                    frame_index,
                    x1,
                    y1,
                    x2,
                    y2,
                    class_id,
                    labels.names.get(class_id, str(class_id)),
                    float(frame.confidence[row]),
                    int(frame.track_id[row]),
                    provenance.kind,
                    list(provenance.models),
                )
                for name, value in zip(_BOX_COLUMNS.names, values, strict=True):
                    columns[name].append(value)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    pq.write_table(pa.table(columns, schema=_BOX_COLUMNS), temporary)
    os.replace(temporary, path)
    return path
