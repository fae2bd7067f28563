"""Precision and recall of the triggers on the proving ground (synthetic videos with injected events and truth).

Image-level triggers: a hit is correct when it overlaps an injected event of the type its trigger looks for; an
event is found when a hit of that trigger overlaps it. Triggers with no matching event type (cuts, glitches: the
proving ground has none) are scored by their false hits only: every hit of theirs is a false alarm there.

Model-level triggers: a hit is correct when the model is actually wrong there, against the truth at IoU 0.5
(class-aware Hungarian matching of the boxes at the operating threshold): a truth object without a box (missed) or
a box without a truth object (extra, look-alike distractors included). Hits that name a box (details x1..y2) must
have such an error overlapping that box (IoU >= 0.3) on one of their frames ("object-level"); the others (count
oscillation, disagreement) any error on one of their frames ("frame-level"). Truth is amodal by default
(`min_visibility` 0): an object hidden by an occluder is still there, and a track that breaks across the occlusion
is a labelling error (lost identity, missing box) a human must fix. With `min_visibility` > 0 hidden objects are
"don't care". Recall of detection flicker is over the injected full occlusions the model's track breaks on: the
object is detected (IoU >= 0.5, any class) on at least 2 of the 4 sampled frames before the occlusion and of the 4
after, and missed on at least one sampled frame of it; found when a detection_flicker hit overlaps the occlusion.

Run through the CLI: `data-engine proving-ground --triggers --seeds 4 --seconds 20` (model-level triggers with the
configured detectors, DATA_ENGINE_DETECTORS: the first is the fast model, a second one the reference).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from data_engine.detections import box_iou, match_boxes
from data_engine.detectors.base import Detector
from data_engine.mining.features import compute_features
from data_engine.mining.model_triggers import detect_models_for_mining
from data_engine.mining.triggers import FrameDetections, Hit, registered_triggers, run_triggers, trigger_spec
from data_engine.synthetic import GroundTruth, generate

EVENT_TYPE_OF_TRIGGER: Mapping[str, str] = {"flicker": "flicker", "frozen": "static"}
"""The injected event type each trigger should find (the videos are rendered with a stuck camera, so a static
stretch is a repeated picture)."""


class EventLike(Protocol):
    @property
    def type(self) -> str: ...

    @property
    def first_frame(self) -> int: ...

    @property
    def last_frame(self) -> int: ...


class _HitRates:
    """`precision` (correct hits of all hits) and `recall` (events found of all events) of a trigger's counts; NaN
    when undefined (0/0)."""

    __slots__ = ()
    hits: int
    correct_hits: int
    events: int
    found_events: int

    @property
    def precision(self) -> float:
        return self.correct_hits / self.hits if self.hits else math.nan

    @property
    def recall(self) -> float:
        return self.found_events / self.events if self.events else math.nan


@dataclass(frozen=True, slots=True)
class TriggerEvaluation(_HitRates):
    """Counts of one trigger over one or more videos; `precision` / `recall` are NaN when undefined (0/0)."""

    trigger: str
    event_type: str | None
    hits: int
    correct_hits: int
    events: int
    found_events: int
    seconds: float

    @property
    def false_hits_per_minute(self) -> float:
        return 60.0 * (self.hits - self.correct_hits) / self.seconds if self.seconds else math.nan

    def __add__(self, other: TriggerEvaluation) -> TriggerEvaluation:
        return TriggerEvaluation(
            self.trigger,
            self.event_type,
            self.hits + other.hits,
            self.correct_hits + other.correct_hits,
            self.events + other.events,
            self.found_events + other.found_events,
            self.seconds + other.seconds,
        )


def evaluate_hits(
    hits: Sequence[Hit],
    events: Sequence[EventLike],
    seconds: float,
    triggers: Sequence[str] | None = None,
) -> dict[str, TriggerEvaluation]:
    """Score the hits of one video against its injected events, per trigger (default: all registered)."""
    scores = {}
    for trigger in image_triggers() if triggers is None else triggers:
        event_type = EVENT_TYPE_OF_TRIGGER.get(trigger)
        own_hits = [hit for hit in hits if hit.trigger == trigger]
        targets = [event for event in events if event.type == event_type]
        scores[trigger] = TriggerEvaluation(
            trigger=trigger,
            event_type=event_type,
            hits=len(own_hits),
            correct_hits=sum(any(_overlaps(hit, event) for event in targets) for hit in own_hits),
            events=len(targets),
            found_events=sum(any(_overlaps(hit, event) for hit in own_hits) for event in targets),
            seconds=seconds,
        )
    return scores


def image_triggers() -> list[str]:
    """The registered triggers that read features only."""
    return [name for name in registered_triggers() if trigger_spec(name).needs == "features"]


def combine(evaluations: Iterable[Mapping[str, TriggerEvaluation]]) -> dict[str, TriggerEvaluation]:
    """Sum per-video evaluations into one per trigger."""
    total: dict[str, TriggerEvaluation] = {}
    for evaluation in evaluations:
        for trigger, score in evaluation.items():
            total[trigger] = total[trigger] + score if trigger in total else score
    return total


def evaluate_proving_ground(
    seeds: Sequence[int],
    out_dir: str | Path,
    seconds: float = 20.0,
    size: tuple[int, int] = (320, 240),
    configs: Mapping[str, object] | None = None,
) -> dict[str, TriggerEvaluation]:
    """Generate one proving-ground video per seed into `out_dir`, mine it, and score every registered trigger."""
    per_video = []
    for seed in seeds:
        video = generate(out_dir, seed, seconds=seconds, size=size, stuck_camera=True)
        truth = video.truth()
        hits = run_triggers(compute_features(video.video_path), configs=configs)
        per_video.append(evaluate_hits(hits, truth.events, truth.frame_count / truth.fps))
    return combine(per_video)


def format_table(evaluations: Mapping[str, TriggerEvaluation]) -> str:
    """A Markdown table of the evaluations."""
    lines = [
        "| trigger | event type | hits | correct | events | found | precision | recall | false hits/min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for score in evaluations.values():
        lines.append(
            f"| {score.trigger} | {score.event_type or '-'} | {score.hits} | {score.correct_hits} | {score.events} | "
            f"{score.found_events} | {score.precision:.2f} | {score.recall:.2f} | {score.false_hits_per_minute:.2f} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class FrameErrors:
    """Where a model is wrong on one frame against the truth: boxes of missed objects and extra boxes."""

    missed: np.ndarray
    extra: np.ndarray

    @property
    def wrong(self) -> bool:
        return bool(len(self.missed) or len(self.extra))


def model_errors(
    detections: FrameDetections,
    truth: GroundTruth,
    threshold: float = 0.25,
    iou_threshold: float = 0.5,
    min_visibility: float = 0.0,
) -> dict[int, FrameErrors]:
    """Per sampled frame: truth objects without a box and boxes without a truth object (class-aware Hungarian
    matching, IoU >= `iou_threshold`, boxes at `threshold`). Objects less visible than `min_visibility` are "don't
    care": never missed, and a box on them is no extra."""
    errors = {}
    for frame, found in detections.items():
        predicted = found.with_min_confidence(threshold)
        boxes = truth.frames[frame]
        truth_xyxy = np.array([box.xyxy for box in boxes], dtype=np.float32).reshape(-1, 4)
        truth_class = np.array([box.class_id for box in boxes], dtype=np.int64)
        required = np.array([box.visibility >= min_visibility for box in boxes], dtype=bool)
        matched = match_boxes(predicted.xyxy, truth_xyxy, iou_threshold, predicted.class_id, truth_class)
        matched_truth = np.zeros(len(boxes), dtype=bool)
        matched_truth[matched.second] = True
        matched_predicted = np.zeros(len(predicted), dtype=bool)
        matched_predicted[matched.first] = True
        on_hidden = (box_iou(predicted.xyxy, truth_xyxy[~required]) >= iou_threshold).any(axis=1)
        extra = ~matched_predicted & ~on_hidden if (~required).any() else ~matched_predicted
        errors[int(frame)] = FrameErrors(truth_xyxy[required & ~matched_truth], predicted.xyxy[extra])
    return errors


@dataclass(frozen=True, slots=True)
class ModelTriggerEvaluation(_HitRates):
    """Counts of one model-level trigger over one or more videos.

    `correct_hits`: object-level where the hit names a box, else frame-level (see the module docstring);
    `frame_correct_hits`: frame-level for every hit; `either_wrong_hits`: hits with an error of the fast OR the
    reference model on one of their frames (disagreement). `wrong_frames / sampled_frames` is the base rate: the
    precision a trigger flagging frames at random would get at frame level. `events` / `found_events`: occlusions
    the model's track breaks on, and those a hit overlaps (detection flicker only)."""

    trigger: str
    hits: int
    correct_hits: int
    frame_correct_hits: int
    either_wrong_hits: int
    events: int
    found_events: int
    sampled_frames: int
    wrong_frames: int

    @property
    def frame_precision(self) -> float:
        return self.frame_correct_hits / self.hits if self.hits else math.nan

    @property
    def base_rate(self) -> float:
        return self.wrong_frames / self.sampled_frames if self.sampled_frames else math.nan

    def __add__(self, other: ModelTriggerEvaluation) -> ModelTriggerEvaluation:
        return ModelTriggerEvaluation(
            self.trigger,
            *(getattr(self, name) + getattr(other, name) for name in _MODEL_COUNTS),
        )


_MODEL_COUNTS = (
    "hits",
    "correct_hits",
    "frame_correct_hits",
    "either_wrong_hits",
    "events",
    "found_events",
    "sampled_frames",
    "wrong_frames",
)
_LOCATING_IOU = 0.3
_BREAK_CONTEXT = 4
_BREAK_SUPPORT = 2


def evaluate_model_hits(
    hits: Sequence[Hit],
    detections: FrameDetections,
    truth: GroundTruth,
    reference_detections: FrameDetections | None = None,
    threshold: float = 0.25,
    min_visibility: float = 0.0,
    triggers: Sequence[str] | None = None,
) -> dict[str, ModelTriggerEvaluation]:
    """Score the model-level hits of one video against its truth, per trigger (default: every registered trigger
    that reads detections, the two-model one only when `reference_detections` are given)."""
    errors = model_errors(detections, truth, threshold, min_visibility=min_visibility)
    reference_errors = (
        model_errors(reference_detections, truth, threshold, min_visibility=min_visibility)
        if reference_detections is not None
        else {}
    )
    sampled = np.array(sorted(errors), dtype=np.int64)
    wrong_frames = sum(error.wrong for error in errors.values())
    breaks = occlusion_breaks(detections, truth, threshold)
    if triggers is None:
        wanted = {"detections"} | ({"reference"} if reference_detections is not None else set())
        triggers = [name for name in registered_triggers() if trigger_spec(name).needs in wanted]
    scores = {}
    for trigger in triggers:
        own = [hit for hit in hits if hit.trigger == trigger]
        frames_of = [sampled[(sampled >= hit.first_frame) & (sampled <= hit.last_frame)] for hit in own]
        frame_wrong = [any(errors[int(f)].wrong for f in frames) for frames in frames_of]
        either = [
            wrong or any(int(f) in reference_errors and reference_errors[int(f)].wrong for f in frames)
            for wrong, frames in zip(frame_wrong, frames_of, strict=True)
        ]
        correct = [
            _wrong_about_box(hit, frames, errors) if "x1" in hit.details else wrong
            for hit, frames, wrong in zip(own, frames_of, frame_wrong, strict=True)
        ]
        flicker = trigger == "detection_flicker"
        scores[trigger] = ModelTriggerEvaluation(
            trigger=trigger,
            hits=len(own),
            correct_hits=sum(correct),
            frame_correct_hits=sum(frame_wrong),
            either_wrong_hits=sum(either),
            events=len(breaks) if flicker else 0,
            found_events=sum(any(_overlaps(hit, event) for hit in own) for event in breaks) if flicker else 0,
            sampled_frames=len(sampled),
            wrong_frames=wrong_frames,
        )
    return scores


def occlusion_breaks(detections: FrameDetections, truth: GroundTruth, threshold: float = 0.25) -> list[EventLike]:
    """The injected full occlusions the model's track breaks on (see the module docstring)."""
    sampled = np.array(sorted(detections), dtype=np.int64)
    broken: list[EventLike] = []
    for event in truth.events_of("full_occlusion"):

        def seen(frame: int, track_id: int = event.track_id) -> bool:
            box = next((b for b in truth.frames[frame] if b.track_id == track_id), None)
            predicted = detections[frame].with_min_confidence(threshold)
            return box is not None and bool((box_iou(predicted.xyxy, np.array([box.xyxy])) >= 0.5).any())

        before = sampled[sampled < event.first_frame][-_BREAK_CONTEXT:]
        after = sampled[sampled > event.last_frame][:_BREAK_CONTEXT]
        during = sampled[(sampled >= event.first_frame) & (sampled <= event.last_frame)]
        tracked = sum(map(seen, before)) >= _BREAK_SUPPORT and sum(map(seen, after)) >= _BREAK_SUPPORT
        if tracked and not all(map(seen, during)):
            broken.append(event)
    return broken


def _wrong_about_box(hit: Hit, frames: np.ndarray, errors: Mapping[int, FrameErrors]) -> bool:
    box = np.array([[hit.details[key] for key in ("x1", "y1", "x2", "y2")]], dtype=np.float32)
    for frame in frames:
        error = errors[int(frame)]
        for wrong_boxes in (error.missed, error.extra):
            if len(wrong_boxes) and (box_iou(box, wrong_boxes) >= _LOCATING_IOU).any():
                return True
    return False


def evaluate_models_on_proving_ground(
    seeds: Sequence[int],
    out_dir: str | Path,
    detector: Detector,
    reference: Detector | None = None,
    seconds: float = 10.0,
    every: int = 1,
    threshold: float = 0.25,
    min_visibility: float = 0.0,
) -> dict[str, ModelTriggerEvaluation]:
    """Generate one proving-ground video per seed, detect with `detector` (and `reference`), run the model-level
    triggers at `threshold` and score them against the truth. Run the detectors with a conf below `threshold`."""
    per_video = []
    for seed in seeds:
        video = generate(out_dir, seed, seconds=seconds)
        models = [detector] if reference is None else [detector, reference]
        per_model = detect_models_for_mining(video.video_path, models, every=every)
        fast = per_model[detector.model_id]
        accurate = None if reference is None else per_model[reference.model_id]
        names = [name for name in registered_triggers() if trigger_spec(name).needs != "features"]
        if reference is None:
            names = [name for name in names if trigger_spec(name).needs == "detections"]
        configs = {name: trigger_spec(name).config_type(threshold=threshold) for name in names}
        hits = run_triggers(None, fast, configs=configs, names=names, reference_detections=accurate)
        per_video.append(evaluate_model_hits(hits, fast, video.truth(), accurate, threshold, min_visibility))
    return combine_model(per_video)


def combine_model(evaluations: Iterable[Mapping[str, ModelTriggerEvaluation]]) -> dict[str, ModelTriggerEvaluation]:
    """Sum per-video model-level evaluations into one per trigger."""
    total: dict[str, ModelTriggerEvaluation] = {}
    for evaluation in evaluations:
        for trigger, score in evaluation.items():
            total[trigger] = total[trigger] + score if trigger in total else score
    return total


def format_model_table(evaluations: Mapping[str, ModelTriggerEvaluation]) -> str:
    """A Markdown table of model-level evaluations."""
    lines = [
        "| trigger | hits | precision | frame precision | either model wrong | base rate | breaks | found | recall |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for score in evaluations.values():
        either = score.either_wrong_hits / score.hits if score.hits else math.nan
        lines.append(
            f"| {score.trigger} | {score.hits} | {score.precision:.2f} | {score.frame_precision:.2f} | "
            f"{either:.2f} | {score.base_rate:.2f} | {score.events} | {score.found_events} | {score.recall:.2f} |"
        )
    return "\n".join(lines)


def _overlaps(hit: Hit, event: EventLike) -> bool:
    return hit.first_frame <= event.last_frame and event.first_frame <= hit.last_frame
