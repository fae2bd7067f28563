"""The autolabel stage: hindsight labels for clips, stored as a new label-file version, recorded in the catalog.

One job per clip on the compute backend (asking for a GPU): the worker reads the detections mining stored for the
clip and runs the detectors only on the frames mining skipped (loading each detector once, a worker-local cache),
or, when mining covered every frame, neither decodes the clip nor loads a model; then it applies hindsight and
writes the label file. The stage records each clip's label version and state transition as soon as its job is done.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_engine.attributes import add_attributes
from data_engine.autolabel import (
    AutolabelError,
    HindsightParams,
    HindsightStats,
    LabelFile,
    autolabel_clip,
    label_file_from_result,
    labels_to_parquet,
    read_labels,
    write_next_labels,
)
from data_engine.autolabel.labels import LabelsError, label_path, version_of, write_labels
from data_engine.catalog import Catalog, Clip, ClipState
from data_engine.catalog.states import PIPELINE_ORDER
from data_engine.compute import GPU
from data_engine.context import StageContext
from data_engine.detectors.cache import DetectorSource, ModelWork, detectors_for_clip, source_of
from data_engine.detectors.stored import fetch_stored_detections
from data_engine.faults import crash_point
from data_engine.layout import autolabel_boxes_key, labels_key
from data_engine.leases import take
from data_engine.progress import counted
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
    boxes_table: str | None = None
    label_frames: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per clip, (frames in the label file written, frames in the clip): what the label-file check compares."""
    skipped: str | None = None
    frames_inferred: Counter = field(default_factory=Counter)
    models_loaded: dict[int, int] = field(default_factory=dict)

    @property
    def seconds_per_frame(self) -> float:
        return self.seconds / self.frames if self.frames else 0.0


NO_DETECTOR = (
    "no detector configured and no champion in the registry: set DATA_ENGINE_DETECTORS to one or two "
    "models (local .pt or .onnx files, or official names such as yolo11n.pt when online)"
)


def autolabel(
    context: StageContext,
    *,
    clip_id: str | None = None,
    batch_key: str | None = None,
    params: HindsightParams | None = None,
) -> AutolabelReport:
    """Autolabel one clip (`clip_id`, whatever its state) or the selected clips of a batch (default: of every
    batch); a batch's boxes also go to one Parquet file for analysis (`write_boxes_table`), written again when
    this run labelled any of its clips or the file is missing. With no detector or nothing selected the report says
    why in `skipped` (a cold start is not an error)."""
    catalog, store = context.catalog, context.store
    report = AutolabelReport(model_ids=tuple(detector.model_id for detector in context.detectors))
    if not context.detectors:
        report.skipped = NO_DETECTOR
        return report
    if clip_id is not None:
        clips = [catalog.require_clip(clip_id)]
    else:
        clips = catalog.clips(batch_key=batch_key, status=ClipState.SELECTED)
    if clips:
        report = autolabel_clips(
            context, clips, params=params, only=None if clip_id is not None else ClipState.SELECTED
        )
    else:
        report.skipped = "no selected clips" + (f" in batch {batch_key}" if batch_key else "")
    if batch_key is not None and (report.clips or not store.exists(autolabel_boxes_key(batch_key))):
        report.boxes_table = write_boxes_table(catalog, store, batch_key)
    return report


def restore_boxes_tables(catalog: Catalog, store: Store, batch_keys: Sequence[str]) -> list[str]:
    """Write the boxes table of each batch that has autolabels but lost its table (a run killed after labelling
    its last clip, a deleted file); the keys written."""
    missing = [key for key in batch_keys if not store.exists(autolabel_boxes_key(key))]
    return [key for key in (write_boxes_table(catalog, store, batch) for batch in missing) if key is not None]


def write_boxes_table(catalog: Catalog, store: Store, batch_key: str) -> str | None:
    """Every box of the batch's newest autolabel label file of each clip in one Parquet table, for analysis; its
    key, or None when no clip of the batch has autolabels. Derived from the label files, so a run killed before it
    wrote the table leaves the same table to the next run."""
    files = []
    for clip in catalog.clips(batch_key=batch_key):
        autolabels = [version for version in catalog.label_versions(clip.id) if version.kind == "autolabel"]
        if autolabels:
            files.append(read_labels(store.fetch(autolabels[-1].path)))
    if not files:
        return None
    key = autolabel_boxes_key(batch_key)
    labels_to_parquet(files, store.local_path(key))
    store.commit(key)
    return key


@dataclass(frozen=True)
class AutolabelJob:
    """One clip's autolabelling, as plain data for a compute worker (local paths; detectors as specs)."""

    clip_id: str
    clip_path: str
    detections_folder: str
    detectors: tuple[DetectorSource, ...]
    params: HindsightParams | None = None
    version: int = 1


@dataclass(frozen=True)
class AutolabelJobResult(ModelWork):
    """The label file written (local path) and its stats, or why the clip could not be labelled; with what its
    models did (`ModelWork`)."""

    label_path: str | None = None
    frames: int = 0
    stats: HindsightStats | None = None
    error: str | None = None


def clip_autolabel_job(job: AutolabelJob) -> AutolabelJobResult:
    """Autolabel one clip (runs on a worker) and write its next label version beside it."""
    every = job.params.every if job.params is not None else 1
    detectors = detectors_for_clip(job.detectors, job.detections_folder, every)
    try:
        result = autolabel_clip(job.clip_path, detectors, job.params, detections_folder=job.detections_folder)
    except (AutolabelError, VideoError) as error:
        return AutolabelJobResult(error=str(error))
    labels = label_file_from_result(result, job.clip_id, version=job.version)
    written = _write_version(Path(job.clip_path).parent, labels)
    return AutolabelJobResult(
        label_path=str(written),
        frames=labels.frame_count,
        stats=result.stats,
        frames_inferred=result.inferred_frames,
        written=tuple(path.name for path in result.stored_detections),
    )


def _write_version(clip_dir: Path, labels: LabelFile) -> Path:
    """Write `labels` as the version the catalog expects next. An autolabel file already there was left by an
    attempt killed before recording it (the stage holds the clip's lease, so no one else writes it): it is
    replaced. Any other file there was put beside the catalog: the labels go to the next free version instead."""
    path = label_path(clip_dir, labels.version)
    if path.exists():
        try:
            left = read_labels(path).kind == "autolabel"
        except LabelsError:
            left = True
        if not left:
            return write_next_labels(clip_dir, labels)
        path.unlink()
    return write_labels(path, labels)


def autolabel_clips(
    context: StageContext,
    clips: Sequence[Clip],
    *,
    params: HindsightParams | None = None,
    only: ClipState | None = None,
) -> AutolabelReport:
    """Label each clip with hindsight, write its next label version and move it to `autolabelled`.

    Each clip is leased first, so two runs at once never label the same clip; `only`: label only the clips still
    in that state (a concurrent run may have moved them on since they were read).

    One job per clip on the context's backend. Frames the detectors already ran on while mining are
    not inferred again. A clip that cannot be decoded moves to `failed` with the reason; the others go on.
    """
    catalog, store = context.catalog, context.store
    report = AutolabelReport(model_ids=tuple(detector.model_id for detector in context.detectors))
    sources = tuple(source_of(detector) for detector in context.detectors)
    clips, worker = take(catalog, clips, only)
    jobs = [
        AutolabelJob(
            clip_id=clip.id,
            clip_path=str(store.fetch(clip.path)),
            detections_folder=str(fetch_stored_detections(store, clip)),
            detectors=sources,
            params=params,
            version=max((version.version for version in catalog.label_versions(clip.id)), default=0) + 1,
        )
        for clip in clips
    ]
    results = context.backend.imap(clip_autolabel_job, jobs, resources=GPU)
    for index, outcome in counted(results, len(clips), "autolabel", context.progress):
        _record_autolabelled(context, clips[index], outcome, report, worker)
    return report


def _record_autolabelled(
    context: StageContext, clip: Clip, outcome: AutolabelJobResult, report: AutolabelReport, worker: str
) -> None:
    """One clip's autolabel result into the catalog: its label version and its move to `autolabelled` in one
    transaction (or to `failed`, with why)."""
    outcome.commit(context.store, clip, report.models_loaded, report.frames_inferred)
    if outcome.error is not None or outcome.label_path is None or outcome.stats is None:
        error = outcome.error or "the autolabel job returned no label file"
        report.failed[clip.id] = error
        context.catalog.transition(
            [clip.id],
            ClipState.FAILED,
            stage="autolabel",
            run_id=context.run_id,
            detail={"error": error, "models": list(report.model_ids)},
        )
        return
    written, stats = Path(outcome.label_path), outcome.stats
    key = labels_key(clip, written.name)
    context.store.commit(key)
    crash_point("autolabel.labels_written")
    state = ClipState(clip.status)
    moves = state is ClipState.FAILED or PIPELINE_ORDER.index(state) < PIPELINE_ORDER.index(ClipState.AUTOLABELLED)
    recorded = context.catalog.record_autolabel(
        clip.id,
        version_of(written),
        worker,
        label={
            "kind": "autolabel",
            "path": key,
            "models": {"ids": list(report.model_ids)},
            "detail": {
                "boxes": stats.boxes,
                "tracks": stats.tracks,
                "gaps_filled": stats.gaps_filled,
                "frames_inferred": dict(outcome.frames_inferred),
            },
        },
        move_to=ClipState.AUTOLABELLED if moves else None,
        run_id=context.run_id,
        detail={"models": list(report.model_ids), "labels": key, "boxes": stats.boxes, "tracks": stats.tracks},
    )
    crash_point("autolabel.recorded")
    if not recorded:
        return
    report.clips += 1
    add_attributes(report, stats, "frames", "boxes", "tracks", "gaps_filled", "spurious_tracks_removed", "seconds")
    report.label_keys[clip.id] = key
    report.label_frames[clip.id] = (outcome.frames, clip.last_frame - clip.first_frame + 1)


def summarize_labels(labels: LabelFile) -> dict[str, Any]:
    """Counts that tell a person what a label file holds (for `data-engine labels show`)."""
    per_class: dict[str, int] = {}
    interpolated = 0
    tracks: set[int] = set()
    for frame in labels.frames:
        for box in frame.to_dicts():
            name = labels.names.get(box["class_id"], str(box["class_id"]))
            per_class[name] = per_class.get(name, 0) + 1
            interpolated += box["provenance"]["kind"] == "interpolated"
            if box["track_id"] >= 0:
                tracks.add(box["track_id"])
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
