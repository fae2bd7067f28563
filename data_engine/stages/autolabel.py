"""The autolabel stage: hindsight labels for clips, stored as a new label-file version, recorded in the catalog."""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from data_engine.autolabel import (
    AutolabelError,
    HindsightParams,
    LabelFile,
    autolabel_clip,
    label_file_from_result,
    labels_to_parquet,
    write_next_labels,
)
from data_engine.autolabel.labels import version_of
from data_engine.catalog import Catalog, Clip, ClipState
from data_engine.catalog.states import PIPELINE_ORDER
from data_engine.detectors import Detector, UltralyticsDetector
from data_engine.layout import autolabel_boxes_key, labels_key
from data_engine.progress import Progress, tracked
from data_engine.settings import Settings
from data_engine.store import Store
from data_engine.video.probe import VideoError


@dataclass
class AutolabelReport:
    """What one autolabelling pass did, for the CLI and asset metadata."""

    model_ids: tuple[str, ...]
    clips: int = 0
    frames: int = 0
    boxes: int = 0
    tracks: int = 0
    gaps_filled: int = 0
    spurious_tracks_removed: int = 0
    seconds: float = 0.0
    label_keys: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    parquet_key: str | None = None
    label_frames: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per clip, (frames in the label file written, frames in the clip): what the label-file check compares."""
    skipped: str | None = None

    @property
    def seconds_per_frame(self) -> float:
        return self.seconds / self.frames if self.frames else 0.0


def load_detectors(settings: Settings) -> list[Detector]:
    """The configured detectors (DATA_ENGINE_DETECTORS), loaded once."""
    return [
        UltralyticsDetector(
            weights,
            imgsz=settings.detector_imgsz,
            conf=settings.detector_conf,
            iou=settings.detector_iou,
        )
        for weights in settings.detectors
    ]


NO_DETECTOR = (
    "no detector configured and no champion in the registry: set DATA_ENGINE_DETECTORS to one or two "
    "Ultralytics weights (local .pt files, or official names such as yolo11n.pt when online)"
)


def autolabel(
    catalog: Catalog,
    store: Store,
    detectors: Sequence[Detector],
    *,
    clip_id: str | None = None,
    batch_key: str | None = None,
    params: HindsightParams | None = None,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> AutolabelReport:
    """Autolabel one clip (`clip_id`, whatever its state) or the selected clips of a batch (default: of every
    batch); a batch's boxes also go to one Parquet file for analysis. With no detector or nothing selected the
    report says why in `skipped` (a cold start is not an error)."""
    report = AutolabelReport(model_ids=tuple(detector.model_id for detector in detectors))
    if not detectors:
        report.skipped = NO_DETECTOR
        return report
    if clip_id is not None:
        clips = [catalog.require_clip(clip_id)]
    else:
        clips = catalog.clips(batch_key=batch_key, status=ClipState.SELECTED)
    if not clips:
        report.skipped = "no selected clips" + (f" in batch {batch_key}" if batch_key else "")
        return report
    return autolabel_clips(
        catalog,
        store,
        detectors,
        clips,
        params=params,
        run_id=run_id,
        parquet_key=autolabel_boxes_key(batch_key) if batch_key else None,
        progress=progress,
    )


def autolabel_clips(
    catalog: Catalog,
    store: Store,
    detectors: Sequence[Detector],
    clips: Sequence[Clip],
    *,
    params: HindsightParams | None = None,
    run_id: str | None = None,
    parquet_key: str | None = None,
    progress: Progress | None = None,
) -> AutolabelReport:
    """Label each clip with hindsight, write its next label version and move it to `autolabelled`.

    A clip that cannot be decoded moves to `failed` with the reason; the others go on.
    """
    report = AutolabelReport(model_ids=tuple(detector.model_id for detector in detectors))
    label_files: list[LabelFile] = []
    for clip in tracked(clips, "autolabel", progress):
        try:
            labels = _autolabel_one(catalog, store, detectors, clip, params, run_id, report)
            label_files.append(labels)
        except (AutolabelError, VideoError) as error:
            report.failed[clip.id] = str(error)
            catalog.transition(
                [clip.id],
                ClipState.FAILED,
                stage="autolabel",
                run_id=run_id,
                detail={"error": str(error), "models": list(report.model_ids)},
            )
    if parquet_key is not None and label_files:
        labels_to_parquet(label_files, store.local_path(parquet_key))
        store.commit(parquet_key)
        report.parquet_key = parquet_key
    return report


def _autolabel_one(
    catalog: Catalog,
    store: Store,
    detectors: Sequence[Detector],
    clip: Clip,
    params: HindsightParams | None,
    run_id: str | None,
    report: AutolabelReport,
) -> LabelFile:
    local = store.fetch(clip.path)
    result = autolabel_clip(local, detectors, params)
    labels = label_file_from_result(result, clip.id, version=0)
    written = write_next_labels(local.parent, labels)
    key = labels_key(clip, written.name)
    store.commit(key)
    stats = result.stats
    catalog.add_label_version(
        clip.id,
        version_of(written),
        kind="autolabel",
        path=key,
        models={"ids": list(report.model_ids)},
        detail={"boxes": stats.boxes, "tracks": stats.tracks, "gaps_filled": stats.gaps_filled},
    )
    detail = {"models": list(report.model_ids), "labels": key, "boxes": stats.boxes, "tracks": stats.tracks}
    state = ClipState(clip.status)
    if state is ClipState.FAILED or PIPELINE_ORDER.index(state) < PIPELINE_ORDER.index(ClipState.AUTOLABELLED):
        catalog.transition([clip.id], ClipState.AUTOLABELLED, stage="autolabel", run_id=run_id, detail=detail)
    else:
        catalog.record(clip.id, stage="autolabel", run_id=run_id, detail=detail)
    report.clips += 1
    report.frames += stats.frames
    report.boxes += stats.boxes
    report.tracks += stats.tracks
    report.gaps_filled += stats.gaps_filled
    report.spurious_tracks_removed += stats.spurious_tracks_removed
    report.seconds += stats.seconds
    report.label_keys[clip.id] = key
    report.label_frames[clip.id] = (labels.frame_count, clip.last_frame - clip.first_frame + 1)
    return replace(labels, version=version_of(written))


def summarize_labels(labels: LabelFile) -> dict[str, Any]:
    """Counts that tell a person what a label file holds (for `data-engine labels show`)."""
    per_class: dict[str, int] = {}
    interpolated = 0
    tracks: set[int] = set()
    for frame in labels.frames:
        for row in range(len(frame)):
            name = labels.names.get(int(frame.class_id[row]), str(int(frame.class_id[row])))
            per_class[name] = per_class.get(name, 0) + 1
            interpolated += frame.provenance[row].kind == "interpolated"
            if int(frame.track_id[row]) >= 0:
                tracks.add(int(frame.track_id[row]))
    return {
        "clip_id": labels.clip_id,
        "version": labels.version,
        "kind": labels.kind,
        "frames": labels.frame_count,
        "frames_with_boxes": sum(1 for frame in labels.frames if len(frame)),
        "boxes": sum(per_class.values()),
        "interpolated": interpolated,
        "tracks": len(tracks),
        "per_class": dict(sorted(per_class.items())),
        "models": [str(model.get("model_id", "?")) for model in labels.models],
        "created_at": labels.created_at,
    }
