"""The dataset manifest: the immutable description of one dataset version.

Which frames (clip id + frame index), from which label-file version, in which split, under which class map; its
content hash covers exactly that, so two builds of the same reviewed labels are the same version."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from data_engine.attributes import attributes
from data_engine.datasets.splits import NEW_TEST, SPLITS
from data_engine.errors import EngineError

MANIFEST_SCHEMA = "data-engine/dataset-manifest"
MANIFEST_SCHEMA_VERSION = 1


class ManifestError(EngineError, ValueError):
    """A manifest file that is not a data-engine dataset manifest."""


@dataclass(frozen=True, slots=True)
class ManifestFrame:
    """One image of the dataset: where it comes from, the labels used, its split and its slice keys."""

    clip_id: str
    frame: int
    label_version: int
    split: str
    group: str
    video_id: str
    source: str
    image: str
    boxes: int
    classes: tuple[int, ...]
    phash: int

    @property
    def stem(self) -> str:
        return self.image.rsplit("/", 1)[-1].rsplit(".", 1)[0]


@dataclass(frozen=True)
class DatasetManifest:
    """A dataset version's content: frames, class map (dataset class id -> name) and group splits."""

    dataset_id: str
    number: int
    class_map: dict[int, str]
    frames: tuple[ManifestFrame, ...]
    splits: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""

    @property
    def content_hash(self) -> str:
        return content_hash(self.class_map, self.frames)

    def frames_in(self, split: str) -> list[ManifestFrame]:
        return [frame for frame in self.frames if frame.split == split]

    def counts(self) -> dict[str, dict[str, int]]:
        """Images and groups per split (and of `new_test`, the test videos' frames reviewed after the test split
        froze, when there are any)."""
        splits = [*SPLITS, NEW_TEST] if self.frames_in(NEW_TEST) else SPLITS
        return {
            split: {
                "images": len(self.frames_in(split)),
                "groups": len({frame.group for frame in self.frames_in(split)}),
                "boxes": sum(frame.boxes for frame in self.frames_in(split)),
            }
            for split in splits
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": MANIFEST_SCHEMA,
            "schema_version": MANIFEST_SCHEMA_VERSION,
            **attributes(self, "dataset_id", "number", "content_hash", "created_at"),
            "class_map": {str(key): value for key, value in sorted(self.class_map.items())},
            "splits": dict(sorted(self.splits.items())),
            "params": self.params,
            "frames": [asdict(frame) for frame in self.frames],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DatasetManifest:
        if data.get("schema") != MANIFEST_SCHEMA or data.get("schema_version") != MANIFEST_SCHEMA_VERSION:
            raise ManifestError(f"not a {MANIFEST_SCHEMA} v{MANIFEST_SCHEMA_VERSION} document")
        try:
            manifest = cls(
                dataset_id=str(data["dataset_id"]),
                number=int(data["number"]),
                class_map={int(key): str(value) for key, value in data["class_map"].items()},
                frames=tuple(
                    ManifestFrame(**{**frame, "classes": tuple(frame["classes"])}) for frame in data["frames"]
                ),
                splits=dict(data["splits"]),
                params=dict(data.get("params", {})),
                created_at=str(data.get("created_at", "")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ManifestError(f"dataset manifest is malformed: {error}") from error
        if manifest.content_hash != data.get("content_hash"):
            raise ManifestError("dataset manifest content does not match its content hash; it was edited or damaged")
        return manifest


def content_hash(class_map: Mapping[int, str], frames: Iterable[ManifestFrame]) -> str:
    """sha256 over the class map and each frame's (clip, frame, label version, split)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(sorted((int(key), value) for key, value in class_map.items())).encode())
    for frame in sorted(frames, key=lambda item: (item.clip_id, item.frame)):
        digest.update(f"\n{frame.clip_id}\x00{frame.frame}\x00{frame.label_version}\x00{frame.split}".encode())
    return digest.hexdigest()


def extend_class_map(previous: Mapping[int, str], names: Iterable[str]) -> dict[int, str]:
    """The previous class map with unseen names appended (ids never change across versions)."""
    class_map = dict(previous)
    known = set(class_map.values())
    for name in names:
        if name not in known:
            class_map[max(class_map, default=-1) + 1] = name
            known.add(name)
    return class_map
