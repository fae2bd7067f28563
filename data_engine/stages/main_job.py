"""The main job: everything new goes one step further, walking the declared pipeline (stages/pipeline.py) over
every batch with work waiting, then pulling reviews.

Re-runnable at any time: each stage takes only the clips in the state it consumes, so a second run does only
what is new. Without a detector (a cold start) mining uses the image-level triggers and a diversity sample.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data_engine.catalog import ClipState
from data_engine.context import StageContext
from data_engine.progress import Progress
from data_engine.registry import detectors_in_use
from data_engine.runtime import Runtime, compute_backend
from data_engine.stages.annotate import pull_reviews
from data_engine.stages.ingest import failures_waiting, ingest
from data_engine.stages.pipeline import (
    AUTOLABEL,
    CLIP,
    CLIP_STEPS,
    INGEST_STEPS,
    PUSH,
    SELECTION,
    TRIGGERS,
    BatchWalk,
    walk_batch,
)

WAITING = (ClipState.EXTRACTED, ClipState.MINED, ClipState.SELECTED)
"""Clip states a per-batch step after clipping consumes: a batch with a clip in one of them has work waiting."""


@dataclass
class MainJobSummary:
    """What one run of the main job did, and the engine's state after it; `steps`: the pipeline's steps it ran,
    in order."""

    new_batches: list[str] = field(default_factory=list)
    videos_ingested: int = 0
    quarantined: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    hits_per_trigger: dict[str, int] = field(default_factory=dict)
    frames_selected: int = 0
    clips_autolabelled: int = 0
    tasks_pushed: int = 0
    pushed_to: str = ""
    report_pages: list[Path] = field(default_factory=list)
    frames_reviewed: int = 0
    cold_start: bool = True
    model_in_use: str = "none (cold start)"
    notes: list[str] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)


def run_main_job(runtime: Runtime, paths: Sequence[str] = (), progress: Progress | None = None) -> MainJobSummary:
    """Record the inbox's (and `paths`') new videos as batches, walk the pipeline over every batch with work
    waiting, push what is ready and pull reviews."""
    settings, catalog, store = runtime.settings, runtime.catalog, runtime.store
    summary = MainJobSummary()
    # detectors load first: a bad model file is one error before any work, not a failure after ingest
    detectors = detectors_in_use(catalog, store, settings)
    recorded = ingest(catalog, None, settings, paths, origin="main-job", progress=progress)
    summary.new_batches = recorded.new_batches
    if recorded.look.unsettled:
        summary.notes.append(f"{len(recorded.look.unsettled)} file(s) still being written: left for the next run")
    summary.notes += [f"skipped {uri}: {reason}" for uri, reason in recorded.look.skipped]
    summary.cold_start = not detectors
    if detectors:
        summary.model_in_use = ", ".join(detector.model_id for detector in detectors)
    # one backend for the whole walk: its pool workers keep the detectors mining loaded for autolabelling
    with compute_backend(settings) as backend:
        context = StageContext(catalog, store, settings, backend, detectors, progress=progress)
        for batch_key in recorded.pending:
            walked = walk_batch(context, batch_key, INGEST_STEPS)
            _note_steps(summary, walked)
            clipped = walked.report(CLIP)
            summary.videos_ingested += len(clipped.clipped)
            summary.quarantined.update({", ".join(v.sources): v.error or "" for v in clipped.quarantined})
            summary.failed.update({", ".join(v.sources): v.error or "" for v in clipped.failed})
        summary.notes += failures_waiting(catalog)
        hits: Counter[str] = Counter()
        for batch_key in _with_work(context):
            walked = walk_batch(context, batch_key, CLIP_STEPS)
            hits.update(walked.report(TRIGGERS).per_trigger)
            summary.frames_selected += walked.report(SELECTION).selected
            summary.clips_autolabelled += walked.report(AUTOLABEL).clips
            _note_steps(summary, walked)
        summary.hits_per_trigger = dict(hits)
        # the push also finishes pushes a dead process left unfinished, so it runs even when nothing new is ready
        pushed = PUSH.run(context)
    summary.steps.append(PUSH.name)
    if not detectors:
        summary.notes.append(
            "cold start: no detector configured, so frames were chosen by image-level triggers and a diversity "
            "sample and go to annotators without pre-annotations"
        )
    summary.tasks_pushed, summary.pushed_to = pushed.frames, pushed.project_url
    summary.report_pages = pushed.report_pages
    summary.notes += [
        f"run {again.run_id} closed ({again.reason}); {again.frames} frames pushed again as run {again.new_run_id}"
        for again in pushed.again
    ]
    pulled = pull_reviews(catalog, store, settings)
    summary.frames_reviewed = pulled.frames_reviewed
    summary.notes += [
        f"run {lost} is lost ({reason}): the next run pushes it again" for lost, reason in pulled.lost.items()
    ]
    return summary


def _with_work(context: StageContext) -> list[str]:
    """The batches with clips a step after clipping consumes (new clips, or ones a crash or yesterday's spent
    budget left part way)."""
    catalog = context.catalog
    return [key for key in catalog.batch_keys() if any(catalog.clips(batch_key=key, status=state) for state in WAITING)]


def _note_steps(summary: MainJobSummary, walked: BatchWalk) -> None:
    summary.steps += [name for name in walked.reports if name not in summary.steps]
