"""The mining stage: frame features per clip, trigger hits, and the selection of frames for annotation.

Three steps, each one Dagster asset (`frame_features`, `trigger_hits`, `annotation_selection`):
features are computed once per clip and stored as Parquet beside the clip, so triggers can be re-run without
decoding: cut out of the features ingest computed while probing the video (clips copied without re-encoding), else
by decoding the clip on the compute backend. Trigger mining is one job per clip on the compute backend too: with
detectors it decodes the clip once for all of them, runs them on its frames (on a GPU worker when the cluster has
one) and stores their detections beside the clip for autolabelling to reuse. Hits are rows in the
catalog; selection turns hits into frames under the day's budget, without near-duplicates of frames already
selected, and moves clips on.

Each per-clip step has the same shape: take the clips, run one job per clip on the backend, record each clip's
result and state transition as soon as its job is done.
"""

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from data_engine.annotation.history import review_yield_rates
from data_engine.autolabel.stream import AutolabelError, detect_clip_once
from data_engine.catalog import Catalog, Clip, ClipState, VideoStatus
from data_engine.compute import GPU, ComputeBackend, InProcessBackend
from data_engine.context import StageContext
from data_engine.detectors import Detector
from data_engine.detectors.base import operating_threshold
from data_engine.detectors.cache import DetectorSource, ModelWork, detectors_for_clip, source_of
from data_engine.detectors.stored import fetch_stored_detections
from data_engine.faults import crash_point
from data_engine.layout import (
    features_key,
    video_features_key,
)
from data_engine.leases import take
from data_engine.mining.config import MiningConfig
from data_engine.mining.features import (
    FeaturesError,
    FrameFeatures,
    clip_features,
    compute_features,
    read_features,
    write_features,
)
from data_engine.mining.model_triggers import operating_configs, sampled_detections
from data_engine.mining.selection import (
    FrameCandidate,
    FrameSelection,
    candidates_from_hits,
    diversity_sample,
    select_frames,
)
from data_engine.mining.triggers import Hit, run_triggers, triggers_for
from data_engine.progress import Progress, counted
from data_engine.reports.pictures import BatchPictures, forget_pictures, shown_pictures
from data_engine.runtime import compute_backend
from data_engine.settings import Settings
from data_engine.store import Store
from data_engine.video.probe import VideoError

logger = logging.getLogger(__name__)


@dataclass
class FeaturesReport:
    """`from_ingest`: clips whose features were cut out of the video's (no decoding); the rest were decoded."""

    clips: int = 0
    frames: int = 0
    seconds_of_video: float = 0.0
    failed: dict[str, str] = field(default_factory=dict)
    from_ingest: int = 0


@dataclass
class HitsReport:
    """`frames_inferred`: model id -> frames each detector ran on (stored detections reused are not counted);
    `models_loaded`: worker pid -> models that worker had loaded from specs by its last job (its cache)."""

    clips: int = 0
    per_trigger: Counter = field(default_factory=Counter)
    model_ids: tuple[str, ...] = ()
    frames_inferred: Counter = field(default_factory=Counter)
    failed: dict[str, str] = field(default_factory=dict)
    models_loaded: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ClipRow:
    """One clip of the batch after selection: its frame range, its state and how many of its frames are selected."""

    clip_id: str
    first_frame: int
    last_frame: int
    status: str
    selected_frames: int


@dataclass
class SelectionReport:
    """What selection chose in a batch, under `config` (its budget and duplicate distance, which the checks use)."""

    budget_day: str
    budget_left: int
    config: MiningConfig = field(default_factory=MiningConfig)
    selected: int = 0
    candidates: int = 0
    duplicates_skipped: int = 0
    per_trigger: dict[str, int] = field(default_factory=dict)
    cold_start: bool = False
    clips_selected: int = 0
    budget_used: int = 0
    pictures: BatchPictures = field(default_factory=BatchPictures)
    clip_rows: list[ClipRow] = field(default_factory=list)


@dataclass(frozen=True)
class FeaturesJobResult:
    frames: int = 0
    error: str | None = None


def clip_features_job(paths: tuple[str, str]) -> FeaturesJobResult:
    """Compute and store one clip's features (runs on a worker); a clip that cannot be decoded says why."""
    clip_path, features_path = paths
    try:
        features = compute_features(clip_path)
    except (FeaturesError, VideoError) as error:
        return FeaturesJobResult(error=str(error))
    write_features(features, features_path)
    return FeaturesJobResult(frames=len(features))


def compute_batch_features(context: StageContext, batch_key: str) -> FeaturesReport:
    """Features for every extracted clip of the batch that has none yet: cut out of the features ingest computed
    while probing the video when the clip is a stream copy, else decoded (one pass per clip, on the backend)."""
    catalog, store = context.catalog, context.store
    report = FeaturesReport()
    extracted = _ready(catalog, batch_key, ClipState.EXTRACTED)
    todo, worker = take(
        catalog, [clip for clip in extracted if not store.exists(features_key(clip))], ClipState.EXTRACTED
    )
    step, done = f"features {batch_key}", 0
    to_decode: list[Clip] = []
    video_features: dict[str, FrameFeatures | None] = {}
    for clip in todo:
        sliced = _features_from_ingest(store, clip, video_features)
        if sliced is None:
            to_decode.append(clip)
            continue
        write_features(sliced, store.local_path(features_key(clip)))
        _record_features(store, clip, FeaturesJobResult(frames=len(sliced)), report)
        report.from_ingest += 1
        done += 1
        if context.progress is not None:
            context.progress(step, done, len(todo))
    jobs = [(str(store.fetch(clip.path)), str(store.local_path(features_key(clip)))) for clip in to_decode]
    for index, outcome in context.backend.imap(clip_features_job, jobs):
        clip = to_decode[index]
        if outcome.error is not None:
            report.failed[clip.id] = outcome.error
            catalog.transition(
                [clip.id], ClipState.FAILED, stage="features", run_id=context.run_id, detail={"error": outcome.error}
            )
        else:
            _record_features(store, clip, outcome, report)
        done += 1
        if context.progress is not None:
            context.progress(step, done, len(todo))
    catalog.release([clip.id for clip in todo], worker)
    return report


def _features_from_ingest(
    store: Store, clip: Clip, video_features: dict[str, FrameFeatures | None]
) -> FrameFeatures | None:
    """The clip's rows of its video's features, or None when they cannot stand for the clip's own frames (a
    re-encoded clip decodes to other pixels; videos ingested before features rode on the probe have none)."""
    if clip.method != "copy":
        return None
    if clip.video_id not in video_features:
        key = video_features_key(clip.video_id)
        try:
            video_features[clip.video_id] = read_features(store.fetch(key)) if store.exists(key) else None
        except FeaturesError:
            video_features[clip.video_id] = None
    found = video_features[clip.video_id]
    if found is None:
        return None
    try:
        return clip_features(found, clip.first_frame, clip.last_frame)
    except FeaturesError:
        return None


def _record_features(store: Store, clip: Clip, outcome: FeaturesJobResult, report: FeaturesReport) -> None:
    """The features file is the record: written once it is published (a clip without one is computed again)."""
    store.commit(features_key(clip))
    crash_point("features.written")
    report.clips += 1
    report.frames += outcome.frames
    report.seconds_of_video += clip.end_s - clip.start_s


@dataclass(frozen=True)
class MiningJob:
    """One clip's trigger mining, as plain data for a compute worker (local paths; detectors as specs)."""

    clip_path: str
    features_path: str
    detections_folder: str
    detectors: tuple[DetectorSource, ...] = ()
    detector_every: int = 2
    detect_all_frames: bool = True
    triggers: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MiningJobResult(ModelWork):
    """The clip's hits, or why it could not be mined; with what its models did (`ModelWork`)."""

    hits: tuple[Hit, ...] = ()
    error: str | None = None


def clip_mining_job(job: MiningJob) -> MiningJobResult:
    """Mine one clip (runs on a worker): image-level triggers from its features and, with detectors, model-level
    triggers from one decoding pass for all of them (the first is the fast model, a second is compared with it) on
    every frame they ran on (all, or every `detector_every`-th), each model's boxes counted from its own operating
    threshold; those detections are stored for autolabelling."""
    try:
        features = read_features(job.features_path)
        if not job.detectors:
            return MiningJobResult(hits=tuple(run_triggers(features, names=triggers_for(job.triggers, False, False))))
        every = 1 if job.detect_all_frames else job.detector_every
        detectors = detectors_for_clip(job.detectors, job.detections_folder, every)
        inference = detect_clip_once(job.clip_path, detectors, job.detections_folder, every=every)
    except (FeaturesError, AutolabelError, VideoError) as error:
        return MiningJobResult(error=str(error))
    per_model = sampled_detections(inference.streamed)
    fast = per_model[detectors[0].model_id]
    reference = per_model[detectors[1].model_id] if len(detectors) > 1 else None
    names = triggers_for(job.triggers, True, reference is not None)
    thresholds = [operating_threshold(detector) for detector in detectors]
    configs = operating_configs(names, thresholds[0], thresholds[1] if reference is not None else None)
    return MiningJobResult(
        hits=tuple(run_triggers(features, fast, configs, names, reference_detections=reference)),
        frames_inferred=inference.inferred_frames,
        written=tuple(path.name for path in inference.written),
    )


def mine_batch_triggers(context: StageContext, batch_key: str, *, config: MiningConfig | None = None) -> HitsReport:
    """Run every registered trigger on each featured, extracted clip; record the hits; move the clip to `mined`.

    With detectors, the model-level triggers run too, one job per clip on the context's backend, asking for a
    GPU; their detections are stored beside the clip. Without, the image-level triggers need no more than the
    stored features and run here. A clip that cannot be decoded moves to `failed` with the reason. `config`
    (default: the settings' budget and triggers) says what runs.
    """
    catalog, store, detectors = context.catalog, context.store, context.detectors
    config = MiningConfig.from_settings(context.settings) if config is None else config
    report = HitsReport(model_ids=tuple(detector.model_id for detector in detectors))
    clips, worker = take(
        catalog,
        [clip for clip in _ready(catalog, batch_key, ClipState.EXTRACTED) if store.exists(features_key(clip))],
        ClipState.EXTRACTED,
    )
    sources = tuple(source_of(detector) for detector in detectors)
    jobs = [
        MiningJob(
            clip_path=str(store.fetch(clip.path)),
            features_path=str(store.fetch(features_key(clip))),
            detections_folder=str(fetch_stored_detections(store, clip) if detectors else ""),
            detectors=sources,
            detector_every=config.detector_every,
            detect_all_frames=config.detect_all_frames,
            triggers=config.triggers,
        )
        for clip in clips
    ]
    runner = context.backend if detectors else InProcessBackend()
    results = runner.imap(clip_mining_job, jobs, resources=GPU if detectors else None)
    for index, outcome in counted(results, len(clips), f"triggers {batch_key}", context.progress):
        _record_mined(context, clips[index], outcome, report, worker)
    return report


def _record_mined(context: StageContext, clip: Clip, outcome: MiningJobResult, report: HitsReport, worker: str) -> None:
    """One clip's mining result into the catalog: its hits and its move to `mined` in one transaction (or to
    `failed`, with why)."""
    outcome.commit(context.store, clip, report.models_loaded, report.frames_inferred)
    crash_point("triggers.detections_written")
    if outcome.error is not None:
        report.failed[clip.id] = outcome.error
        context.catalog.transition(
            [clip.id], ClipState.FAILED, stage="mine", run_id=context.run_id, detail={"error": outcome.error}
        )
        return
    per_trigger = Counter(hit.trigger for hit in outcome.hits)
    recorded = context.catalog.record_mined(
        clip.id,
        [_hit_row(hit) for hit in outcome.hits],
        worker,
        run_id=context.run_id,
        detail={
            "hits": dict(per_trigger),
            "models": list(report.model_ids),
            "frames_inferred": dict(outcome.frames_inferred),
        },
    )
    crash_point("triggers.recorded")
    if not recorded:
        return
    report.clips += 1
    report.per_trigger.update(per_trigger)


def _hit_row(hit: Hit) -> dict[str, object]:
    row = asdict(hit)
    row["details"] = _jsonable(row["details"])
    return row


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def select_batch(context: StageContext, batch_key: str, *, config: MiningConfig | None = None) -> SelectionReport:
    """Choose frames of the batch's mined clips under what is left of today's budget and record why.

    Near-duplicates (phash within `duplicate_distance` bits) of frames selected earlier are skipped. A diversity
    sample tops up what the triggers found: `explore_per_clip` frames per clip normally (scenes the models have
    not flagged still get looked at), `cold_start_per_clip` in a cold start (no model yet). Without yields in
    `config`, triggers are weighed by how often reviewers changed their frames so far. Nothing is drawn here: the
    pictures these frames change are deleted first, and whoever shows them draws them (`reports.pictures`). The
    budget is the context's day's (default: today's); `config` defaults to the settings'.
    """
    catalog, store, cold_start = context.catalog, context.store, context.cold_start
    config = MiningConfig.from_settings(context.settings) if config is None else config
    if config.yields is None:
        config = replace(config, yields=review_yield_rates(catalog, store) or None)
    day = context.budget_day or datetime.now(UTC).date().isoformat()
    budget_left = max(0, config.budget_per_day - catalog.selected_count(day))
    report = SelectionReport(budget_day=day, budget_left=budget_left, config=config, cold_start=cold_start)
    clips, worker = take(catalog, _ready(catalog, batch_key, ClipState.MINED), ClipState.MINED)
    if not clips:
        return _describe_batch(catalog, batch_key, report)
    features = {clip.id: read_features(store.fetch(features_key(clip))) for clip in clips}
    rows_by_clip: dict[str, list] = {}
    for row in catalog.hits(batch_key=batch_key):
        rows_by_clip.setdefault(row.clip_id, []).append(row)
    hits_by_clip = {
        clip.id: [
            Hit(r.trigger, r.first_frame, r.last_frame, r.score, r.details) for r in rows_by_clip.get(clip.id, [])
        ]
        for clip in clips
    }
    candidates: list[FrameCandidate] = []
    for clip in clips:
        hit_ids = [row.id for row in rows_by_clip.get(clip.id, [])]
        candidates += candidates_from_hits(hits_by_clip[clip.id], features[clip.id], clip.id, clip.video_id, hit_ids)
    existing = np.array([frame.phash for frame in catalog.selected_frames()], dtype=np.uint64)
    selection = select_frames(
        candidates,
        budget_left,
        quotas=config.quotas,
        yields=config.yields,
        existing_hashes=existing,
        max_distance=config.duplicate_distance,
        max_per_clip=config.max_per_clip,
    )
    chosen = list(selection.frames)
    per_clip = config.cold_start_per_clip if cold_start else config.explore_per_clip
    if per_clip and len(chosen) < budget_left:
        chosen += _diversity_top_up(clips, features, selection, existing, budget_left - len(chosen), per_clip, config)
    forget_pictures(store, batch_key, clips)
    by_clip = catalog.record_selection(
        [
            {
                "clip_id": frame.clip_id,
                "frame": frame.frame,
                "phash": frame.phash,
                "reasons": {"trigger": frame.trigger, "reasons": [r.to_dict() for r in frame.reasons]},
                "budget_day": day,
            }
            for frame in chosen
        ],
        worker,
        run_id=context.run_id,
    )
    crash_point("selection.recorded")
    catalog.release([clip.id for clip in clips if clip.id not in by_clip], worker)
    chosen = [frame for frame in chosen if frame.clip_id in by_clip]
    report.selected = len(chosen)
    report.candidates = selection.candidate_frames
    report.duplicates_skipped = selection.duplicates_skipped
    report.per_trigger = dict(Counter(frame.trigger for frame in chosen))
    report.clips_selected = len(by_clip)
    return _describe_batch(catalog, batch_key, report)


def _describe_batch(catalog: Catalog, batch_key: str, report: SelectionReport) -> SelectionReport:
    """The budget used on the report's day and every clip of the batch with its state and selected frames (the
    batch's HTML page is written by the push, which has the frames' images and autolabels by then)."""
    selected = Counter(frame.clip_id for frame in catalog.selected_frames(batch_key=batch_key))
    report.budget_used = catalog.selected_count(report.budget_day)
    report.clip_rows = [
        ClipRow(clip.id, clip.first_frame, clip.last_frame, clip.status, selected.get(clip.id, 0))
        for clip in catalog.clips(batch_key=batch_key)
    ]
    return report


def _diversity_top_up(
    clips: Sequence[Clip],
    features: Mapping[str, FrameFeatures],
    selection: FrameSelection,
    existing: np.ndarray,
    budget: int,
    per_clip: int,
    config: MiningConfig,
) -> list:
    taken = np.array([frame.phash for frame in selection.frames], dtype=np.uint64)
    counts = [len(features[clip.id]) for clip in clips]
    frames = {
        "clip_id": np.repeat([clip.id for clip in clips], counts),
        "video_id": np.repeat([clip.video_id for clip in clips], counts),
        "frame_index": np.concatenate([features[clip.id]["frame_index"] for clip in clips]),
        "phash": np.concatenate([features[clip.id]["phash"] for clip in clips]),
    }
    sample = diversity_sample(
        frames,
        min(budget, per_clip * len(clips)),
        existing_hashes=np.concatenate([existing, taken]),
        max_distance=config.duplicate_distance,
        max_per_clip=per_clip,
    )
    return list(sample.frames)


@dataclass
class BatchMining:
    """The three mining steps' reports for one batch."""

    batch_key: str
    features: FeaturesReport
    hits: HitsReport
    selection: SelectionReport


@dataclass
class MiningReport:
    """What one mining pass did, batch by batch."""

    cold_start: bool
    batches: list[BatchMining] = field(default_factory=list)

    @property
    def hits_per_trigger(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for batch in self.batches:
            total.update(batch.hits.per_trigger)
        return dict(total)

    @property
    def frames_selected(self) -> int:
        return sum(batch.selection.selected for batch in self.batches)


def mine(
    catalog: Catalog,
    store: Store,
    settings: Settings,
    detectors: Sequence[Detector],
    batch_keys: Sequence[str] | None = None,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
    backend: ComputeBackend | None = None,
) -> MiningReport:
    """Features, trigger hits and selection for each batch (default: every batch) with clips to mine: new
    `extracted` clips, or `mined` ones still waiting for a selection (a crash or yesterday's spent budget).

    Without detectors (a cold start) only the image-level triggers run and selection adds a diversity sample.
    Selection weighs triggers by how often reviewers changed their frames so far. Per-clip work runs on `backend`
    (default: the one the settings name, opened for this call).
    """
    if backend is None:
        with compute_backend(settings) as opened:
            return mine(
                catalog, store, settings, detectors, batch_keys, run_id=run_id, progress=progress, backend=opened
            )
    context = StageContext(catalog, store, settings, backend, detectors, run_id=run_id, progress=progress)
    report = MiningReport(cold_start=context.cold_start)
    for key in catalog.batch_keys() if batch_keys is None else batch_keys:
        if not _ready(catalog, key, ClipState.EXTRACTED) and not _ready(catalog, key, ClipState.MINED):
            continue
        features = compute_batch_features(context, key)
        hits = mine_batch_triggers(context, key)
        selection = select_batch(context, key)
        report.batches.append(BatchMining(key, features, hits, selection))
    return report


def _ready(catalog: Catalog, batch_key: str, status: ClipState) -> list[Clip]:
    """The batch's clips in `status` whose video is clipped: the clips a video that failed part way (a full disk)
    left are mined with the rest of it once it is clipped, so they are chosen as an uninterrupted run chose."""
    return catalog.clips(batch_key=batch_key, status=status, video_status=VideoStatus.CLIPPED)


def record_chosen_frames(
    catalog: Catalog,
    rows: Sequence[Mapping[str, object]],
    *,
    run_id: str | None = None,
    detail: Mapping[str, object] | None = None,
) -> int:
    """Record frames chosen outside the mining selection (an experiment's fixed or random sets) and move their
    clips to `selected`, as `select_batch` does for the frames it chooses; returns the number of clips moved.

    Each row holds clip_id, frame, phash, reasons and budget_day (the columns of a selected frame)."""
    catalog.add_selected_frames([dict(row) for row in rows], run_id=run_id)
    clip_ids = sorted({str(row["clip_id"]) for row in rows})
    moved_detail = dict(detail) if detail else None
    return catalog.transition(clip_ids, ClipState.SELECTED, stage="select", run_id=run_id, detail=moved_detail)


def selection_pictures(catalog: Catalog, store: Store, batch_key: str) -> BatchPictures:
    """The batch's pictures for whoever shows the selection (the asset's metadata), drawn where missing; one that
    cannot be drawn (a full disk, say) is a warning, not a failure: derived pictures only, the next show draws it."""
    try:
        return shown_pictures(catalog, store, batch_key)
    except OSError as error:
        logger.warning("batch %s: its pictures were not drawn: %s", batch_key, error)
        return BatchPictures()
