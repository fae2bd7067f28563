"""The main job: everything new goes one step further (ingest, clip, mine, select, autolabel, push, pull).

Re-runnable at any time: each stage takes only the clips in the state it consumes, so a second run does only
what is new. Without a detector (a cold start) mining uses the image-level triggers and a diversity sample.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from data_engine.progress import Progress
from data_engine.registry import detectors_in_use
from data_engine.runtime import Runtime, compute_backend
from data_engine.stages.annotate import pull_reviews, push_ready
from data_engine.stages.autolabel import autolabel
from data_engine.stages.ingest import failures_waiting, ingest
from data_engine.stages.mine import mine


@dataclass
class MainJobSummary:
    """What one run of the main job did, and the engine's state after it."""

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


def run_main_job(runtime: Runtime, paths: Sequence[str] = (), progress: Progress | None = None) -> MainJobSummary:
    """Ingest the inbox (and `paths`), then take every batch with new clips through mining and autolabelling."""
    settings, catalog, store = runtime.settings, runtime.catalog, runtime.store
    summary = MainJobSummary()
    # detectors load first: a bad model file is one error before any work, not a failure after ingest
    detectors = detectors_in_use(catalog, store, settings)

    ingested = ingest(catalog, store, settings, paths, origin="main-job", progress=progress)
    summary.new_batches = ingested.new_batches
    if ingested.look.unsettled:
        summary.notes.append(f"{len(ingested.look.unsettled)} file(s) still being written: left for the next run")
    summary.notes += [f"skipped {uri}: {reason}" for uri, reason in ingested.look.skipped]
    for report in ingested.batches:
        summary.videos_ingested += len(report.clipped)
        summary.quarantined.update({", ".join(v.sources): v.error or "" for v in report.quarantined})
        summary.failed.update({", ".join(v.sources): v.error or "" for v in report.failed})
    summary.notes += failures_waiting(catalog)
    summary.cold_start = not detectors
    if detectors:
        summary.model_in_use = ", ".join(detector.model_id for detector in detectors)
    # one backend for mining and autolabelling: its pool workers keep the detectors mining loaded
    with compute_backend(settings) as backend:
        mined = mine(catalog, store, settings, detectors, progress=progress, backend=backend)
        summary.hits_per_trigger = mined.hits_per_trigger
        summary.frames_selected = mined.frames_selected
        if detectors:
            summary.clips_autolabelled = autolabel(catalog, store, detectors, progress=progress, backend=backend).clips

    if not detectors:
        summary.notes.append(
            "cold start: no detector configured, so frames were chosen by image-level triggers and a diversity "
            "sample and go to annotators without pre-annotations"
        )

    # push_ready also finishes pushes a dead process left unfinished, so it runs even when nothing new is ready
    pushed = push_ready(catalog, store, settings, cold_start=not detectors, progress=progress)
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
