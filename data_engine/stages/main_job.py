"""The main job: everything new goes one step further (ingest, clip, mine, select, autolabel, push, pull).

Re-runnable at any time: each stage takes only the clips in the state it consumes, so a second run does only
what is new. Without a detector (a cold start) mining uses the image-level triggers and a diversity sample.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from data_engine.catalog import ClipState
from data_engine.compute import backend_from_settings
from data_engine.inbox import file_entries, look_at_inbox, scan_inbox
from data_engine.runtime import Runtime
from data_engine.stages.annotate import (
    backend_name,
    clips_ready_to_push,
    pull_reviews,
    push_selected,
    trigger_yields,
)
from data_engine.stages.autolabel import AutolabelReport, autolabel_clips
from data_engine.stages.ingest import ingest_batch
from data_engine.stages.mine import MiningConfig, compute_batch_features, mine_batch_triggers, select_batch
from data_engine.stages.train import detectors_in_use

StageProgress = Callable[[str, int], Callable[[str], None]]
"""`progress(stage description, total)` returns the function to call with each finished item's id."""


@dataclass
class MainJobSummary:
    """What one run of the main job did, and the engine's state after it."""

    new_batches: list[str] = field(default_factory=list)
    videos_ingested: int = 0
    quarantined: dict[str, str] = field(default_factory=dict)
    hits_per_trigger: dict[str, int] = field(default_factory=dict)
    frames_selected: int = 0
    clips_autolabelled: int = 0
    tasks_pushed: int = 0
    pushed_to: str = ""
    frames_reviewed: int = 0
    cold_start: bool = True
    model_in_use: str = "none (cold start)"
    notes: list[str] = field(default_factory=list)


def run_main_job(runtime: Runtime, paths: Sequence[str] = (), progress: StageProgress | None = None) -> MainJobSummary:
    """Ingest the inbox (and `paths`), then take every batch with new clips through mining and autolabelling."""
    settings, catalog, store = runtime.settings, runtime.catalog, runtime.store
    summary = MainJobSummary()
    tick = progress or (lambda _description, _total: lambda _item: None)

    entries = {entry.uri: entry for entry in [*scan_inbox(settings.inbox), *file_entries(paths)]}.values()
    look = look_at_inbox(
        catalog, entries, {}, settle_seconds=settings.settle_seconds, batch_max_videos=settings.batch_max_videos
    )
    for plan in look.batches:
        catalog.create_batch(plan.key, "main-job", plan.items)
        summary.new_batches.append(plan.key)
    if look.unsettled:
        summary.notes.append(f"{len(look.unsettled)} file(s) still being written: left for the next run")
    for batch_key in catalog.incomplete_batches():
        videos = {item.content_hash for item in catalog.batch_items(batch_key)}
        step = tick(f"ingest {batch_key}", len(videos))
        report = ingest_batch(catalog, store, batch_key, clip_seconds=settings.clip_seconds, progress=step)
        summary.videos_ingested += len(report.clipped)
        summary.quarantined.update({", ".join(v.sources): v.error or "" for v in report.quarantined})

    detectors = detectors_in_use(catalog, store, settings)
    summary.cold_start = not detectors
    if detectors:
        summary.model_in_use = ", ".join(detector.model_id for detector in detectors)
    config = MiningConfig(budget_per_day=settings.budget_per_day, yields=trigger_yields(catalog, store) or None)
    hits: dict[str, int] = {}
    with backend_from_settings(settings.compute, settings.workers, settings.dask_address) as backend:
        for batch_key in catalog.batch_keys():
            pending = catalog.clips(batch_key=batch_key, status=ClipState.EXTRACTED)
            if not pending:
                continue
            step = tick(f"mine {batch_key}", len(pending))
            compute_batch_features(catalog, store, batch_key, backend)
            mined = mine_batch_triggers(
                catalog, store, batch_key, detectors, config=config, progress=step, backend=backend
            )
            for trigger, count in mined.per_trigger.items():
                hits[trigger] = hits.get(trigger, 0) + count
            selected = select_batch(catalog, store, batch_key, config=config, cold_start=not detectors)
            summary.frames_selected += selected.selected
        summary.hits_per_trigger = hits
        if detectors:  # on the same backend: pool workers keep the detectors mining loaded
            to_label = catalog.clips(status=ClipState.SELECTED)
            step = tick("autolabel", len(to_label))
            labelled: AutolabelReport = autolabel_clips(
                catalog, store, detectors, to_label, progress=step, backend=backend
            )
            summary.clips_autolabelled = labelled.clips

    if not detectors:
        summary.notes.append(
            "cold start: no detector configured, so frames were chosen by image-level triggers and a diversity "
            "sample and go to annotators without pre-annotations"
        )

    backend = backend_name(settings)
    ready = clips_ready_to_push(catalog, cold_start=not detectors)
    if ready:
        step = tick(f"push to {backend}", len(ready))
        pushed = push_selected(catalog, store, settings, ready, backend=backend)
        step(pushed.run_id or "")
        summary.tasks_pushed, summary.pushed_to = pushed.frames, pushed.project_url
    if backend == "labelstudio":
        summary.frames_reviewed = pull_reviews(catalog, store, settings).frames_reviewed
    return summary
