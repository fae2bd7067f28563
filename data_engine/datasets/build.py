"""Build a dataset version from the reviewed labels in the catalog and export it for training.

Only label files of kind "review" count, and of each only the frames a human reviewed (`stats.review.frames`; a
review file without that record counts as reviewed whole). Images are decoded from the clips themselves, labels
go through the `Detections` adapters. The version is written under `datasets/<id>/` in the store:

    manifest.json  data.yaml  images/{train,val,test,new_test}/<clip>_<frame>.jpg  labels/{...}/<...>.txt
    annotations/{train,val,test,new_test}.json   (COCO, when asked)

The test split is frozen: the first version's test images are every later version's test images (with their
newest reviewed labels), frames of test videos reviewed later go to `new_test`, new videos to train or val (see
`splits`). A build that changes nothing returns the latest version instead of making a new one.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np

from data_engine.autolabel.labels import LabelFile, LabelsError, read_labels
from data_engine.catalog import Catalog, Clip
from data_engine.datasets.leakage import DEFAULT_DUPLICATE_DISTANCE, Leak, find_leaks, image_phash
from data_engine.datasets.manifest import DatasetManifest, ManifestError, ManifestFrame, extend_class_map
from data_engine.datasets.records import DatasetRecords, DatasetVersionRecord
from data_engine.datasets.splits import (
    EXPORTED_SPLITS,
    NEW_TEST,
    SPLITS,
    SplitConfig,
    SplitError,
    assign_splits,
    previous_assignments,
)
from data_engine.detections import Detections
from data_engine.errors import EngineError
from data_engine.formats import ImageDetections, coco, yolo
from data_engine.layout import dataset_key
from data_engine.progress import Progress, tracked
from data_engine.store import Store
from data_engine.video.frames import iter_frames
from data_engine.video.probe import VideoError

MIN_TRAIN_IMAGES = 10


class DatasetError(EngineError):
    """A dataset that cannot be built or loaded; the message says what is missing and what to do."""


class LeakageError(DatasetError):
    """Train images are near-duplicates of val/test images; `leaks` lists the pairs."""

    def __init__(self, leaks: Sequence[Leak], max_distance: int) -> None:
        self.leaks = tuple(leaks)
        examples = "; ".join(
            f"{leak.train_image} ~ {leak.other_image} ({leak.other_split}, {leak.distance} bits)" for leak in leaks[:3]
        )
        super().__init__(
            f"{len(leaks)} train image(s) are within {max_distance} bits of a val/test image, e.g. {examples}; "
            "split by source (group_by='source') or assign the groups involved to the same split"
        )


@dataclass(frozen=True)
class DatasetConfig:
    """How a dataset version is built: splits, the leakage distance in phash bits, COCO export, JPEG quality."""

    split: SplitConfig = field(default_factory=SplitConfig)
    duplicate_distance: int = DEFAULT_DUPLICATE_DISTANCE
    coco: bool = False
    jpeg_quality: int = 95
    fail_on_leak: bool = True
    """False: a leaking version is recorded all the same, for a check to judge (the Dagster `no_leakage` check)."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """A label file left out of the dataset, and why."""

    clip_id: str
    label_version: int
    reason: str


@dataclass(frozen=True)
class DatasetReport:
    """What a build left out or found worth saying; `warnings` are sentences for a person (a degenerate split,
    a test split that lost frames)."""

    rejected: tuple[Rejection, ...] = ()
    classes_missing_from_test: tuple[str, ...] = ()
    classes_missing_from_val: tuple[str, ...] = ()
    leak_pairs_checked: int = 0
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "rejected": [
                {"clip_id": item.clip_id, "label_version": item.label_version, "reason": item.reason}
                for item in self.rejected
            ],
            "classes_missing_from_test": list(self.classes_missing_from_test),
            "classes_missing_from_val": list(self.classes_missing_from_val),
            "leak_pairs_checked": self.leak_pairs_checked,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class DatasetVersion:
    """A dataset version on local disk, ready for Ultralytics (`data_yaml`)."""

    dataset_id: str
    root: Path
    manifest: DatasetManifest
    report: DatasetReport
    created: bool

    @property
    def data_yaml(self) -> Path:
        return self.root / "data.yaml"

    def image_path(self, frame: ManifestFrame) -> Path:
        return self.root / frame.image


@dataclass
class _Source:
    """One reviewed label file and the frames of it that go into the dataset."""

    clip: Clip
    labels: LabelFile
    frames: list[int]
    group: str
    source: str


def build_dataset(
    catalog: Catalog,
    store: Store,
    config: DatasetConfig | None = None,
    *,
    clip_ids: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> DatasetVersion:
    """Build the next dataset version from the newest review label file of each clip (or of `clip_ids`).

    Fails with `DatasetError` when nothing (or a single image) is left, when a split gets no group, and with
    `LeakageError` when a train image is a near-duplicate of a val/test image. Label files that cannot be used
    (unreadable, a frame the clip does not have, another frame size) are left out and listed in the report. Clip
    states are the training stage's business (`stages/train.py` moves the clips that made it in)."""
    config = config or DatasetConfig()
    records = DatasetRecords(catalog)
    history = records.dataset_versions()
    sources, rejected = _reviewed_sources(catalog, store, config, clip_ids)
    if not sources:
        raise DatasetError(
            "no reviewed labels to build a dataset from: no clip has a label file of kind 'review' with reviewed "
            "frames; review frames first (annotation pull)"
        )
    previous_map = {int(key): value for key, value in history[-1].class_map.items()} if history else {}
    class_map = extend_class_map(
        previous_map, (name for src in sources for _, name in sorted(src.labels.names.items()))
    )
    frozen_test = _frozen_test_frames(store, history[-1]) if history else None
    try:
        splits = assign_splits(
            (src.group for src in sources),
            previous_assignments([row.splits for row in history]),
            config.split,
            test_frozen=frozen_test is not None,
        )
    except SplitError as error:
        raise DatasetError(str(error)) from error

    staging = store.local_path(dataset_key(f".build-{uuid.uuid4().hex[:12]}"))
    try:
        frames = _export(store, sources, splits, frozen_test, class_map, staging, config, rejected, progress)
        report = _check(frames, class_map, splits, rejected, config, frozen_test)
        number = records.next_dataset_number()
        manifest = DatasetManifest(
            dataset_id=f"ds-{number:04d}",
            number=number,
            class_map=class_map,
            frames=tuple(frames),
            splits={group: split for group, split in splits.items() if any(f.group == group for f in frames)},
            params={"split": _split_params(config.split), "duplicate_distance": config.duplicate_distance},
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        if history and history[-1].content_hash == manifest.content_hash:
            return load_dataset(catalog, store, history[-1].id)
        _write_descriptions(staging, manifest, report, config)
        root = store.local_path(dataset_key(manifest.dataset_id))
        if root.exists():
            raise DatasetError(f"{root} already exists without a catalog record; remove it or rebuild")
        staging.rename(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not store.is_local:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                store.commit(dataset_key(manifest.dataset_id, path.relative_to(root).as_posix()))
    records.add_dataset(
        id=manifest.dataset_id,
        number=manifest.number,
        content_hash=manifest.content_hash,
        manifest_key=dataset_key(manifest.dataset_id, "manifest.json"),
        class_map={str(key): value for key, value in class_map.items()},
        splits=manifest.splits,
        counts=manifest.counts(),
        report=report.to_json(),
    )
    return DatasetVersion(manifest.dataset_id, root, manifest, report, created=True)


def load_dataset(catalog: Catalog, store: Store, dataset_id: str) -> DatasetVersion:
    """A recorded dataset version, fetched to local disk when the store is remote."""
    record = DatasetRecords(catalog).get_dataset(dataset_id)
    if record is None:
        raise DatasetError(f"no dataset version {dataset_id!r} in the catalog; build one first")
    try:
        manifest = DatasetManifest.from_json(json.loads(store.fetch(record.manifest_key).read_text()))
    except (OSError, json.JSONDecodeError, ManifestError) as error:
        raise DatasetError(f"dataset {dataset_id}: cannot read its manifest {record.manifest_key}: {error}") from error
    root = store.local_path(dataset_key(dataset_id))
    for frame in manifest.frames:
        label = str(PurePosixPath(frame.image).with_suffix(".txt")).replace("images/", "labels/", 1)
        for name in (frame.image, label):
            store.fetch(dataset_key(dataset_id, name))
    store.fetch(dataset_key(dataset_id, "data.yaml"))
    report = record.report or {}
    return DatasetVersion(
        dataset_id,
        root,
        manifest,
        DatasetReport(
            rejected=tuple(Rejection(**item) for item in report.get("rejected", [])),
            classes_missing_from_test=tuple(report.get("classes_missing_from_test", [])),
            classes_missing_from_val=tuple(report.get("classes_missing_from_val", [])),
            leak_pairs_checked=int(report.get("leak_pairs_checked", 0)),
            warnings=tuple(report.get("warnings", [])),
        ),
        created=False,
    )


def _frozen_test_frames(store: Store, latest: DatasetVersionRecord) -> set[tuple[str, int]] | None:
    """The (clip, frame) pairs of the test split as the latest version froze it (None if it has none)."""
    manifest = json.loads(store.fetch(latest.manifest_key).read_text())
    frozen = {(frame["clip_id"], int(frame["frame"])) for frame in manifest["frames"] if frame["split"] == "test"}
    return frozen or None


def new_reviewed_frames(catalog: Catalog, store: Store) -> int:
    """How many reviewed frames the newest review label files hold that the latest dataset version lacks (a frame
    whose review changed counts again): what the retrain sensor compares with `retrain_min_new_images`."""
    latest = DatasetRecords(catalog).latest_dataset()
    known: set[tuple[str, int, int]] = set()
    if latest is not None:
        manifest = json.loads(store.fetch(latest.manifest_key).read_text())
        known = {(frame["clip_id"], frame["frame"], frame["label_version"]) for frame in manifest["frames"]}
    count = 0
    for clip in catalog.clips():
        reviews = [version for version in catalog.label_versions(clip.id) if version.kind == "review"]
        if not reviews:
            continue
        try:
            labels = read_labels(store.fetch(reviews[-1].path))
        except (LabelsError, OSError):
            continue
        count += sum((clip.id, frame, labels.version) not in known for frame in reviewed_frames(labels))
    return count


def reviewed_frames(labels: LabelFile) -> list[int]:
    """The frames of a review label file that humans reviewed (all of them when it does not say)."""
    recorded = labels.stats.get("review", {}).get("frames")
    if recorded is None:
        return list(range(labels.frame_count))
    return sorted(int(frame) for frame in recorded)


def _reviewed_sources(
    catalog: Catalog, store: Store, config: DatasetConfig, clip_ids: Sequence[str] | None
) -> tuple[list[_Source], list[Rejection]]:
    clips = catalog.clips() if clip_ids is None else [_known_clip(catalog, clip_id) for clip_id in clip_ids]
    sources_of_video: dict[str, str] = {}
    sources, rejected = [], []
    for clip in sorted(clips, key=lambda item: item.id):
        reviews = [version for version in catalog.label_versions(clip.id) if version.kind == "review"]
        if not reviews:
            continue
        newest = reviews[-1]
        try:
            labels = read_labels(store.fetch(newest.path))
        except (LabelsError, OSError) as error:
            rejected.append(Rejection(clip.id, newest.version, f"unreadable label file {newest.path}: {error}"))
            continue
        frames = reviewed_frames(labels)
        clip_frames = clip.last_frame - clip.first_frame + 1
        beyond = [frame for frame in frames if not 0 <= frame < min(clip_frames, labels.frame_count)]
        if beyond:
            rejected.append(
                Rejection(
                    clip.id,
                    newest.version,
                    f"refers to frame(s) {beyond[:5]} but the clip has {clip_frames} frames (0..{clip_frames - 1})",
                )
            )
            continue
        if not frames:
            continue
        if clip.video_id not in sources_of_video:
            video = catalog.get_video(clip.video_id)
            sources_of_video[clip.video_id] = PurePosixPath(video.source_uri).parent.name if video else ""
        source = sources_of_video[clip.video_id]
        group = clip.video_id if config.split.group_by == "video" else source
        sources.append(_Source(clip, labels, frames, group, source))
    return sources, rejected


def _known_clip(catalog: Catalog, clip_id: str) -> Clip:
    clip = catalog.get_clip(clip_id)
    if clip is None:
        raise DatasetError(f"clip {clip_id!r} is not in the catalog")
    return clip


def _export(
    store: Store,
    sources: Sequence[_Source],
    splits: Mapping[str, str],
    frozen_test: set[tuple[str, int]] | None,
    class_map: Mapping[int, str],
    root: Path,
    config: DatasetConfig,
    rejected: list[Rejection],
    progress: Progress | None,
) -> list[ManifestFrame]:
    """Decode each clip once, write the reviewed frames as JPEG plus YOLO labels; a label file whose frames the
    clip does not deliver (or of another size) is withdrawn whole and reported. A frame of a test group outside
    the frozen test frames goes to `new_test`."""
    for split in EXPORTED_SPLITS:
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    class_of = {name: class_id for class_id, name in class_map.items()}
    frames: list[ManifestFrame] = []
    coco_parts: dict[str, list[dict[str, Any]]] = {split: [] for split in EXPORTED_SPLITS}
    for src in tracked(sources, "dataset images", progress):
        group_split = splits[src.group]
        wanted = set(src.frames)
        written: list[ManifestFrame] = []
        boxes: list[Detections] = []
        problem = None
        try:
            for decoded in iter_frames(store.fetch(src.clip.path), only=wanted):
                height, width = decoded.image.shape[:2]
                if (width, height) != (src.labels.width, src.labels.height):
                    problem = (
                        f"labels are for {src.labels.width}x{src.labels.height}, the clip decodes to {width}x{height}"
                    )
                    break
                detections = _to_dataset_classes(src.labels.frames[decoded.index], src.labels.names, class_of)
                split = group_split
                if split == "test" and frozen_test is not None and (src.clip.id, decoded.index) not in frozen_test:
                    split = NEW_TEST
                stem = f"{src.clip.id}_{decoded.index:06d}"
                image = f"images/{split}/{stem}.jpg"
                cv2.imwrite(str(root / image), decoded.image, [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality])
                (root / "labels" / split / f"{stem}.txt").write_text(yolo.to_text(detections, width, height))
                boxes.append(detections)
                written.append(
                    ManifestFrame(
                        clip_id=src.clip.id,
                        frame=decoded.index,
                        label_version=src.labels.version,
                        split=split,
                        group=src.group,
                        video_id=src.clip.video_id,
                        source=src.source,
                        image=image,
                        boxes=len(detections),
                        classes=tuple(sorted({int(class_id) for class_id in detections.class_id})),
                        phash=image_phash(decoded.image),
                    )
                )
        except (VideoError, OSError, ValueError) as error:
            problem = f"clip {src.clip.path} cannot be decoded: {error}"
        missing = sorted(wanted - {frame.frame for frame in written})
        if problem is None and missing:
            problem = f"refers to frame(s) {missing[:5]} that the clip does not decode (it ends earlier)"
        if problem is not None:
            for frame in written:
                (root / frame.image).unlink()
                (root / "labels" / frame.split / f"{frame.stem}.txt").unlink()
            rejected.append(Rejection(src.clip.id, src.labels.version, problem))
        else:
            frames.extend(written)
            for split in sorted({frame.split for frame in written}) if config.coco else ():
                members = [(frame, found) for frame, found in zip(written, boxes, strict=True) if frame.split == split]
                size = (src.labels.width, src.labels.height)
                images = [ImageDetections(frame.image, *size, found) for frame, found in members]
                coco_parts[split].append(coco.to_dict(images, class_map))
    if config.coco:
        (root / "annotations").mkdir(exist_ok=True)
        for split, parts in coco_parts.items():
            (root / "annotations" / f"{split}.json").write_text(json.dumps(merge_coco(parts, class_map)))
    return frames


def merge_coco(parts: Sequence[Mapping[str, Any]], class_map: Mapping[int, str]) -> dict[str, Any]:
    """One COCO dict from several (clips of different sizes), image and annotation ids renumbered."""
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for part in parts:
        offset, first_id = len(images), len(annotations) + 1
        images.extend({**image, "id": image["id"] + offset} for image in part["images"])
        annotations.extend(
            {**annotation, "id": first_id + number, "image_id": annotation["image_id"] + offset}
            for number, annotation in enumerate(part["annotations"])
        )
    categories = [{"id": class_id, "name": name} for class_id, name in sorted(class_map.items())]
    return {"images": images, "annotations": annotations, "categories": categories}


def _to_dataset_classes(detections: Detections, names: Mapping[int, str], class_of: Mapping[str, int]) -> Detections:
    """The same boxes with class ids of the dataset's class map (looked up by name)."""
    if not len(detections):
        return Detections.empty({class_id: name for name, class_id in class_of.items()})
    remapped = np.array([class_of[names.get(int(class_id), str(int(class_id)))] for class_id in detections.class_id])
    return Detections(
        detections.xyxy,
        detections.confidence,
        remapped,
        detections.track_id,
        detections.provenance,
        {class_id: name for name, class_id in class_of.items()},
    )


def _check(
    frames: Sequence[ManifestFrame],
    class_map: Mapping[int, str],
    splits: Mapping[str, str],
    rejected: Sequence[Rejection],
    config: DatasetConfig,
    frozen_test: set[tuple[str, int]] | None,
) -> DatasetReport:
    if not frames:
        reasons = "; ".join(f"{item.clip_id} v{item.label_version}: {item.reason}" for item in rejected[:3])
        raise DatasetError(f"the dataset would be empty: every reviewed label file was rejected ({reasons})")
    if len(frames) == 1:
        raise DatasetError(
            "the dataset would hold a single image; review frames of more clips (at least one video per split)"
        )
    empty = [split for split in SPLITS if not any(frame.split == split for frame in frames)]
    if empty:
        groups = sorted({frame.group for frame in frames})
        raise DatasetError(
            f"split(s) {empty} would get no images: {len(groups)} group(s) ({config.split.group_by}) cannot fill "
            "train, val and test; splits are per group, never per frame, so review frames of more videos"
        )
    train_pairs = [(frame.image, frame.phash) for frame in frames if frame.split == "train"]
    other_triples = [(frame.image, frame.split, frame.phash) for frame in frames if frame.split != "train"]
    leaks = find_leaks(train_pairs, other_triples, config.duplicate_distance)
    if leaks and config.fail_on_leak:
        raise LeakageError(leaks, config.duplicate_distance)
    present = {split: _classes_with_boxes(frames, split) for split in SPLITS}
    return DatasetReport(
        rejected=tuple(rejected),
        classes_missing_from_test=tuple(class_map[class_id] for class_id in sorted(present["train"] - present["test"])),
        classes_missing_from_val=tuple(class_map[class_id] for class_id in sorted(present["train"] - present["val"])),
        leak_pairs_checked=len(train_pairs) * len(other_triples),
        warnings=_warnings(frames, frozen_test),
    )


def _warnings(frames: Sequence[ManifestFrame], frozen_test: set[tuple[str, int]] | None) -> tuple[str, ...]:
    """A split too lopsided to learn from (fewer than MIN_TRAIN_IMAGES train images, or fewer than half as many as
    test: few videos split per video), and frozen test images that went away."""
    images = Counter(frame.split for frame in frames)
    warnings = []
    if images["train"] < MIN_TRAIN_IMAGES or 2 * images["train"] < images["test"]:
        videos = len({frame.group for frame in frames if frame.split == "train"})
        warnings.append(
            f"degenerate split: train holds {images['train']} image(s) from {videos} group(s), val {images['val']}, "
            f"test {images['test']}; splits are per video, so few videos make them lopsided: review frames of more "
            "videos before trusting a model trained on this"
        )
    if frozen_test is not None and images["test"] < len(frozen_test):
        warnings.append(
            f"{len(frozen_test) - images['test']} of the {len(frozen_test)} frozen test images are no longer "
            f"reviewed; models are measured on the {images['test']} left"
        )
    return tuple(warnings)


def _classes_with_boxes(frames: Sequence[ManifestFrame], split: str) -> set[int]:
    return {class_id for frame in frames if frame.split == split for class_id in frame.classes}


def _write_descriptions(root: Path, manifest: DatasetManifest, report: DatasetReport, config: DatasetConfig) -> None:
    names = "\n".join(f"  {class_id}: {json.dumps(name)}" for class_id, name in sorted(manifest.class_map.items()))
    final_root = root.parent / manifest.dataset_id
    (root / "data.yaml").write_text(
        f"path: {final_root.resolve()}\ntrain: images/train\nval: images/val\ntest: images/test\nnames:\n{names}\n"
    )
    (root / "manifest.json").write_text(json.dumps(manifest.to_json(), separators=(",", ":")))
    (root / "report.json").write_text(json.dumps(report.to_json(), indent=2))


def _split_params(split: SplitConfig) -> dict[str, Any]:
    return {"fractions": list(split.fractions), "group_by": split.group_by, "assign": dict(split.assign)}
