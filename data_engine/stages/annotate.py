"""The annotation stage: push selected frames (with their autolabels) to annotators, bring reviewed labels back.

Push takes the clips that are ready (autolabelled, or selected on a cold start), writes each selected frame as
a JPEG once, and sends them to Label Studio or exports a task bundle; the run record goes into the catalog and
the clips move to `pushed`. Pull (Label Studio) or import (bundle files) turns reviews into a new label-file
version per clip, recorded with who and when; a clip whose frames are all reviewed moves to `annotated`.
"""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from data_engine.annotation import (
    AnnotationError,
    AnnotationRun,
    ImportReport,
    LabelStudioBackend,
    LabelStudioConfig,
    ReviewedFrame,
    ReviewMetrics,
    SelectedFrame,
    Selection,
    export_bundle,
    import_annotations,
    plot_per_day,
    review_metrics,
    store_reviewed_labels,
)
from data_engine.autolabel import LabelFile, read_labels, read_latest_labels
from data_engine.autolabel.labels import version_of
from data_engine.catalog import Catalog, Clip, ClipState
from data_engine.settings import Settings
from data_engine.store import Store, atomic_path
from data_engine.video.frames import iter_frames

IMAGES = "annotation/images"
BUNDLES = "annotation/bundles"
THROUGHPUT_PICTURE = "annotation/throughput.png"


@dataclass
class PushReport:
    run_id: str | None = None
    backend: str = ""
    project_url: str = ""
    frames: int = 0
    clips: int = 0
    with_pre_annotations: int = 0


@dataclass
class ReviewReport:
    runs: list[str] = field(default_factory=list)
    frames_reviewed: int = 0
    boxes_rejected: int = 0
    label_versions_written: int = 0
    clips_annotated: int = 0
    pending: int = 0
    missing: int = 0
    reviewed: list[ReviewedFrame] = field(default_factory=list)


def backend_name(settings: Settings, requested: str | None = None) -> str:
    """`labelstudio` when asked or when DATA_ENGINE_LABEL_STUDIO_URL is set, otherwise `bundle`."""
    if requested not in (None, "bundle", "labelstudio"):
        raise AnnotationError(f"unknown annotation backend {requested!r}: use bundle or labelstudio")
    return requested or ("labelstudio" if settings.label_studio_url else "bundle")


def label_studio(settings: Settings, store: Store) -> LabelStudioBackend:
    """The Label Studio backend; images are served from the store through its local-files storage."""
    if not settings.label_studio_url:
        raise AnnotationError(
            "set DATA_ENGINE_LABEL_STUDIO_URL (and DATA_ENGINE_LABEL_STUDIO_TOKEN) to use Label Studio"
        )
    return LabelStudioBackend(
        LabelStudioConfig(
            url=settings.label_studio_url,
            token=settings.label_studio_token,
            image_dir=store.local_path(IMAGES),
            document_root=Path(settings.label_studio_document_root or store.root),
        )
    )


def clips_ready_to_push(catalog: Catalog, cold_start: bool) -> list[Clip]:
    ready = catalog.clips(status=ClipState.AUTOLABELLED)
    return ready + catalog.clips(status=ClipState.SELECTED) if cold_start else ready


def push_selected(
    catalog: Catalog,
    store: Store,
    settings: Settings,
    clips: Sequence[Clip],
    *,
    backend: str = "bundle",
    run_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PushReport:
    """Send the selected frames of `clips` to annotators and move the clips to `pushed`."""
    frames: list[SelectedFrame] = []
    names: dict[int, str] | None = None
    models: set[str] = set()
    for clip in clips:
        labels = read_latest_labels(store.fetch(clip.path).parent)
        if labels is not None:
            names = names or dict(labels.names)
            models.update(str(model.get("model_id")) for model in labels.models)
        frames += _frames_of(catalog, store, clip, labels)
    if not frames:
        return PushReport()
    selection = Selection(
        frames=tuple(frames),
        names=names or dict(enumerate(settings.classes)),
        name=settings.annotation_project,
        model_version=",".join(sorted(models)) or "none",
    )
    if backend == "labelstudio":
        platform = label_studio(settings, store)
        try:
            run = platform.push(selection, progress=progress)
        finally:
            platform.close()
    else:
        run = export_bundle(selection, store.local_path(BUNDLES), make_zip=True)
    catalog.save_annotation_run(run.run_id, run.backend, run.project_url, "pushed", run.to_json())
    pushed_clips = sorted({frame.clip_id for frame in frames})
    catalog.transition(
        pushed_clips,
        ClipState.PUSHED,
        stage="push",
        run_id=run_id,
        detail={"annotation_run": run.run_id, "backend": run.backend},
    )
    return PushReport(
        run_id=run.run_id,
        backend=run.backend,
        project_url=run.project_url,
        frames=len(frames),
        clips=len(pushed_clips),
        with_pre_annotations=sum(frame.pre_annotations is not None for frame in frames),
    )


def push_ready(
    catalog: Catalog, store: Store, settings: Settings, *, cold_start: bool, run_id: str | None = None
) -> PushReport:
    """Push every clip that is ready (autolabelled; selected too on a cold start) to the configured backend."""
    backend = backend_name(settings)
    clips = clips_ready_to_push(catalog, cold_start=cold_start)
    report = push_selected(catalog, store, settings, clips, backend=backend, run_id=run_id)
    report.backend = report.backend or backend
    return report


def _frames_of(catalog: Catalog, store: Store, clip: Clip, labels: LabelFile | None) -> list[SelectedFrame]:
    """The clip's selected frames as JPEG files (decoded once, written once), with their autolabels."""
    wanted = {frame.frame: frame for frame in catalog.selected_frames(clip_id=clip.id)}
    found: list[SelectedFrame] = []
    for decoded in iter_frames(store.fetch(clip.path)):
        chosen = wanted.get(decoded.index)
        if chosen is None:
            continue
        key = f"{IMAGES}/{_image_name(clip.id, decoded.index)}"
        target = store.local_path(key)
        if not target.exists():
            with atomic_path(target) as temporary:
                ok, encoded = cv2.imencode(".jpg", decoded.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
                if not ok:
                    raise AnnotationError(f"frame {decoded.index} of clip {clip.id}: JPEG encoding failed")
                temporary.write_bytes(encoded.tobytes())
            store.commit(key)
        height, width = decoded.image.shape[:2]
        reasons = tuple(reason["trigger"] for reason in chosen.reasons.get("reasons", []))
        found.append(
            SelectedFrame(
                clip_id=clip.id,
                frame=decoded.index,
                width=width,
                height=height,
                image_path=target,
                pre_annotations=None if labels is None else labels.frames[decoded.index],
                reasons=reasons,
            )
        )
        if len(found) == len(wanted):
            break
    return found


def _image_name(clip_id: str, frame: int) -> str:
    return hashlib.sha256(f"{clip_id}:{frame}".encode()).hexdigest()[:24] + ".jpg"


def open_label_studio_runs(catalog: Catalog) -> list[AnnotationRun]:
    """Label Studio runs whose tasks are not all reviewed yet."""
    return [
        AnnotationRun.from_json(record.record)
        for record in catalog.annotation_runs(status="pushed")
        if record.backend == "labelstudio"
    ]


def pull_reviews(catalog: Catalog, store: Store, settings: Settings, run_id: str | None = None) -> ReviewReport:
    """Fetch reviewed tasks of every open Label Studio run and store them as review label versions."""
    report = ReviewReport()
    open_runs = open_label_studio_runs(catalog)
    if not open_runs:
        return report
    platform = label_studio(settings, store)
    try:
        for run in open_runs:
            result = platform.pull(run)
            report.runs.append(run.run_id)
            report.boxes_rejected += len(result.rejected)
            report.pending += len(result.pending)
            report.missing += len(result.missing)
            _store_reviews(catalog, store, run, result.frames, report, run_id)
            if not result.pending:
                catalog.save_annotation_run(run.run_id, run.backend, run.project_url, "done", run.to_json())
    finally:
        platform.close()
    return report


@dataclass(frozen=True)
class PullSummary:
    """A pull, and what all reviews so far say: throughput, what humans changed, a picture of images per day."""

    report: ReviewReport
    metrics: ReviewMetrics
    throughput_picture: Path | None


def pull_and_summarise(catalog: Catalog, store: Store, settings: Settings, run_id: str | None = None) -> PullSummary:
    """Pull the open Label Studio runs, then measure every review so far and draw images reviewed per day."""
    report = pull_reviews(catalog, store, settings, run_id=run_id)
    metrics = review_metrics(review_history(catalog, store))
    picture = None
    if metrics.per_annotator_day:
        picture = store.local_path(THROUGHPUT_PICTURE)
        plot_per_day(metrics, str(picture))
        store.commit(THROUGHPUT_PICTURE)
    return PullSummary(report, metrics, picture)


@dataclass(frozen=True)
class RunBacklog:
    """An open Label Studio run as the platform and the catalog see it: its tasks, how many are annotated there
    and how many of its frames have been imported here."""

    run_id: str
    tasks: int
    annotated: int
    imported: int

    @property
    def waiting(self) -> int:
        """Annotated on the platform, not yet imported."""
        return max(0, self.annotated - self.imported)


def import_backlog(catalog: Catalog, store: Store, settings: Settings) -> list[RunBacklog]:
    """Per open Label Studio run, annotated tasks (the platform's count) against imported frames (the newest
    review label file of each of the run's clips): what the annotation sensor decides on."""
    open_runs = open_label_studio_runs(catalog)
    if not open_runs:
        return []
    backlog = []
    platform = label_studio(settings, store)
    try:
        for run in open_runs:
            imported = 0
            for clip_id in sorted({frame.clip_id for frame in run.frames}):
                clip = catalog.get_clip(clip_id)
                reviewed = _reviewed_frames(store, clip) if clip is not None else set()
                imported += sum(1 for frame in run.frames if frame.clip_id == clip_id and frame.frame in reviewed)
            status = platform.status(run)
            backlog.append(RunBacklog(run.run_id, status.total, status.annotated, imported))
    finally:
        platform.close()
    return backlog


def import_bundle_annotations(
    catalog: Catalog, store: Store, path: str | Path, run_id: str | None = None
) -> tuple[ImportReport, ReviewReport]:
    """Read completed annotation files of a bundle (any of its four formats) and store the reviews."""
    run = _run_for_bundle(catalog, Path(path))
    imported = import_annotations(path, run)
    report = ReviewReport(runs=[run.run_id])
    report.boxes_rejected = sum(len(file.rejected) for file in imported.files)
    _store_reviews(catalog, store, run, imported.frames, report, run_id)
    return imported, report


def _run_for_bundle(catalog: Catalog, path: Path) -> AnnotationRun:
    bundle_runs = [AnnotationRun.from_json(r.record) for r in catalog.annotation_runs() if r.backend == "bundle"]
    resolved = path.resolve()
    for run in bundle_runs:
        root = Path(run.project_url)
        if resolved in (root, root.with_suffix(".zip")) or resolved.is_relative_to(root) or run.run_id in path.name:
            return run
    raise AnnotationError(
        f"{path} does not belong to a bundle this engine exported (known bundles: "
        f"{', '.join(run.run_id for run in bundle_runs) or 'none'})"
    )


def _reviewed_frames(store: Store, clip: Clip) -> set[int]:
    """Every frame of the clip that a human has reviewed so far (recorded in its newest review version)."""
    labels = read_latest_labels(store.fetch(clip.path).parent)
    if labels is None or labels.kind != "review":
        return set()
    return {int(frame) for frame in labels.stats.get("review", {}).get("frames", {})}


def _store_reviews(
    catalog: Catalog,
    store: Store,
    run: AnnotationRun,
    reviewed: Sequence[ReviewedFrame],
    report: ReviewReport,
    run_id: str | None,
) -> None:
    if not reviewed:
        return
    clips = {clip_id: catalog.get_clip(clip_id) for clip_id in {frame.clip_id for frame in reviewed}}
    sizes = {f.clip_id: (f.width, f.height) for f in run.frames}
    frame_counts = {
        clip_id: (clip.last_frame - clip.first_frame + 1, *sizes[clip_id]) for clip_id, clip in clips.items()
    }
    written = store_reviewed_labels(
        reviewed,
        clip_dir=lambda clip_id: store.fetch(clips[clip_id].path).parent,
        names=run.names,
        run_id=run.run_id,
        frame_counts=frame_counts,
    )
    authors = {frame.clip_id: frame.annotator for frame in reviewed}
    for clip_id, path in written.items():
        key = f"{clips[clip_id].path.rsplit('/', 1)[0]}/labels/{path.name}"
        store.commit(key)
        catalog.add_label_version(
            clip_id,
            version_of(path),
            kind="review",
            path=key,
            author=authors[clip_id],
            detail={"annotation_run": run.run_id},
        )
    report.label_versions_written += len(written)
    report.frames_reviewed += len(reviewed)
    report.reviewed.extend(reviewed)
    done = [
        clip_id
        for clip_id, clip in clips.items()
        if clip.status == ClipState.PUSHED
        and {f.frame for f in run.frames if f.clip_id == clip_id} <= _reviewed_frames(store, clip)
    ]
    if done:
        catalog.transition(
            done, ClipState.ANNOTATED, stage="review", run_id=run_id, detail={"annotation_run": run.run_id}
        )
        report.clips_annotated += len(done)


def review_history(catalog: Catalog, store: Store) -> list[ReviewedFrame]:
    """Every reviewed frame so far, rebuilt from the label files: the human's boxes, the autolabels they started
    from (None on a cold start), who, when, how long, and the triggers that selected the frame."""
    history: list[ReviewedFrame] = []
    for clip in catalog.clips(status=None):
        versions = catalog.label_versions(clip.id)
        reviews = [v for v in versions if v.kind == "review"]
        if not reviews:
            continue
        folder = store.fetch(clip.path).parent
        review = read_labels(folder / "labels" / Path(reviews[-1].path).name)
        autolabels = [v for v in versions if v.kind == "autolabel"]
        before = read_labels(folder / "labels" / Path(autolabels[-1].path).name) if autolabels else None
        reasons = {
            frame.frame: tuple(reason["trigger"] for reason in frame.reasons.get("reasons", []))
            for frame in catalog.selected_frames(clip_id=clip.id)
        }
        for frame, record in review.stats.get("review", {}).get("frames", {}).items():
            index = int(frame)
            history.append(
                ReviewedFrame(
                    clip_id=clip.id,
                    frame=index,
                    detections=review.frames[index],
                    pre_annotations=None if before is None else before.frames[index],
                    annotator=str(record.get("annotator") or "unknown"),
                    created_at=str(record.get("created_at") or ""),
                    updated_at=str(record.get("updated_at") or ""),
                    lead_time_s=record.get("lead_time_s"),
                    reasons=reasons.get(index, ()),
                    annotation_id=str(record.get("annotation") or ""),
                )
            )
    return history


def trigger_yields(catalog: Catalog, store: Store, minimum_frames: int = 20) -> dict[str, float]:
    """Per trigger, the share of its reviewed frames that humans changed (only triggers with enough reviews)."""
    metrics = review_metrics(review_history(catalog, store))
    return {
        trigger: summary.yield_rate
        for trigger, summary in metrics.per_trigger.items()
        if summary.frames >= minimum_frames
    }
