"""Model-level triggers: frames where the fast detector is probably wrong, judged from its own detections over time
and from a second model's detections on the same frames.

Inputs (see `data_engine.mining.triggers`):

- `detections`: `Mapping[int, Detections]`, frame index -> boxes of the fast model on the sampled frames (frames
  missing from the mapping were not run). `detect_for_mining(clip, detector, every=n)` produces it. Run the
  detector with a confidence floor below the operating `threshold` of the configs (e.g. conf 0.05 for a threshold
  of 0.25): boxes under the threshold count as "not detected", but confidence oscillation and tracking see them.
- `reference_detections`: the same kind of mapping from a second model (usually larger and more accurate) on the
  same frames, for `model_disagreement`: `run_triggers(features, fast, reference_detections=accurate)`. Its
  classes must be the fast model's (same `names`), or `DisagreementConfig.class_map` must map its class names onto
  the fast model's; otherwise a `TriggerError` says so.

Tracks come from the autolabelling tracker (`link_tracks`: offline IoU tracking with constant-velocity prediction,
class-agnostic). Hits carry the box concerned (`x1`, `y1`, `x2`, `y2`, pixels) and its `track` in their details
where there is one, so that an annotation tool (and the evaluation) can point at the object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from data_engine.autolabel.hindsight import HindsightParams, link_tracks, suppress_duplicates
from data_engine.autolabel.stream import StreamedDetections, detect_stream
from data_engine.detections import Detections, box_iou, match_boxes
from data_engine.detectors.base import Detector
from data_engine.mining.features import DEFAULT_DUPLICATE_DISTANCE, FrameFeatures
from data_engine.mining.frame_ranking import frame_hashes, top_frames
from data_engine.mining.triggers import (
    FrameDetections,
    Hit,
    HitDetails,
    PositiveConfig,
    TriggerError,
    mask_runs,
    register_trigger,
    trigger_spec,
)

DETECTION_TRIGGERS: tuple[str, ...] = (
    "hindsight_disagreement",
    "detection_flicker",
    "class_flip",
    "box_jump",
    "count_oscillation",
    "confidence_oscillation",
    "model_disagreement",
)


def detect_for_mining(
    clip_path: str | Path,
    detector: Detector,
    every: int = 1,
    batch: int = 16,
    progress: Callable[[int], None] | None = None,
) -> dict[int, Detections]:
    """Per-frame detections of `detector` on every `every`-th frame of the clip (streaming, decoding in parallel)."""
    return detect_models_for_mining(clip_path, [detector], every, batch, progress)[detector.model_id]


def detect_models_for_mining(
    clip_path: str | Path,
    detectors: Sequence[Detector],
    every: int = 1,
    batch: int = 16,
    progress: Callable[[int], None] | None = None,
) -> dict[str, dict[int, Detections]]:
    """Model id -> per-frame detections of each detector on the same sampled frames, decoding the clip once."""
    return sampled_detections(detect_stream(clip_path, detectors, every=every, batch=batch, progress=progress))


def sampled_detections(streamed: StreamedDetections) -> dict[str, dict[int, Detections]]:
    """Model id -> frame index -> detections, for the frames the stream processed (the triggers' input)."""
    return {
        model_id: {index: found for index, found in enumerate(frames) if found is not None}
        for model_id, frames in streamed.per_model.items()
    }


@dataclass(frozen=True, slots=True)
class TrackingConfig(PositiveConfig):
    """Tracking shared by the track-based triggers. `threshold`: the operating confidence (boxes below it count as
    not detected); `iou_match`: least IoU between a track's predicted box and a detection to extend it; `max_gap`:
    most consecutive sampled frames a track may miss and still continue."""

    threshold: float = 0.25
    iou_match: float = 0.3
    max_gap: int = 8


@dataclass(frozen=True, slots=True)
class DetectionFlickerConfig(TrackingConfig):
    """An object tracked (at the operating threshold) before and after a sampled frame but missing there, with at
    least `min_support` observations on each side; or a track that lives for at most `max_blip_frames` sampled
    frames away from the clip's ends."""

    min_support: int = 2
    max_blip_frames: int = 2


@dataclass(frozen=True, slots=True)
class ClassFlipConfig(TrackingConfig):
    """A track whose class changes between consecutive observations; tracks shorter than `min_track_frames`
    observations are ignored (blips are the flicker trigger's)."""

    min_track_frames: int = 3


@dataclass(frozen=True, slots=True)
class BoxJumpConfig(TrackingConfig):
    """A box that lands far from where its track's motion predicts: IoU with the constant-velocity prediction below
    `max_iou`. Linked with the looser `iou_match` so that jumps stay on their track."""

    iou_match: float = 0.15
    max_iou: float = 0.55
    min_track_frames: int = 3


@dataclass(frozen=True, slots=True)
class CountOscillationConfig(PositiveConfig):
    """The number of boxes at the operating threshold goes up and down (or down and up) on consecutive sampled
    frames at least `min_reversals` times with at most `window` sampled frames between reversals."""

    threshold: float = 0.25
    min_reversals: int = 2
    window: int = 6


@dataclass(frozen=True, slots=True)
class ConfidenceOscillationConfig(TrackingConfig):
    """A track whose confidence crosses the operating threshold at least `min_crossings` times with at most
    `window` sampled frames between crossings (a missed frame inside the track counts as below). `margin`:
    a crossing must go from below `threshold - margin` to at least `threshold`, or back (no hair-line wobbles)."""

    min_crossings: int = 3
    window: int = 8
    margin: float = 0.05


@dataclass(frozen=True, slots=True)
class DisagreementConfig:
    """Two models on the same frames: boxes (the fast model's at `threshold`, the reference's at
    `reference_threshold`, default the same) matched by IoU (Hungarian, least IoU
    `iou_match`, class-agnostic); a match of different classes counts as a disagreement. Frame score = 1 - F1 of the
    agreeing matches. The clip's frames scoring at least `min_score` are ranked and only the best `share` of them
    is flagged, one hit per frame (`frame_ranking.top_frames`: flags over whole stretches found no more mistakes
    than chance on real footage).

    `class_map`: reference class name -> fast model class name, when the models were trained with other class
    lists (names not in the map are taken as they are; reference classes the fast model lacks are dropped)."""

    threshold: float = 0.25
    iou_match: float = 0.5
    min_score: float = 0.1
    share: float = 0.05
    reference_threshold: float | None = None
    class_map: Mapping[str, str] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        for name in ("threshold", "iou_match", "min_score", "share", "reference_threshold"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value <= 1.0:
                raise TriggerError(f"DisagreementConfig.{name} must lie in (0, 1], got {value}")

    @property
    def reference_cut(self) -> float:
        """The reference model's operating threshold (default: the fast model's)."""
        return self.threshold if self.reference_threshold is None else self.reference_threshold


@dataclass(frozen=True, slots=True)
class _Observation:
    frame: int
    box: np.ndarray
    score: float
    class_id: int


def operating_configs(
    names: Sequence[str], threshold: float, reference_threshold: float | None = None
) -> dict[str, object]:
    """Default configs of the named model-level triggers at the models' own operating thresholds (the score each
    model's authors threshold its boxes at, `detectors.base.operating_threshold`); other triggers keep theirs."""
    configs: dict[str, object] = {}
    for name in names:
        config_type = trigger_spec(name).config_type
        parameters = {parameter.name for parameter in fields(config_type)}
        if trigger_spec(name).needs == "features" or "threshold" not in parameters:
            continue
        extra = {"reference_threshold": reference_threshold} if "reference_threshold" in parameters else {}
        configs[name] = config_type(threshold=threshold, **extra)
    return configs


def _sampled_frames(detections: FrameDetections) -> np.ndarray:
    return np.array(sorted(int(frame) for frame in detections), dtype=np.int64)


def _tracks(detections: FrameDetections, config: TrackingConfig, keep_unsure: bool) -> list[list[_Observation]]:
    """Tracks over the sampled frames (class-agnostic NMS first). Without `keep_unsure` only boxes at the operating
    threshold exist; with it, unsure boxes may extend tracks (never start one)."""
    frames = _sampled_frames(detections)
    if not len(frames):
        return []
    stride = int(np.min(np.diff(frames))) if len(frames) > 1 else 1
    per_frame: list[Detections | None] = [None] * (int(frames[-1]) + 1)
    for frame in frames:
        found = detections[int(frame)]
        if not keep_unsure:
            found = found.with_min_confidence(config.threshold)
        per_frame[frame] = suppress_duplicates(found)
    params = HindsightParams(
        every=stride,
        iou_match=config.iou_match,
        start_score=config.threshold,
        max_gap=config.max_gap * stride + stride - 1,
        min_track_len=1,
    )
    return [
        [
            _Observation(frame, box, score, class_id)
            for frame, box, score, class_id in zip(track.frames, track.boxes, track.scores, track.classes, strict=True)
        ]
        for track in link_tracks(per_frame, params)
    ]


def _box_details(box: np.ndarray, track: int) -> dict[str, float | int]:
    x1, y1, x2, y2 = (round(float(value), 1) for value in box)
    return {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "track": track}


@register_trigger("detection_flicker", DetectionFlickerConfig, needs="detections", default=False)
def detect_detection_flicker(
    features: FrameFeatures | None, detections: FrameDetections, config: DetectionFlickerConfig
) -> list[Hit]:
    """Gaps: the sampled frames a supported track misses (score: confidence around the gap, a strong track that
    vanishes is the surest sign). Blips: short tracks (score: their best confidence)."""
    sampled = _sampled_frames(detections)
    hits = []
    for number, track in enumerate(_tracks(detections, config, keep_unsure=False)):
        frames = np.array([observation.frame for observation in track])
        for position in range(len(track) - 1):
            before, after = track[position], track[position + 1]
            support = min(position + 1, len(track) - position - 1)
            if support < config.min_support:
                continue
            missing = _missed_frames(detections, sampled, before, after, config)
            if not len(missing):
                continue
            around = track[max(0, position + 1 - config.min_support) : position + 1 + config.min_support]
            box = _interpolate(before, after, int(missing[len(missing) // 2]))
            details: dict[str, float | int | str | bool] = {"kind": "gap", "missed_frames": len(missing)}
            details.update(_box_details(box, number))
            score = float(np.mean([observation.score for observation in around]))
            hits.append(Hit("detection_flicker", int(missing[0]), int(missing[-1]), min(1.0, score), details))
        blip = np.count_nonzero((sampled >= frames[0]) & (sampled <= frames[-1])) <= config.max_blip_frames
        if blip and frames[0] > sampled[0] and frames[-1] < sampled[-1]:
            best = max(track, key=lambda observation: observation.score)
            details = {"kind": "blip", "observations": len(track)}
            details.update(_box_details(best.box, number))
            hits.append(Hit("detection_flicker", int(frames[0]), int(frames[-1]), min(1.0, best.score), details))
    return hits


def _interpolate(before: _Observation, after: _Observation, frame: int) -> np.ndarray:
    weight = (frame - before.frame) / (after.frame - before.frame)
    return (1 - weight) * before.box + weight * after.box


def _missed_frames(
    detections: FrameDetections,
    sampled: np.ndarray,
    before: _Observation,
    after: _Observation,
    config: DetectionFlickerConfig,
) -> np.ndarray:
    """Sampled frames between two observations of a track where no box (at the threshold) lies on the track's
    interpolated box: frames where the object was found but not linked (the tracker's fault) are no misses."""
    between = sampled[(sampled > before.frame) & (sampled < after.frame)]
    missed = []
    for frame in between:
        found = detections[int(frame)].with_min_confidence(config.threshold)
        expected = _interpolate(before, after, int(frame))[None]
        if not len(found) or not (box_iou(expected, found.xyxy) >= config.iou_match).any():
            missed.append(int(frame))
    return np.array(missed, dtype=np.int64)


@register_trigger("class_flip", ClassFlipConfig, needs="detections", default=False)
def detect_class_flips(
    features: FrameFeatures | None, detections: FrameDetections, config: ClassFlipConfig
) -> list[Hit]:
    """One hit per class change inside a track, spanning the two observations that disagree. Score: twice the
    share of the track's observations outside its majority class (1 = a coin toss between classes)."""
    hits = []
    for number, track in enumerate(_tracks(detections, config, keep_unsure=False)):
        if len(track) < config.min_track_frames:
            continue
        classes = np.array([observation.class_id for observation in track])
        majority = np.bincount(classes - classes.min()).max()
        score = min(1.0, 2.0 * (1.0 - majority / len(classes)))
        for position in np.flatnonzero(classes[1:] != classes[:-1]) + 1:
            before, after = track[position - 1], track[position]
            details: dict[str, float | int | str | bool] = {"from_class": before.class_id, "to_class": after.class_id}
            details.update(_box_details(after.box, number))
            hits.append(Hit("class_flip", before.frame, after.frame, score, details))
    return hits


@register_trigger("box_jump", BoxJumpConfig, needs="detections", default=False)
def detect_box_jumps(features: FrameFeatures | None, detections: FrameDetections, config: BoxJumpConfig) -> list[Hit]:
    """Observations whose box overlaps the constant-velocity prediction from the two observations before by less
    than `max_iou`. Score: 1 - IoU / max_iou."""
    hits = []
    for number, track in enumerate(_tracks(detections, config, keep_unsure=False)):
        if len(track) < config.min_track_frames:
            continue
        for position in range(2, len(track)):
            first, second, current = track[position - 2], track[position - 1], track[position]
            velocity = (second.box - first.box) / (second.frame - first.frame)
            predicted = second.box + velocity * (current.frame - second.frame)
            overlap = float(box_iou(predicted[None], current.box[None])[0, 0])
            if overlap < config.max_iou:
                details: dict[str, float | int | str | bool] = {"iou_with_prediction": round(overlap, 3)}
                details.update(_box_details(current.box, number))
                score = 1.0 - overlap / config.max_iou
                hits.append(Hit("box_jump", second.frame, current.frame, score, details))
    return hits


@register_trigger("count_oscillation", CountOscillationConfig, needs="detections", default=False)
def detect_count_oscillation(
    features: FrameFeatures | None, detections: FrameDetections, config: CountOscillationConfig
) -> list[Hit]:
    """Runs of count reversals (up-down or down-up over three consecutive sampled frames). Score: reversals in the
    run over twice `min_reversals`, capped at 1."""
    sampled = _sampled_frames(detections)
    counts = np.array([int(np.sum(detections[int(f)].confidence >= config.threshold)) for f in sampled])
    if len(counts) < 3:
        return []
    steps = np.diff(counts)
    reversal = np.zeros(len(counts), dtype=bool)
    reversal[1:-1] = steps[:-1] * steps[1:] < 0
    hits = []
    for first, last in mask_runs(reversal, merge_gap=config.window - 1):
        reversals = int(reversal[first : last + 1].sum())
        if reversals < config.min_reversals:
            continue
        details: HitDetails = {
            "reversals": reversals,
            "min_count": int(counts[first - 1 : last + 2].min()),
            "max_count": int(counts[first - 1 : last + 2].max()),
        }
        score = min(1.0, reversals / (2 * config.min_reversals))
        hits.append(Hit("count_oscillation", int(sampled[first - 1]), int(sampled[last + 1]), score, details))
    return hits


@register_trigger("confidence_oscillation", ConfidenceOscillationConfig, needs="detections", default=False)
def detect_confidence_oscillation(
    features: FrameFeatures | None, detections: FrameDetections, config: ConfidenceOscillationConfig
) -> list[Hit]:
    """Tracks (unsure boxes included) whose confidence goes above and below the threshold again and again.
    Score: crossings over twice `min_crossings`, capped at 1."""
    sampled = _sampled_frames(detections)
    hits = []
    for number, track in enumerate(_tracks(detections, config, keep_unsure=True)):
        inside = sampled[(sampled >= track[0].frame) & (sampled <= track[-1].frame)]
        seen = {observation.frame: observation.score for observation in track}
        scores = np.array([seen.get(int(frame), 0.0) for frame in inside])
        state = np.where(scores >= config.threshold, 1, np.where(scores < config.threshold - config.margin, -1, 0))
        decided = np.flatnonzero(state)
        crossings = decided[1:][state[decided][1:] != state[decided][:-1]]
        crossing_mask = np.zeros(len(inside), dtype=bool)
        crossing_mask[crossings] = True
        for first, last in mask_runs(crossing_mask, merge_gap=config.window - 1):
            count = int(crossing_mask[first : last + 1].sum())
            if count < config.min_crossings:
                continue
            middle = (first + last) // 2
            box = next((o.box for o in track if o.frame >= inside[middle]), track[-1].box)
            details: dict[str, float | int | str | bool] = {
                "crossings": count,
                "min_score": round(float(scores[first - 1 : last + 1].min()), 3),
                "max_score": round(float(scores[first - 1 : last + 1].max()), 3),
            }
            details.update(_box_details(box, number))
            score = min(1.0, count / (2 * config.min_crossings))
            hits.append(Hit("confidence_oscillation", int(inside[first - 1]), int(inside[last]), score, details))
    return hits


@dataclass(frozen=True, slots=True)
class FrameAgreement:
    """How two models' boxes on one frame compare: agreeing matches, class conflicts and unmatched boxes."""

    agreeing: int
    class_conflicts: int
    only_primary: int
    only_reference: int

    @property
    def disagreement(self) -> float:
        """1 - F1 of agreement (0 when neither model has a box)."""
        total = self.agreeing + self.class_conflicts + self.only_primary
        total += self.agreeing + self.class_conflicts + self.only_reference
        return 1.0 - 2.0 * self.agreeing / total if total else 0.0


def compare_frame(primary: Detections, reference: Detections, iou_match: float = 0.5) -> FrameAgreement:
    """Hungarian matching on IoU (class-agnostic, least `iou_match`), then class check of each match."""
    if not len(primary) or not len(reference):
        return FrameAgreement(0, 0, len(primary), len(reference))
    pairs = match_boxes(primary.xyxy, reference.xyxy, iou_match)
    same = primary.class_id[pairs.first] == reference.class_id[pairs.second]
    matched = len(pairs.first)
    return FrameAgreement(int(same.sum()), int((~same).sum()), len(primary) - matched, len(reference) - matched)


def reference_class_lookup(
    primary: FrameDetections, reference: FrameDetections, class_map: Mapping[str, str] | None
) -> np.ndarray | None:
    """Array mapping reference class ids to primary class ids (-1: dropped), or None when both models have the same
    classes. Different class lists without a `class_map` are an error (the boxes cannot be compared)."""
    primary_names = _names(primary)
    reference_names = _names(reference)
    if not class_map:
        if primary_names and reference_names and primary_names != reference_names:
            raise TriggerError(
                f"the two models have different classes ({primary_names} vs {reference_names}) and no class map; "
                "set DisagreementConfig.class_map (reference class name -> fast model class name)"
            )
        return None
    if not reference_names:
        return None
    primary_ids = {name: class_id for class_id, name in primary_names.items()}
    unknown = sorted(set(class_map.values()) - set(primary_ids))
    if primary_names and unknown:
        raise TriggerError(f"class_map targets {unknown}, which the fast model lacks; its classes: {primary_names}")
    lookup = np.full(max(reference_names) + 1, -1, dtype=np.int64)
    for class_id, name in reference_names.items():
        lookup[class_id] = primary_ids.get(class_map.get(name, name), -1)
    return lookup


def _names(detections: FrameDetections) -> dict[int, str]:
    names: dict[int, str] = {}
    for found in detections.values():
        names.update(found.names)
    return names


def _mapped(found: Detections, lookup: np.ndarray | None) -> Detections:
    if lookup is None or not len(found):
        return found
    if found.class_id.max() >= len(lookup):
        raise TriggerError(f"reference class ids {sorted(set(found.class_id.tolist()))} are missing from its names")
    class_id = lookup[found.class_id]
    keep = class_id >= 0
    return Detections(found.xyxy[keep], found.confidence[keep], class_id[keep], found.track_id[keep])


@register_trigger("model_disagreement", DisagreementConfig, needs="reference")
def detect_disagreement(
    features: FrameFeatures | None,
    detections: FrameDetections,
    config: DisagreementConfig,
    reference: FrameDetections,
) -> list[Hit]:
    """The frames (of those both models ran on) where the models disagree most; score: that frame's disagreement."""
    lookup = reference_class_lookup(detections, reference, config.class_map)
    common = np.array(sorted(set(map(int, detections)) & set(map(int, reference))), dtype=np.int64)
    agreements = [
        compare_frame(
            detections[int(frame)].with_min_confidence(config.threshold),
            _mapped(reference[int(frame)].with_min_confidence(config.reference_cut), lookup),
            config.iou_match,
        )
        for frame in common
    ]
    scores = np.array([agreement.disagreement for agreement in agreements])
    flagged = top_frames(
        common, scores, config.share, config.min_score, frame_hashes(features), DEFAULT_DUPLICATE_DISTANCE
    )
    hits = []
    for position in flagged:
        agreement = agreements[position]
        details: HitDetails = {
            "class_conflicts": agreement.class_conflicts,
            "only_fast": agreement.only_primary,
            "only_reference": agreement.only_reference,
            "disagreement": round(float(scores[position]), 3),
        }
        frame = int(common[position])
        hits.append(Hit("model_disagreement", frame, frame, float(scores[position]), details))
    return hits
