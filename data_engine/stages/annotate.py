"""The annotation stage: push selected frames (with their autolabels) to annotators, bring reviewed labels back.

Push takes the clips that are ready (autolabelled, or selected on a cold start) and claims their selected frames
for the configured backend's platform in the catalog: a frame is pushed to a platform at most once, whatever the
number of concurrent runs or crashes (the catalog's primary key on platform and frame key decides). The backend
then sends the claimed frames (a bundle is written under a temporary name and published by a rename), the clips
move to `pushed`, and the run record that pulls read back is stored. A push whose process died is finished by the
next push, under the same run id, so nothing is sent twice and nothing is left behind.

A run the platform lost (its Label Studio project deleted: seen by a push, or by a pull that finds the project
gone) is marked `lost`; the next push closes it as `replaced`, recording why, and sends its frames that were not
reviewed yet again as a new run (a new project when the old one is gone). `push_again` does the same by hand for a
run whose tasks are broken or deleted: its unanswered tasks are removed from the platform and pushed afresh.

Pull (platforms that answer by themselves: Label Studio) and import (bundle answer files) turn answers into a new
label-file version per clip, recorded as an import that can be undone; a clip whose pushed frames are all
reviewed moves to `annotated`. Runs closed within the corrections window are pulled again, so corrections made on
the platform after a run closed come back.
"""

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import cv2

from data_engine.annotation import (
    BACKENDS,
    AnnotationBackend,
    AnnotationError,
    AnnotationRun,
    AnnotationRunLostError,
    FrameToReview,
    PullResult,
    ReviewedFrame,
    ReviewMetrics,
    ReviewRequest,
    backend_for,
    backend_name,
    frame_key,
    plot_per_day,
    read_answers,
    review_metrics,
    store_reviewed_labels,
)
from data_engine.annotation.base import image_name
from data_engine.annotation.bundle import peek_references
from data_engine.annotation.history import review_history
from data_engine.annotation.review import FrameDiff, restore_labels, review_diff, review_records
from data_engine.autolabel import LabelFile, read_latest_labels
from data_engine.autolabel.labels import version_of
from data_engine.catalog import Catalog, Clip, ClipState
from data_engine.catalog.models import AnnotationRunRecord, utcnow
from data_engine.context import StageContext
from data_engine.errors import NotFoundError
from data_engine.faults import crash_point
from data_engine.layout import ANNOTATION_THROUGHPUT, annotation_image_key, labels_key
from data_engine.processes import holder_gone, this_process
from data_engine.reports.html import batch_report
from data_engine.settings import Settings
from data_engine.store import Store, atomic_path
from data_engine.video.frames import iter_frames

__all__ = [
    "ImportOutcome",
    "PullSummary",
    "PushReport",
    "ReviewReport",
    "RunBacklog",
    "backend_name",
    "clips_ready_to_push",
    "import_answers",
    "import_backlog",
    "open_runs",
    "parse_duration",
    "pull_and_summarise",
    "pull_reviews",
    "push_again",
    "push_ready",
    "push_selected",
    "undo_import",
]

JPEG_QUALITY = 92
FOREIGN_OWNER_LEASE = timedelta(hours=1)


@dataclass(frozen=True)
class PushedAgain:
    """A run closed because its frames were pushed again: why, by which new run (None when every frame of it was
    reviewed already) and how many frames."""

    run_id: str
    reason: str
    new_run_id: str | None
    frames: int


@dataclass
class PushReport:
    """What a push sent: the last run (id, backend, where), frames and clips, runs of crashed pushes it finished
    first, earlier runs whose derived files (a bundle's zip) it re-created, and runs the platform lost (or a person
    asked to push again) whose frames it sent again."""

    run_id: str | None = None
    annotation_backend: str = ""
    project_url: str = ""
    frames: int = 0
    clips: int = 0
    with_pre_annotations: int = 0
    resumed: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    again: list[PushedAgain] = field(default_factory=list)
    report_pages: list[Path] = field(default_factory=list)


@dataclass
class ReviewReport:
    """What a pull or an import stored."""

    runs: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    frames_reviewed: int = 0
    boxes_rejected: int = 0
    frames_rejected: int = 0
    label_versions_written: int = 0
    clips_annotated: int = 0
    pending: int = 0
    missing: int = 0
    already_imported: int = 0
    undone: int = 0
    lost: dict[str, str] = field(default_factory=dict)
    missing_by_run: dict[str, int] = field(default_factory=dict)
    reviewed: list[ReviewedFrame] = field(default_factory=list)


@dataclass
class ImportOutcome:
    """An import of one answer file: what was read, what it would change (per frame, against the current label
    version), and what was stored (nothing on a dry run)."""

    result: PullResult
    changes: list[FrameDiff]
    report: ReviewReport
    run_id: str
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            **self.result.to_json(),
            "annotation_run": self.run_id,
            "dry_run": self.dry_run,
            "import": self.report.imports[0] if self.report.imports else None,
            "already_imported": bool(self.report.already_imported),
            "changes": [change.to_json() for change in self.changes],
            "frames_becoming_empty": sum(change.becomes_empty for change in self.changes),
            "label_versions_written": self.report.label_versions_written,
            "clips_annotated": self.report.clips_annotated,
        }


def clips_ready_to_push(catalog: Catalog, cold_start: bool) -> list[Clip]:
    ready = catalog.clips(status=ClipState.AUTOLABELLED)
    return ready + catalog.clips(status=ClipState.SELECTED) if cold_start else ready


# ---- push ------------------------------------------------------------------------------------------------------


def push_ready(context: StageContext, *, annotation_backend: str | None = None) -> PushReport:
    """Push every clip that is ready (autolabelled; selected too on a cold start) to the annotation backend the
    settings name (or the one `annotation_backend` names); pushes a dead process left unfinished are completed even
    when nothing new is ready."""
    clips = clips_ready_to_push(context.catalog, cold_start=context.cold_start)
    return push_selected(context, clips, annotation_backend=annotation_backend)


def push_selected(context: StageContext, clips: Sequence[Clip], *, annotation_backend: str | None = None) -> PushReport:
    """Send the selected frames of `clips` that were never pushed to the backend's platform, and move the clips
    to `pushed`. Pushes to the same platform left unfinished by a process that died are finished first.

    A passing fault of the world while sending (a full disk, a read-only store) stops the push with one error; its
    claim stays, so the next push, once the fault is fixed, finishes the same run with the same frames."""
    try:
        return _push_selected(context, clips, annotation_backend)
    except OSError as error:
        where = getattr(error, "filename", None)
        store = context.store
        place = f" (in the store, DATA_ENGINE_STORE={store.root})" if where and store.is_local else ""
        raise AnnotationError(
            f"push stopped: {error}{place}; fix it and run again, the next push finishes this one"
        ) from error


def _push_selected(context: StageContext, clips: Sequence[Clip], annotation_backend: str | None) -> PushReport:
    catalog, store, settings = context.catalog, context.store, context.settings
    run_id, progress = context.run_id, context.progress
    report = PushReport()
    with backend_for(settings, store, annotation_backend) as platform:
        report.annotation_backend = platform.name
        step = partial(progress, f"push to {platform.name}") if progress is not None else None
        owner = this_process()
        for stale in _abandoned_pushes(catalog, platform):
            if catalog.take_over_push(stale.id, stale.owner, owner):
                _send(catalog, store, settings, platform, stale.id, report, run_id, step)
                report.resumed.append(stale.id)
        for record in catalog.annotation_runs(status="pushed"):
            if record.backend != platform.name:
                continue
            pushed_run = AnnotationRun.from_json(record.record)
            reason = platform.lost(pushed_run)
            if reason is not None:
                catalog.mark_annotation_run_lost(record.id, reason)
            elif platform.repair(pushed_run):
                report.repaired.append(record.id)
        for record in catalog.annotation_runs(status="lost"):
            if record.backend == platform.name:
                reason = str(record.record.get("lost", {}).get("reason") or "the platform lost the run")
                _push_again(catalog, store, settings, platform, record, reason, owner, report, run_id, step)
        wanted = [
            (frame_key(clip.id, selected.frame), clip.id, selected.frame)
            for clip in clips
            for selected in catalog.selected_frames(clip_id=clip.id)
        ]
        if wanted:
            new_run = uuid.uuid4().hex[:16]
            if catalog.claim_push(new_run, platform.name, platform.platform, owner, wanted):
                crash_point("push.claimed")
                _send(catalog, store, settings, platform, new_run, report, run_id, step)
    return report


def push_again(context: StageContext, annotation_run_id: str) -> PushReport:
    """Push the frames of run `annotation_run_id` that were not reviewed yet again, as a new run, and close the
    old one as `replaced` (a person saw its tasks broken or deleted on the platform): its unanswered tasks still
    there are removed first, so annotators get fresh ones."""
    catalog, store, settings, progress = context.catalog, context.store, context.settings, context.progress
    record = catalog.annotation_run(annotation_run_id)
    if record is None:
        known = ", ".join(r.id for r in catalog.annotation_runs()[-5:]) or "none"
        raise NotFoundError(f"no annotation run {annotation_run_id!r} (latest runs: {known})")
    if record.status == "pushing":
        raise AnnotationError(
            f"run {annotation_run_id} is still being pushed (or its push stopped half-way): `data-engine push` "
            "finishes it first"
        )
    if record.status == "replaced":
        by = record.record.get("replaced", {}).get("by")
        raise AnnotationError(f"run {annotation_run_id} was pushed again already (as run {by or 'none'})")
    report = PushReport()
    with backend_for(settings, store, record.backend) as platform:
        report.annotation_backend = platform.name
        step = partial(progress, f"push to {platform.name}") if progress is not None else None
        reason = "pushed again by hand (push --again)"
        _push_again(catalog, store, settings, platform, record, reason, this_process(), report, context.run_id, step)
    return report


def _push_again(
    catalog: Catalog,
    store: Store,
    settings: Settings,
    platform: AnnotationBackend,
    record: AnnotationRunRecord,
    reason: str,
    owner: str,
    report: PushReport,
    run_id: str | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Close `record` as replaced and send its frames that no person reviewed yet as a new run."""
    reviewed: dict[str, set[int]] = {}
    keys = []
    for pushed in catalog.pushed_frames(record.id):
        if pushed.clip_id not in reviewed:
            clip = catalog.get_clip(pushed.clip_id)
            reviewed[pushed.clip_id] = _reviewed_frames(store, clip) if clip is not None else set()
        if pushed.frame not in reviewed[pushed.clip_id]:
            keys.append(pushed.frame_key)
    new_run = uuid.uuid4().hex[:16]
    if not catalog.repush_annotation_run(record.id, new_run, owner, keys, reason):
        return  # another push took it
    report.again.append(PushedAgain(record.id, reason, new_run if keys else None, len(keys)))
    if keys:
        _send(catalog, store, settings, platform, new_run, report, run_id, progress)


def _send(
    catalog: Catalog,
    store: Store,
    settings: Settings,
    platform: AnnotationBackend,
    annotation_run_id: str,
    report: PushReport,
    run_id: str | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Push the frames claimed by `annotation_run_id`, move their clips to `pushed`, then record the run (the last
    step: until then the run is unfinished and the next push completes it)."""
    claimed: dict[str, set[int]] = {}
    for pushed in catalog.pushed_frames(annotation_run_id):
        claimed.setdefault(pushed.clip_id, set()).add(pushed.frame)
    request = _review_request(catalog, store, settings, claimed)
    pushing = catalog.annotation_run(annotation_run_id)
    replaces = pushing.record.get("replaces") if pushing is not None else None
    replaced = catalog.annotation_run(str(replaces)) if replaces else None
    if replaced is not None:
        platform.retire(AnnotationRun.from_json(replaced.record))
    run = platform.push(request, annotation_run_id, progress)
    crash_point("push.sent")
    clip_ids = sorted(claimed)
    before_push = [clip.id for clip in map(catalog.get_clip, clip_ids) if clip is not None and _before_push(clip)]
    catalog.transition(
        before_push,
        ClipState.PUSHED,
        stage="push",
        run_id=run_id,
        detail={"annotation_run": run.run_id, "backend": run.backend},
    )
    record = run.to_json() if replaced is None else {**run.to_json(), "replaces": replaced.id}
    catalog.finish_push(run.run_id, run.project_url, record)
    crash_point("push.recorded")
    report.run_id, report.project_url = run.run_id, run.project_url
    report.frames += len(request.frames)
    report.clips += len(clip_ids)
    report.with_pre_annotations += sum(frame.pre_annotations is not None for frame in request.frames)
    report.report_pages.extend(_batch_pages(catalog, store, clip_ids))


def _batch_pages(catalog: Catalog, store: Store, clip_ids: Sequence[str]) -> list[Path]:
    """The HTML page of each batch the push touched, with the images just written for annotators (a page lost to a
    crash is re-created by the pipeline's next push step, which runs `redraw_missing_plots` on every batch first)."""
    clips = [clip for clip in map(catalog.get_clip, clip_ids) if clip is not None]
    videos = [catalog.get_video(video_id) for video_id in {clip.video_id for clip in clips}]
    batches = sorted({video.batch_key for video in videos if video is not None and video.batch_key is not None})
    return [batch_report(catalog, store, batch_key) for batch_key in batches]


def _before_push(clip: Clip) -> bool:
    return clip.status in (ClipState.SELECTED, ClipState.AUTOLABELLED)


def _review_request(
    catalog: Catalog, store: Store, settings: Settings, claimed: Mapping[str, set[int]]
) -> ReviewRequest:
    """The claimed frames as a review request: images decoded once and written once, with their autolabels."""
    frames: list[FrameToReview] = []
    names: dict[int, str] | None = None
    models: set[str] = set()
    for clip_id, wanted in sorted(claimed.items()):
        clip = catalog.get_clip(clip_id)
        if clip is None:
            raise AnnotationError(f"clip {clip_id} of a pushed frame is not in the catalog")
        labels = read_latest_labels(store.fetch(clip.path).parent)
        if labels is not None:
            names = names or dict(labels.names)
            models.update(str(model.get("model_id")) for model in labels.models)
        frames += _frames_of(catalog, store, clip, labels, wanted)
    return ReviewRequest(
        frames=tuple(frames),
        names=names or dict(enumerate(settings.classes)),
        name=settings.annotation_project,
        model_version=",".join(sorted(models)) or "none",
    )


def _frames_of(
    catalog: Catalog, store: Store, clip: Clip, labels: LabelFile | None, wanted: set[int]
) -> list[FrameToReview]:
    """The clip's wanted frames as JPEG files (decoded once, written once), with their autolabels, the triggers
    that selected them and their time within the clip."""
    selected = {frame.frame: frame for frame in catalog.selected_frames(clip_id=clip.id) if frame.frame in wanted}
    video = catalog.get_video(clip.video_id)
    fps = video.fps if video is not None and video.fps else None
    found: list[FrameToReview] = []
    for decoded in iter_frames(store.fetch(clip.path), only=selected):
        chosen = selected[decoded.index]
        time_s = None if fps is None else decoded.index / fps
        key = annotation_image_key(image_name(clip.id, decoded.index, time_s))
        target = store.local_path(key)
        if not target.exists():
            with atomic_path(target) as temporary:
                ok, encoded = cv2.imencode(".jpg", decoded.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
                if not ok:
                    raise AnnotationError(f"frame {decoded.index} of clip {clip.id}: JPEG encoding failed")
                temporary.write_bytes(encoded.tobytes())
                crash_point("push.image_half_written")
            store.commit(key)
        height, width = decoded.image.shape[:2]
        found.append(
            FrameToReview(
                clip_id=clip.id,
                frame=decoded.index,
                width=width,
                height=height,
                image_path=target,
                pre_annotations=None if labels is None else labels.frames[decoded.index],
                reasons=tuple(reason["trigger"] for reason in chosen.reasons.get("reasons", [])),
                time_s=time_s,
            )
        )
    return found


def _abandoned_pushes(catalog: Catalog, platform: AnnotationBackend) -> list[AnnotationRunRecord]:
    """Unfinished pushes of this backend whose process is gone: on this host, a process that no longer runs; on
    another, one silent for longer than the lease."""
    abandoned = []
    for record in catalog.annotation_runs(status="pushing"):
        if record.backend != platform.name:
            continue
        gone = holder_gone(record.owner or "")
        if gone is None:
            heard = record.updated_at if record.updated_at.tzinfo else record.updated_at.replace(tzinfo=UTC)
            gone = heard <= utcnow() - FOREIGN_OWNER_LEASE
        if gone:
            abandoned.append(record)
    return abandoned


# ---- pull and import -------------------------------------------------------------------------------------------


def open_runs(catalog: Catalog, window: timedelta | None = None) -> list[AnnotationRun]:
    """Runs whose answers arrive on their platform by themselves (not bundles, which come back by hand) and are
    not all in yet, plus, with a `window`, those closed within it (corrections come back)."""
    closed_since = None if window is None or window <= timedelta(0) else utcnow() - window
    return [
        AnnotationRun.from_json(record.record)
        for record in catalog.annotation_runs(status="pushed", closed_since=closed_since)
        if record.backend in BACKENDS and BACKENDS[record.backend].polled and record.status in ("pushed", "done")
    ]


def pull_reviews(
    catalog: Catalog,
    store: Store,
    settings: Settings,
    run_id: str | None = None,
    since: timedelta | None = None,
) -> ReviewReport:
    """Fetch the answers of every open run (and of runs closed within `since`, by default the configured
    corrections window) and store them as review label versions; a run whose frames are all answered closes. A run
    whose project is gone from its platform is marked lost (in `report.lost`, with why): the next push sends its
    frames again."""
    window = since if since is not None else timedelta(hours=settings.corrections_window_hours)
    report = ReviewReport()
    backends: dict[str, AnnotationBackend] = {}
    try:
        for run in open_runs(catalog, window):
            if run.backend not in backends:
                backends[run.backend] = backend_for(settings, store, run.backend)
            try:
                result = backends[run.backend].pull(run)
            except AnnotationRunLostError as lost:
                catalog.mark_annotation_run_lost(run.run_id, lost.reason)
                report.lost[run.run_id] = lost.reason
                continue
            report.runs.append(run.run_id)
            report.pending += len(result.pending)
            report.missing += len(result.missing)
            if result.missing:
                report.missing_by_run[run.run_id] = len(result.missing)
            _store_reviews(catalog, store, run, result, report, run_id)
            if not result.pending:
                catalog.close_annotation_run(run.run_id)
    finally:
        for backend in backends.values():
            backend.close()
    return report


@dataclass(frozen=True)
class PullSummary:
    """A pull, and what all reviews so far say: throughput, what humans changed, a picture of images per day."""

    report: ReviewReport
    metrics: ReviewMetrics
    throughput_picture: Path | None


def pull_and_summarise(catalog: Catalog, store: Store, settings: Settings, run_id: str | None = None) -> PullSummary:
    """Pull the open runs, then measure every review so far and draw images reviewed per day."""
    report = pull_reviews(catalog, store, settings, run_id=run_id)
    metrics = review_metrics(review_history(catalog, store))
    picture = None
    if metrics.per_annotator_day:
        picture = store.local_path(ANNOTATION_THROUGHPUT)
        plot_per_day(metrics, str(picture))
        store.commit(ANNOTATION_THROUGHPUT)
    return PullSummary(report, metrics, picture)


@dataclass(frozen=True)
class RunBacklog:
    """An open run as its platform and the catalog see it: its tasks, how many are answered there and how many of
    its frames have been imported here."""

    run_id: str
    tasks: int
    annotated: int
    imported: int

    @property
    def waiting(self) -> int:
        """Answered on the platform, not yet imported."""
        return max(0, self.annotated - self.imported)


def import_backlog(catalog: Catalog, store: Store, settings: Settings) -> list[RunBacklog]:
    """Per open run of a platform that answers by itself (Label Studio), answered tasks (the platform's count)
    against imported frames (the newest review label file of each of the run's clips): what the annotation
    sensor decides on."""
    runs = open_runs(catalog)
    backlog = []
    for name in sorted({run.backend for run in runs}):
        with backend_for(settings, store, name) as backend:
            for run in (run for run in runs if run.backend == name):
                imported = 0
                for clip_id in sorted({frame.clip_id for frame in run.frames}):
                    clip = catalog.get_clip(clip_id)
                    reviewed = _reviewed_frames(store, clip) if clip is not None else set()
                    imported += sum(1 for frame in run.frames if frame.clip_id == clip_id and frame.frame in reviewed)
                try:
                    progress = backend.progress(run)
                except AnnotationRunLostError as lost:
                    catalog.mark_annotation_run_lost(run.run_id, lost.reason)  # the next push sends it again
                    continue
                backlog.append(RunBacklog(run.run_id, progress.total, progress.annotated, imported))
    return backlog


def import_answers(
    catalog: Catalog,
    store: Store,
    path: str | Path,
    run_id: str | None = None,
    *,
    file_format: str | None = None,
    dry_run: bool = False,
) -> ImportOutcome:
    """Read one answer file (a bundle's own, a format asked for, or a file given explicitly) of the run it belongs
    to; only frames a person answered count. With `dry_run` nothing is written: the outcome says what would change
    per frame against the current label versions."""
    target = Path(path)
    scratch = store.local_path("")  # a zip unpacks here, under a temporary name the next command's sweep knows
    run = _run_for(catalog, target, file_format, scratch)
    result = read_answers(run, target, file_format, scratch)
    clips = _clips_of(catalog, {frame.clip_id for frame in result.frames})
    changes = review_diff(result.frames, lambda clip_id: _clip_dir(store, clips[clip_id]))
    report = ReviewReport(runs=[run.run_id], pending=len(result.pending))
    if dry_run:
        _count_rejections(report, result)
        report.frames_reviewed = len(result.frames)
    else:
        _store_reviews(catalog, store, run, result, report, run_id, explicit=True)
    return ImportOutcome(result, changes, report, run.run_id, dry_run)


def pushed_runs(catalog: Catalog) -> list[AnnotationRun]:
    """Every run whose push finished, oldest first (a push in progress holds a claim, not yet a run record)."""
    return [AnnotationRun.from_json(r.record) for r in catalog.annotation_runs() if r.status != "pushing"]


def bundle_run(runs: Sequence[AnnotationRun], path: Path) -> AnnotationRun | None:
    """Of `runs`, the one whose bundle `path` is, lies in, or is the zip of."""
    resolved = path.resolve()
    for run in runs:
        root = Path(run.project_url)
        inside = resolved in (root, root.with_suffix(".zip")) or resolved.is_relative_to(root)
        if root.is_absolute() and inside:
            return run
    return None


def _run_for(catalog: Catalog, path: Path, file_format: str | None, scratch: Path | None = None) -> AnnotationRun:
    """The run an answer file belongs to: the bundle it lies in (or whose zip it is), else the run whose frames
    its images are (an export downloaded somewhere else)."""
    runs = pushed_runs(catalog)
    in_bundle = bundle_run(runs, path)
    if in_bundle is not None:
        return in_bundle
    for run in runs:
        if run.run_id in path.name:
            return run
    references = peek_references(path, file_format, scratch)
    best, overlap = None, 0
    for run in runs:
        names = {Path(f.image).stem for f in run.frames if f.image} | {f.key for f in run.frames}
        shared = len(names & references)
        if shared > overlap:
            best, overlap = run, shared
    if best is None:
        raise AnnotationError(
            f"{path} does not belong to a run this engine pushed: none of its images is a pushed frame "
            f"(known runs: {', '.join(run.run_id for run in runs) or 'none'})"
        )
    return best


def _clips_of(catalog: Catalog, clip_ids: set[str]) -> dict[str, Clip]:
    clips = {}
    for clip_id in clip_ids:
        clip = catalog.get_clip(clip_id)
        if clip is None:
            raise AnnotationError(f"clip {clip_id} of a reviewed frame is not in the catalog")
        clips[clip_id] = clip
    return clips


def _clip_dir(store: Store, clip: Clip) -> Path:
    return store.fetch(clip.path).parent


def _import_id(run: AnnotationRun, frames: Sequence[ReviewedFrame], catalog: Catalog, again: bool) -> str | None:
    """An id that depends only on what was answered (frames, boxes, who, when): the same answers imported twice
    are one import. Answers whose import was undone are imported again only when asked (`again`: an explicit
    import); a pull returns None for them, so an undone pull is not re-applied by the next one."""
    content = json.dumps(
        [
            [f.clip_id, f.frame, f.annotation_id, f.updated_at, f.detections.to_dicts()]
            for f in sorted(frames, key=lambda f: (f.clip_id, f.frame))
        ],
        sort_keys=True,
    )
    import_id = hashlib.sha256(f"{run.run_id}\x00{content}".encode()).hexdigest()[:16]
    while (existing := catalog.annotation_import(import_id)) is not None and existing.status == "undone":
        if not again:
            return None
        import_id = hashlib.sha256(import_id.encode()).hexdigest()[:16]
    return import_id


def _store_reviews(
    catalog: Catalog,
    store: Store,
    run: AnnotationRun,
    result: PullResult,
    report: ReviewReport,
    run_id: str | None,
    explicit: bool = False,
) -> None:
    """Store answered frames as review label versions, record the import, move fully reviewed clips on.
    `explicit`: a person asked for this import (answers of an undone import are then taken again)."""
    _count_rejections(report, result)
    reviewed = result.frames
    if not reviewed:
        return
    clips = _clips_of(catalog, {frame.clip_id for frame in reviewed})
    import_id = _import_id(run, reviewed, catalog, again=explicit)
    if import_id is None:
        report.undone += 1
        return
    earlier = catalog.annotation_import(import_id)
    if earlier is None:
        sizes = {f.clip_id: (f.width, f.height) for f in run.frames}
        frame_counts = {
            clip_id: (clip.last_frame - clip.first_frame + 1, *sizes[clip_id]) for clip_id, clip in clips.items()
        }
        stored = store_reviewed_labels(
            reviewed,
            clip_dir=lambda clip_id: _clip_dir(store, clips[clip_id]),
            names=run.names,
            run_id=run.run_id,
            frame_counts=frame_counts,
            detail={"import": import_id},
        )
        crash_point("import.labels_written")
        authors = {frame.clip_id: frame.annotator for frame in reviewed}
        for clip_id, review in stored.items():
            key = labels_key(clips[clip_id], review.path.name)
            store.commit(key)
            catalog.add_label_version(
                clip_id,
                version_of(review.path),
                kind="review",
                path=key,
                author=authors[clip_id],
                detail={"annotation_run": run.run_id, "import": import_id},
            )
        # this import's versions: those it wrote now, and those an earlier attempt of it wrote before it died
        written = {clip_id: review for clip_id, review in stored.items() if review.import_id == import_id}
        frames = sum(review.frames_changed or sum(f.clip_id == c for f in reviewed) for c, review in written.items())
        record = {
            "clips": {
                clip_id: {"version": review.version, "based_on": review.based_on} for clip_id, review in written.items()
            },
            "frames": frames,
            "rejected_frames": [[r.clip_id, r.frame, r.reason] for r in result.rejected_frames],
        }
        catalog.record_import(import_id, run.run_id, result.source, result.format, record)
        crash_point("import.recorded")
        report.label_versions_written += len(written)
        report.frames_reviewed += frames
        report.reviewed.extend(reviewed)
    else:
        report.already_imported += 1
    report.imports.append(import_id)
    done = [
        clip_id
        for clip_id, clip in clips.items()
        if clip.status == ClipState.PUSHED
        and {f.frame for f in run.frames if f.clip_id == clip_id} <= _reviewed_frames(store, clip)
    ]
    if done:
        catalog.transition(
            done,
            ClipState.ANNOTATED,
            stage="review",
            run_id=run_id,
            detail={"annotation_run": run.run_id, "import": import_id},
        )
        report.clips_annotated += len(done)


def _count_rejections(report: ReviewReport, result: PullResult) -> None:
    report.boxes_rejected += sum(1 for r in result.rejected if r.box is not None or r.label is not None)
    report.frames_rejected += len(result.rejected_frames)


def _reviewed_frames(store: Store, clip: Clip) -> set[int]:
    """Every frame of the clip that a human has reviewed so far (recorded in its newest review version)."""
    labels = read_latest_labels(_clip_dir(store, clip))
    return set() if labels is None else {int(frame) for frame in review_records(labels)}


@dataclass
class UndoReport:
    import_id: str
    clips_restored: list[str] = field(default_factory=list)
    clips_reopened: list[str] = field(default_factory=list)


def undo_import(catalog: Catalog, store: Store, import_id: str, run_id: str | None = None) -> UndoReport:
    """Restore, for every clip an import wrote, the label version it was based on (as a new version: label files
    are never deleted), and send the clips it moved to `annotated` back to `pushed`. Refused when a clip got a
    newer version since (undo that first), so nothing else is lost."""
    row = catalog.annotation_import(import_id)
    if row is None:
        known = ", ".join(i.id for i in catalog.annotation_imports()[-5:]) or "none"
        raise AnnotationError(f"no import {import_id!r} (latest imports: {known})")
    if row.status == "undone":
        raise AnnotationError(f"import {import_id} was already undone")
    clips = _clips_of(catalog, set(row.record.get("clips", {})))
    for clip_id, entry in row.record.get("clips", {}).items():
        newest = max((v.version for v in catalog.label_versions(clip_id)), default=None)
        if newest != entry["version"]:
            raise AnnotationError(
                f"clip {clip_id} has label version {newest} written after import {import_id} (version "
                f"{entry['version']}); undo or remove that first"
            )
    report = UndoReport(import_id)
    for clip_id, entry in sorted(row.record.get("clips", {}).items()):
        directory = _clip_dir(store, clips[clip_id])
        path = restore_labels(directory, entry["based_on"], {"import": import_id, "version": entry["version"]})
        key = labels_key(clips[clip_id], path.name)
        store.commit(key)
        catalog.add_label_version(
            clip_id, version_of(path), kind="review", path=key, author="undo", detail={"undo_of": import_id}
        )
        report.clips_restored.append(clip_id)
    reopened = [clip_id for clip_id, clip in clips.items() if clip.status == ClipState.ANNOTATED]
    catalog.transition(reopened, ClipState.PUSHED, stage="review", run_id=run_id, detail={"undo_of": import_id})
    report.clips_reopened = sorted(reopened)
    catalog.mark_import_undone(import_id, {"at": utcnow().isoformat(timespec="seconds")})
    return report


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `12h`, `7d` or `2w` as a duration (a plain number is hours)."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    value, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "h")
    try:
        amount = float(value)
    except ValueError:
        raise AnnotationError(f"{text!r} is not a duration (e.g. 12h, 7d)") from None
    if not amount >= 0 or amount == float("inf"):
        raise AnnotationError(f"{text!r} is not a duration (e.g. 12h, 7d)")
    return timedelta(**{units[unit]: amount})
