"""The engine measured on real footage with labels made by people (MOTChallenge ground truth).

The configured detectors run over the video as the autolabel stage runs them (`autolabel_clip`: streamed
detection, then hindsight tracking, gap filling and fusion). Scored against the ground truth (`scoring`):

- detection, per label source: each model's raw boxes ("raw MODEL", counted from the operating threshold), the
  hindsight labels, and "bytetrack": Ultralytics' BYTETracker on the first model's raw boxes with gaps of up to
  20 frames interpolated (`bytetrack`), the tracker a user would pick instead; or a result file ("predictions");
- tracking, per tracked source: hindsight and bytetrack;
- selection and triggers (`selection_lift`): the first model's raw boxes at its operating threshold (the score its
  authors threshold at, `detectors.base.operating_threshold`: YOLOX 0.3, FastestDet 0.65, Ultralytics 0.25) give
  each frame's errors (missed plus false boxes), and the mining stage's triggers and selection run on the same
  frames and detections as mining runs them (at the models' operating thresholds, on the frames
  `MiningConfig.trigger_every` gives, the second model as the reference).

Several sequences give one report each and one pooled over all: the per-frame counts of all of them together.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_engine.autolabel import HindsightParams, autolabel_clip
from data_engine.detections import Detections
from data_engine.detectors import Detector
from data_engine.detectors.base import operating_threshold
from data_engine.evaluation.bytetrack import bytetrack
from data_engine.evaluation.footage_report import EvaluationReport, FootageReport
from data_engine.evaluation.mot import MotTable, read_mot
from data_engine.evaluation.scoring import (
    Frame,
    concatenate,
    detection_scores,
    frame_error_counts,
    prepare,
    tracking_scores,
)
from data_engine.evaluation.selection_lift import (
    BUDGETS,
    SequenceChoices,
    budget_frames,
    engine_choice,
    flagged_frames,
    selection_figures,
    trigger_figures,
)
from data_engine.evaluation.sequences import FootageError, count_frames, frames_video, locate
from data_engine.mining.config import MiningConfig
from data_engine.mining.features import compute_features
from data_engine.mining.frame_ranking import margin_uncertainty
from data_engine.mining.model_triggers import operating_configs
from data_engine.mining.triggers import run_triggers, triggers_for

Progress = Callable[[str], None]
TRACKED = ("hindsight", "bytetrack", "predictions")
__all__ = [
    "EvaluationReport",
    "FootageError",
    "FootageReport",
    "FootageScoring",
    "evaluate_footage",
    "evaluate_sequences",
]


@dataclass(frozen=True)
class FootageScoring:
    """How footage is scored, the same for one sequence or many: the detectors' class compared with the ground
    truth, the confidence raw boxes count from, the least visibility of a ground-truth box that counts, and the
    hindsight parameters (default: the autolabel stage's)."""

    class_name: str = "person"
    threshold: float = 0.25
    min_visibility: float = 0.0
    params: HindsightParams | None = None


@dataclass(frozen=True)
class _Measured:
    """One sequence's prepared frames per label source and its selection inputs, before any figure is pooled."""

    source: str
    ground_truth: str
    evaluated_class: str
    frames: dict[str, list[Frame]]
    thresholds: dict[str, float]
    errors_source: str
    choices: SequenceChoices | None
    notes: tuple[str, ...]


def _class_ids(names: Mapping[int, str], wanted: str) -> set[int]:
    ids = {class_id for class_id, name in names.items() if name == wanted}
    if not ids:
        raise FootageError(
            f"the detectors have no class {wanted!r} (their classes: {', '.join(sorted(names.values()))}); "
            f"give the one that matches the ground truth with --class"
        )
    return ids


def _only(found: Detections | None, ids: set[int]) -> Detections | None:
    return None if found is None else found[np.isin(found.class_id, sorted(ids))]


def table_detections(table: MotTable, frame_count: int) -> list[Detections | None]:
    """A MOTChallenge result file as per-frame boxes (confidences outside 0..1, e.g. -1, count as 1)."""
    confidence = np.where((table.confidence >= 0) & (table.confidence <= 1), table.confidence, 1.0)
    frames: list[Detections | None] = []
    for frame in range(1, frame_count + 1):
        rows = table.rows_at(frame)
        frames.append(
            Detections(table.xyxy[rows], confidence[rows], np.zeros(len(rows), np.int64), table.track_id[rows])
        )
    return frames


def evaluate_footage(
    source: str | Path | None,
    ground_truth: str | Path | None,
    *,
    detectors: Sequence[Detector] = (),
    predictions: str | Path | None = None,
    scoring: FootageScoring = FootageScoring(),
    progress: Progress | None = None,
) -> FootageReport:
    """Score the detectors' raw boxes, hindsight labels and bytetrack's tracks (or a result file) against
    MOTChallenge ground truth, with the selection's and the triggers' lift."""
    measured = _measure(source, ground_truth, detectors, predictions, scoring, progress)
    return _report([measured], measured.source, measured.ground_truth)


def evaluate_sequences(
    sources: Sequence[str | Path],
    *,
    detectors: Sequence[Detector] = (),
    scoring: FootageScoring = FootageScoring(),
    progress: Progress | None = None,
) -> EvaluationReport:
    """`evaluate_footage` on each sequence (its own gt/gt.txt), and the figures pooled over all of them."""
    if not sources:
        raise FootageError("give at least one sequence folder (or video, or frame folder with --gt)")
    measured = [_measure(source, None, detectors, None, scoring, progress) for source in sources]
    reports = tuple(_report([one], one.source, one.ground_truth) for one in measured)
    if len(measured) == 1:
        return EvaluationReport(reports, reports[0])
    pooled = _report(measured, f"pooled ({len(measured)} sequences)", "each sequence's")
    return EvaluationReport(reports, pooled)


def _measure(
    source: str | Path | None,
    ground_truth: str | Path | None,
    detectors: Sequence[Detector],
    predictions: str | Path | None,
    scoring: FootageScoring,
    progress: Progress | None,
) -> _Measured:
    say = progress or (lambda _message: None)
    sequence = locate(source, ground_truth)
    if sequence.ground_truth is None:
        raise FootageError(f"no ground truth: give --gt FILE (a sequence folder has it in gt/gt.txt): {source}")
    if predictions is None and not detectors:
        raise FootageError(
            "no detector configured and no champion in the registry: set DATA_ENGINE_DETECTORS, or score a result "
            "file with --predictions FILE"
        )
    if predictions is None and sequence.video is None:
        raise FootageError("running the detectors needs the footage: give a video, a frame folder or a sequence")
    notes: list[str] = []
    with contextlib.ExitStack() as stack:
        video = stack.enter_context(frames_video(sequence.video)) if sequence.video is not None else None
        frame_count = sequence.frame_count or (count_frames(video) if video is not None else None)
        gt = read_mot(sequence.ground_truth, frame_count)
        frame_count = frame_count or int(gt.frame.max())
        labels: dict[str, list[Detections | None]] = {}
        thresholds: dict[str, float] = {}
        trigger_input: tuple[list[Detections | None], list[Detections | None] | None]
        cuts: tuple[float, float | None] = (scoring.threshold, None)
        if predictions is not None:
            table = read_mot(predictions, frame_count, ground_truth=False)
            labels["predictions"] = table_detections(table, frame_count)
            thresholds["predictions"] = 0.0
            errors_source = "predictions"
            trigger_input = (labels["predictions"], None)
            errors_cut = 0.0
        else:
            assert video is not None
            say(f"detecting and autolabelling {frame_count} frames with {', '.join(d.model_id for d in detectors)}")
            result = autolabel_clip(video, detectors, scoring.params or HindsightParams())
            wanted = _class_ids(result.names, scoring.class_name)
            for model_id, raw in result.raw.items():
                labels[f"raw {model_id}"] = [_only(found, wanted) for found in raw]
                thresholds[f"raw {model_id}"] = scoring.threshold
            labels["hindsight"] = [_only(found, wanted) for found in result.frames]
            thresholds["hindsight"] = 0.0
            errors_source = f"raw {detectors[0].model_id}"
            say(f"tracking {errors_source}'s boxes with BYTETracker")
            labels["bytetrack"] = list(bytetrack(labels[errors_source]))
            thresholds["bytetrack"] = 0.0
            reference = result.raw[detectors[1].model_id] if len(detectors) > 1 else None
            trigger_input = (result.raw[detectors[0].model_id], reference)
            cuts = (operating_threshold(detectors[0]), operating_threshold(detectors[1]) if reference else None)
            errors_cut = cuts[0]
            notes.append(
                f"raw boxes count from confidence {scoring.threshold} (AP50 uses all); hindsight and bytetrack labels "
                f"all count; errors per frame and uncertainty: {errors_source}'s at its operating threshold {cuts[0]}"
            )
        prepared = {name: prepare(gt, frames, scoring.min_visibility) for name, frames in labels.items()}
        errors = frame_error_counts(prepared[errors_source], errors_cut)
        uncertainty = margin_uncertainty(labels[errors_source], cuts[0])
        engine: dict[float, np.ndarray] | None = None
        flagged: dict[str, np.ndarray] = {}
        if video is None:
            notes.append("no footage given, so no triggers were run (give the video or frames for the engine's lift)")
        else:
            say("running the triggers and the selection")
            features = compute_features(video)
            detections, reference_detections = _mining_input(*trigger_input)
            names = triggers_for(MiningConfig().triggers, detections is not None, reference_detections is not None)
            configs = operating_configs(names, *cuts)
            hits = run_triggers(features, detections, configs, names, reference_detections)
            engine = {share: engine_choice(hits, features, budget_frames(share, frame_count)) for share in BUDGETS}
            flagged = flagged_frames(hits, frame_count)
    evaluated = "pedestrian (MOT class 1)" if gt.has_classes else "every ground-truth box"
    return _Measured(
        source=str(source if source is not None else sequence.ground_truth),
        ground_truth=str(sequence.ground_truth),
        evaluated_class=evaluated + ("" if predictions is not None else f" vs the detectors' {scoring.class_name!r}"),
        frames=prepared,
        thresholds=thresholds,
        errors_source=errors_source,
        choices=SequenceChoices(errors, uncertainty, engine, flagged),
        notes=tuple(notes),
    )


def _mining_input(
    detections: Sequence[Detections | None], reference: Sequence[Detections | None] | None
) -> tuple[dict[int, Detections] | None, dict[int, Detections] | None]:
    """The detections the mining stage gives the triggers (`MiningConfig.trigger_every`) of the first model, and of
    the second as the reference."""
    every = MiningConfig().trigger_every

    def sampled(frames: Sequence[Detections | None]) -> dict[int, Detections]:
        return {index: found for index, found in enumerate(frames) if found is not None and index % every == 0}

    first = sampled(detections) or None
    return first, (sampled(reference) or None) if reference is not None and first is not None else None


def _report(measured: Sequence[_Measured], source: str, ground_truth: str) -> FootageReport:
    """The figures of the sequences' frames together (one sequence: its own)."""
    first = measured[0]
    names = [name for name in first.frames if all(name in one.frames for one in measured)]
    frames = {name: concatenate([one.frames[name] for one in measured]) for name in names}
    detection = {name: detection_scores(frames[name], first.thresholds[name]) for name in names}
    notes = [note for one in measured for note in one.notes if one is first or note not in first.notes]
    tracking = {}
    for name in names:
        if name not in TRACKED:
            continue
        if any((frame.ids < 0).any() for frame in frames[name]):
            notes.append(f"{name}: boxes without track ids, so no tracking scores")
            continue
        tracking[name] = tracking_scores(frames[name])
    choices = [one.choices for one in measured if one.choices is not None]
    complete = len(choices) == len(measured)
    return FootageReport(
        source=source,
        ground_truth=ground_truth,
        frames=len(frames[names[0]]),
        gt_boxes=sum(len(frame.gt_xyxy) for frame in frames[names[0]]),
        evaluated_class=first.evaluated_class,
        detection=detection,
        tracking=tracking,
        errors_source=first.errors_source,
        selection=selection_figures(choices) if complete else None,
        triggers=trigger_figures(choices) if complete else (),
        notes=tuple(dict.fromkeys(notes)),
    )
