"""The pipeline declared once: the steps that take new videos to annotators, in order, each with its stage call.

`data-engine run` (stages/main_job.py), the Dagster job `process_new_videos` (one asset per step, named as the
step, each depending on the one before) and the proving ground walk this declaration, so the three cannot drift
apart. Per-batch steps run for one ingest batch (a Dagster partition); the push step ends every walk and works
on whatever is ready in the whole catalog.

Every step runs with one `StageContext`: what it `needs` of it beyond the catalog, the store and the settings
(the compute backend, the detectors) is declared, so a caller opens a backend or loads models only for the steps
that use them.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, cast

from data_engine.context import StageContext
from data_engine.reports.restore import redraw_lost_plots
from data_engine.stages.annotate import PushReport, push_ready
from data_engine.stages.autolabel import AutolabelReport, autolabel, restore_boxes_tables
from data_engine.stages.ingest import clip_batch, register_batch
from data_engine.stages.mine import (
    SelectionReport,
    compute_batch_features,
    mine_batch_triggers,
    select_batch,
    selection_pictures,
)

Need = Literal["backend", "detectors"]
Report = TypeVar("Report")


@dataclass(frozen=True)
class BatchStep(Generic[Report]):
    """One step of an ingest batch: `name` (its Dagster asset), the stage call, what of the context it needs and
    what it records."""

    name: str
    run: Callable[[StageContext, str], Report]
    needs: frozenset[Need]
    records: str


@dataclass(frozen=True)
class CatalogStep(Generic[Report]):
    """A step over the whole catalog (not one batch): it ends every walk of the pipeline."""

    name: str
    run: Callable[[StageContext], Report]
    needs: frozenset[Need]
    records: str


def _select(context: StageContext, batch_key: str) -> SelectionReport:
    """The selection, with the batch's pictures drawn for whoever shows it (the asset's metadata in the UI)."""
    report = select_batch(context, batch_key)
    report.pictures = selection_pictures(context.catalog, context.store, batch_key)
    return report


def _autolabel(context: StageContext, batch_key: str) -> AutolabelReport:
    return autolabel(context, batch_key=batch_key)


def _push(context: StageContext) -> PushReport:
    """Re-create the derived files any batch lost (its timelines, summary, page and boxes table), then push what
    is ready: the push ends every walk, so a lost file comes back under Dagster as under `data-engine run`."""
    batch_keys = context.catalog.batch_keys()
    redraw_lost_plots(context.catalog, context.store, batch_keys)
    restore_boxes_tables(context.catalog, context.store, batch_keys)
    return push_ready(context)


_MODEL_WORK: frozenset[Need] = frozenset({"backend", "detectors"})
"""What a step that runs the detectors over clips needs: the detectors, and the backend their jobs run on."""

REGISTER = BatchStep("registered_videos", register_batch, frozenset(), "videos registered (or quarantined, with why)")
CLIP = BatchStep("video_clips", clip_batch, frozenset(), "clips of each registered video, `extracted`")
FEATURES = BatchStep(
    "frame_features", compute_batch_features, frozenset({"backend"}), "frame features beside each clip"
)
TRIGGERS = BatchStep("trigger_hits", mine_batch_triggers, _MODEL_WORK, "trigger hits and stored detections, `mined`")
SELECTION = BatchStep(
    "annotation_selection", _select, frozenset({"detectors"}), "frames selected under the budget, `selected`"
)
AUTOLABEL = BatchStep(
    "autolabels", _autolabel, _MODEL_WORK, "a label-file version per clip and the batch's boxes table, `autolabelled`"
)
PUSH = CatalogStep("annotation_tasks", _push, frozenset({"detectors"}), "tasks on the annotation platform, `pushed`")

INGEST_STEPS: tuple[BatchStep[Any], ...] = (REGISTER, CLIP)
"""The steps that bring a batch's videos in as clips."""
CLIP_STEPS: tuple[BatchStep[Any], ...] = (FEATURES, TRIGGERS, SELECTION, AUTOLABEL)
"""The steps that take a batch's clips from `extracted` to `autolabelled`."""
BATCH_STEPS = INGEST_STEPS + CLIP_STEPS
"""The per-batch steps in the order they run."""
PIPELINE: tuple[str, ...] = (*(step.name for step in BATCH_STEPS), PUSH.name)
"""Every step's name in order: the assets of `process_new_videos` and what `data-engine run` walks."""


@dataclass
class BatchWalk:
    """What the steps walked over one batch reported, by step; `report(STEP)` is typed by the step."""

    batch_key: str
    reports: dict[str, object] = field(default_factory=dict)

    def report(self, step: BatchStep[Report]) -> Report:
        return cast(Report, self.reports[step.name])


def walk_batch(context: StageContext, batch_key: str, steps: Sequence[BatchStep[Any]]) -> BatchWalk:
    """Run `steps` (in the declared order) over one batch."""
    walked = BatchWalk(batch_key)
    for step in steps:
        walked.reports[step.name] = step.run(context, batch_key)
    return walked
