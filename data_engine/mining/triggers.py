"""Triggers: plug-ins that read a clip's per-frame features and/or a model's detections and flag frame ranges.

A trigger is a function `(features, detections, config) -> list[Hit]` registered under a name with its config
dataclass and the input it needs:

    @register_trigger("too_dark", TooDarkConfig, required_columns=("brightness_mean",))
    def too_dark(features, detections, config): ...

`needs` says what a trigger reads: "features" (image-level, the default), "detections" (a model's per-frame boxes,
`Mapping[int, Detections]` keyed by frame index) or "reference" (a second model's boxes on the same frames too: such
a trigger is called as `(features, detections, config, reference)`).

`run_triggers(features, detections, reference_detections=...)` runs every registered trigger whose input is given
(or the named ones, which must have theirs) with default or given configs. Inputs are validated once (missing
columns, NaN, out-of-range values, invalid detections raise `TriggerError`). The image-level triggers here are
lighting flicker, glitch (corrupted) frames, scene cuts and frozen stretches; the model-level ones are in
`data_engine.mining.model_triggers`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Literal

import numpy as np

from data_engine.detections import Detections
from data_engine.errors import EngineError
from data_engine.mining.features import FrameFeatures, hamming

FrameDetections = Mapping[int, Detections]
"""Detections of a clip keyed by frame index (for model-level triggers; image-level triggers ignore them)."""

HitDetails = Mapping[str, float | int | str | bool]


class TriggerError(EngineError, ValueError):
    """Invalid trigger input, configuration or registration."""


@dataclass(frozen=True, slots=True)
class Hit:
    """Frames `first_frame..last_frame` (inclusive, frame indices of the clip) flagged by `trigger`.

    `score` in [0, 1]: how strongly the frames show what the trigger looks for (1 = unmistakable).
    """

    trigger: str
    first_frame: int
    last_frame: int
    score: float
    details: HitDetails = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.first_frame <= self.last_frame:
            raise TriggerError(f"hit of {self.trigger!r} has frames {self.first_frame}..{self.last_frame}")
        if not 0.0 <= self.score <= 1.0:
            raise TriggerError(f"hit of {self.trigger!r} has score {self.score}, expected a value in [0, 1]")


TriggerFunction = Callable[..., list[Hit]]
"""`(features, detections, config) -> hits`, plus `reference` (fourth argument) for `needs="reference"`."""

TriggerInput = Literal["features", "detections", "reference"]
TRIGGER_INPUTS: tuple[str, ...] = ("features", "detections", "reference")


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """A registered trigger: its function, the dataclass of its parameters, the feature columns it reads and the
    input it needs ("features", "detections" or "reference": see the module docstring)."""

    name: str
    detect: TriggerFunction
    config_type: type
    required_columns: tuple[str, ...]
    needs: TriggerInput = "features"
    default: bool = True


_REGISTRY: dict[str, TriggerSpec] = {}

_COLUMN_RANGES: dict[str, tuple[float, float]] = {
    "frame_index": (0, np.inf),
    "pts_s": (-np.inf, np.inf),
    "brightness_mean": (0.0, 255.0),
    "brightness_std": (0.0, 128.0),
    "diff_prev": (0.0, 255.0),
    "block_diff_max": (0.0, 255.0),
    "texture_diff_prev": (0.0, np.inf),
    "sharpness": (0.0, np.inf),
}


def register_trigger(
    name: str,
    config_type: type,
    required_columns: Sequence[str] = (),
    needs: TriggerInput = "features",
    default: bool = True,
) -> Callable[[TriggerFunction], TriggerFunction]:
    """Decorator registering `function` as trigger `name`; `config_type()` must give the default parameters.
    `default=False`: the trigger runs only when named (mining's `DATA_ENGINE_TRIGGERS`, the proving ground)."""
    if not name or name in _REGISTRY:
        raise TriggerError(f"trigger name {name!r} is empty or already registered; pick a unique name")
    if needs not in TRIGGER_INPUTS:
        raise TriggerError(f"trigger {name!r} needs {needs!r}; expected one of {list(TRIGGER_INPUTS)}")

    def decorator(function: TriggerFunction) -> TriggerFunction:
        _REGISTRY[name] = TriggerSpec(name, function, config_type, tuple(required_columns), needs, default)
        return function

    return decorator


def registered_triggers() -> tuple[str, ...]:
    """Names of the registered triggers, in registration order."""
    return tuple(_REGISTRY)


def trigger_spec(name: str) -> TriggerSpec:
    """The registration of trigger `name`."""
    if name not in _REGISTRY:
        raise TriggerError(f"unknown trigger {name!r}; registered triggers: {list(_REGISTRY)}")
    return _REGISTRY[name]


def validate_features(features: FrameFeatures, required_columns: Sequence[str] = ()) -> None:
    """Raise `TriggerError` if a required column is not a feature, values are NaN/infinite/out of range or frames
    are unordered (`FrameFeatures` has checked the columns' types)."""
    needed = list(dict.fromkeys(["frame_index", *required_columns]))
    missing = [column for column in needed if column not in features]
    if missing:
        raise TriggerError(f"features lack columns {missing}; features have {list(features.columns)}")
    for column in needed:
        if column == "phash":
            continue
        values = np.asarray(features[column], dtype=np.float64)
        low, high = _COLUMN_RANGES.get(column, (-np.inf, np.inf))
        bad = ~np.isfinite(values) | (values < low) | (values > high)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise TriggerError(
                f"column {column} has {int(bad.sum())} NaN, infinite or out-of-range values (first at row {row}: "
                f"{values[row]}); expected finite values in [{low}, {high}]"
            )
    if (np.diff(features["frame_index"]) <= 0).any():
        raise TriggerError("frame_index must be strictly increasing; sort the features by frame")


def validate_detections(detections: FrameDetections, role: str = "detections") -> None:
    """Raise `TriggerError` unless `detections` maps non-negative frame indices to valid `Detections`: finite boxes
    and confidence scores in [0, 1] (checked again here: a model's arrays can be changed after construction)."""
    for frame, found in detections.items():
        if isinstance(frame, bool) or not isinstance(frame, (int, np.integer)) or frame < 0:
            raise TriggerError(f"{role} must be keyed by frame index (int >= 0); got key {frame!r}")
        if not isinstance(found, Detections):
            raise TriggerError(f"{role} of frame {frame} is a {type(found).__name__}, expected Detections")
        scores = found.confidence
        bad = ~np.isfinite(scores) | (scores < 0.0) | (scores > 1.0)
        if bad.any():
            raise TriggerError(
                f"{role} of frame {frame} has {int(bad.sum())} NaN or out-of-range scores (e.g. "
                f"{scores[bad][:3].tolist()}); a model's confidence must lie in [0, 1]: check its output"
            )
        if len(found) and not np.isfinite(found.xyxy).all():
            raise TriggerError(f"{role} of frame {frame} has NaN or infinite box coordinates; check the model output")


def triggers_for(names: Sequence[str] | None, detections: bool, reference: bool) -> list[str]:
    """The triggers to run on a clip: the named ones (None: every default trigger) whose input it has (model-level
    triggers are skipped without detections, the two-model ones without a reference)."""
    given = {"features": True, "detections": detections, "reference": detections and reference}
    chosen = registered_triggers() if names is None else tuple(names)
    specs = [trigger_spec(name) for name in chosen]
    return [spec.name for spec in specs if given[spec.needs] and (names is not None or spec.default)]


def run_trigger(
    name: str,
    features: FrameFeatures | None,
    detections: FrameDetections | None = None,
    config: object | None = None,
    reference_detections: FrameDetections | None = None,
) -> list[Hit]:
    """Run one registered trigger on validated inputs; `config` defaults to its config type's defaults."""
    return run_triggers(features, detections, None if config is None else {name: config}, [name], reference_detections)


def run_triggers(
    features: FrameFeatures | None,
    detections: FrameDetections | None = None,
    configs: Mapping[str, object] | None = None,
    names: Sequence[str] | None = None,
    reference_detections: FrameDetections | None = None,
) -> list[Hit]:
    """Run the named triggers (default: every registered default trigger whose input is given) and return their hits
    ordered by first frame. `features` may be None for model-level triggers only; `reference_detections` are a
    second model's detections on the same frames as `detections` (for `needs="reference"` triggers)."""
    configs = configs or {}
    given = {"features": features is not None, "detections": detections is not None}
    given["reference"] = given["detections"] and reference_detections is not None
    if names is None:
        specs = [spec for spec in map(trigger_spec, registered_triggers()) if spec.default and given[spec.needs]]
    else:
        specs = [trigger_spec(name) for name in names]
        lacking = [f"{spec.name} (needs {spec.needs})" for spec in specs if not given[spec.needs]]
        if lacking:
            raise TriggerError(f"triggers {lacking} lack their input; pass features, detections and/or a reference")
    unknown = set(configs) - {spec.name for spec in specs}
    if unknown:
        raise TriggerError(f"configs given for triggers that are not run: {sorted(unknown)}")
    if features is not None:
        validate_features(features, [column for spec in specs for column in spec.required_columns])
    if detections is not None:
        validate_detections(detections)
    if reference_detections is not None:
        validate_detections(reference_detections, "reference detections")
    hits = [
        hit for spec in specs for hit in _run(spec, features, detections, configs.get(spec.name), reference_detections)
    ]
    return sorted(hits, key=lambda hit: (hit.first_frame, hit.trigger, hit.last_frame))


def _run(
    spec: TriggerSpec,
    features: FrameFeatures | None,
    detections: FrameDetections | None,
    config: object | None,
    reference: FrameDetections | None,
) -> list[Hit]:
    config = spec.config_type() if config is None else config
    if not isinstance(config, spec.config_type):
        raise TriggerError(f"trigger {spec.name!r} takes a {spec.config_type.__name__}, got {type(config).__name__}")
    if spec.needs == "reference":
        return spec.detect(features, detections, config, reference)
    return spec.detect(features, detections, config)


@dataclass(frozen=True, slots=True)
class PositiveConfig:
    """Base of trigger configs whose parameters must all be positive numbers (checked at construction)."""

    def __post_init__(self) -> None:
        for parameter in fields(self):
            value = getattr(self, parameter.name)
            if not np.isfinite(value) or value <= 0:
                raise TriggerError(f"{type(self).__name__}.{parameter.name} must be a positive number, got {value}")


@dataclass(frozen=True, slots=True)
class SpikeConfig(PositiveConfig):
    """An abrupt content change: a standardised luma difference to the previous frame of at least
    `min_texture_diff` and at least `min_spike_ratio` times its rolling median over `level_window` frames (so
    steady camera motion or a busy scene, which keep the difference high everywhere, do not count)."""

    min_texture_diff: float = 0.6
    min_spike_ratio: float = 2.5
    level_window: int = 25


def mask_runs(mask: np.ndarray, merge_gap: int = 0) -> list[tuple[int, int]]:
    """(first, last) positions of the runs of True in `mask`, merging runs separated by at most `merge_gap`."""
    positions = np.flatnonzero(mask)
    if positions.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(positions) > merge_gap + 1)
    starts = np.concatenate(([positions[0]], positions[breaks + 1]))
    ends = np.concatenate((positions[breaks], [positions[-1]]))
    return [(int(start), int(end)) for start, end in zip(starts, ends, strict=True)]


def centered_median(values: np.ndarray, window: int) -> np.ndarray:
    """The median of the `window` values centred on each (fewer at the ends; an even window reaches one further
    back than ahead): pandas' `rolling(window, center=True, min_periods=1).median()`, value for value, on NaN-free
    values, without importing pandas."""
    count = len(values)
    if not count:
        return np.zeros(0, dtype=np.float64)
    before, after = window // 2, (window - 1) // 2
    padded = np.concatenate((np.full(before, np.nan), np.asarray(values, dtype=np.float64), np.full(after, np.nan)))
    ordered = np.sort(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)  # NaN padding sorts last
    positions = np.arange(count)
    present = np.minimum(positions + after, count - 1) - np.maximum(positions - before, 0) + 1
    low, high = ordered[positions, (present - 1) // 2], ordered[positions, present // 2]
    return np.where(present % 2 == 1, low, (low + high) / 2)


def _hit_at(trigger: str, frames: np.ndarray, first: int, last: int, score: float, details: HitDetails) -> Hit:
    """A hit over the feature rows at positions `first..last`, named by their frame indices (`frames`)."""
    return Hit(trigger, int(frames[first]), int(frames[last]), score, details)


def _texture_spikes(texture_diff: np.ndarray, config: SpikeConfig) -> np.ndarray:
    """Frames whose content changes abruptly, as `config` defines it."""
    level = centered_median(texture_diff, config.level_window)
    return (texture_diff >= config.min_texture_diff) & (texture_diff >= config.min_spike_ratio * level)


@dataclass(frozen=True, slots=True)
class FlickerConfig(PositiveConfig):
    """Lighting flicker: brightness leaves its local baseline (rolling median) and comes back within `max_frames`.

    A brightness step that stays is not flicker (the median follows it). `max_texture_diff` rejects brightness
    changes that come with a content change (cuts, glitches), since lighting leaves the standardised image alone.
    """

    min_deviation: float = 8.0
    max_frames: int = 12
    max_texture_diff: float = 0.5
    merge_gap: int = 3


@register_trigger("flicker", FlickerConfig, required_columns=("brightness_mean", "texture_diff_prev"))
def detect_flicker(features: FrameFeatures, detections: FrameDetections | None, config: FlickerConfig) -> list[Hit]:
    """Frame ranges whose brightness deviates from the rolling median by `min_deviation` grey levels or more."""
    brightness = features["brightness_mean"]
    texture_diff = features["texture_diff_prev"]
    frames = features["frame_index"]
    window = 2 * config.max_frames + 1
    baseline = centered_median(brightness, window)
    deviation = brightness - baseline
    hits = []
    for first, last in mask_runs(np.abs(deviation) >= config.min_deviation, config.merge_gap):
        content_change = texture_diff[first : min(last + 2, len(texture_diff))].max()
        if content_change > config.max_texture_diff:
            continue
        peak = float(np.abs(deviation[first : last + 1]).max())
        score = min(1.0, peak / (4 * config.min_deviation))
        details = {"peak_deviation": peak, "max_texture_diff": float(content_change)}
        hits.append(_hit_at("flicker", frames, first, last, score, details))
    return hits


@dataclass(frozen=True, slots=True)
class GlitchConfig(SpikeConfig):
    """Corrupted frames: up to `max_frames` frames whose content differs sharply from both the frame before and the
    frame after (a texture spike, see `SpikeConfig`), while those two look alike (phash distance at most
    `max_neighbour_distance` bits)."""

    max_neighbour_distance: int = 12
    max_frames: int = 2


@register_trigger("glitch", GlitchConfig, required_columns=("texture_diff_prev", "brightness_std", "phash"))
def detect_glitches(features: FrameFeatures, detections: FrameDetections | None, config: GlitchConfig) -> list[Hit]:
    """Short runs of frames that spike away from both neighbours (decoder corruption, dropped-in garbage)."""
    texture_diff = features["texture_diff_prev"]
    hashes = features["phash"]
    std = features["brightness_std"]
    frames = features["frame_index"]
    spikes = _texture_spikes(texture_diff, config)
    hits = []
    first = 1
    while first < len(frames) - 1:
        if not spikes[first]:
            first += 1
            continue
        last = _glitch_end(first, spikes, hashes, config)
        if last is None:
            first += 1
            continue
        entering, leaving = texture_diff[first], texture_diff[last + 1]
        score = float(min(1.0, min(entering, leaving) / (2 * config.min_texture_diff)))
        details = {
            "texture_diff_in": float(entering),
            "texture_diff_out": float(leaving),
            "uniform": bool(std[first : last + 1].min() < 1.0),
        }
        hits.append(_hit_at("glitch", frames, first, last, score, details))
        first = last + 2
    return hits


def _glitch_end(first: int, spikes: np.ndarray, hashes: np.ndarray, config: GlitchConfig) -> int | None:
    """Last frame of the glitch run starting at `first`, or None if the content does not come back."""
    for last in range(first, min(first + config.max_frames, len(spikes) - 1)):
        after = last + 1
        if spikes[after] and int(np.bitwise_count(hashes[first - 1] ^ hashes[after])) <= config.max_neighbour_distance:
            return last
    return None


@dataclass(frozen=True, slots=True)
class CutConfig(SpikeConfig):
    """Scene cuts: the content changes (a texture spike, see `SpikeConfig`, and a phash distance of at least
    `min_phash_distance` bits) and stays changed for the next `settle_frames` frames (else it is a glitch)."""

    min_phash_distance: int = 16
    settle_frames: int = 3


@register_trigger("cut", CutConfig, required_columns=("texture_diff_prev", "phash"))
def detect_cuts(features: FrameFeatures, detections: FrameDetections | None, config: CutConfig) -> list[Hit]:
    """One-frame hits at the first frame of each new shot. The new content must differ from the two frames before
    it, so the frame after a glitch (back to the old content) is no cut."""
    texture_diff = features["texture_diff_prev"]
    hashes = features["phash"]
    frames = features["frame_index"]
    hits = []
    spikes = _texture_spikes(texture_diff, config)
    for position in (int(index) for index in np.flatnonzero(spikes)):
        if position == 0:
            continue
        following = hashes[position : position + config.settle_frames + 1]
        distances = hamming(np.full(len(following), hashes[position - 1], dtype=np.uint64), following)
        before_previous = hashes[max(position - 2, 0)]
        back_to_before = hamming(np.full(len(following), before_previous, dtype=np.uint64), following)
        if min(distances.min(), back_to_before.min()) < config.min_phash_distance:
            continue
        score = 0.5 * min(1.0, float(texture_diff[position]) / (2 * config.min_texture_diff)) + 0.5 * min(
            1.0, float(distances[0]) / (2 * config.min_phash_distance)
        )
        details = {"texture_diff": float(texture_diff[position]), "phash_distance": int(distances[0])}
        hits.append(_hit_at("cut", frames, position, position, score, details))
    return hits


@dataclass(frozen=True, slots=True)
class FrozenConfig(PositiveConfig):
    """Frozen stretches (a stuck camera, a decoder repeating frames): at least `min_frames` consecutive frames in
    which no block of the picture changed by more than `max_block_diff` grey levels (`block_diff_max`, the largest
    block-wise mean absolute luma difference to the frame before), `min_identical` of them identical to the frame
    before (every block within `identical_block_diff`). Up to `merge_gap` consecutive frames above the limit (a
    keyframe re-encoding the frozen picture) do not end a stretch.

    The whole-frame mean is not used: it stays near 0 when one person moves in a still room. Why two limits: an
    encoder refines a repeated picture for a while (block differences up to about 0.8 on noisy synthetic video)
    and repeats it exactly now and then (0.3 and less), while live footage in which nothing moves keeps its
    compression noise (0.58 and more on the sample videos) and never repeats a picture exactly."""

    max_block_diff: float = 0.8
    identical_block_diff: float = 0.3
    min_identical: int = 1
    min_frames: int = 12
    merge_gap: int = 1


@register_trigger("frozen", FrozenConfig, required_columns=("block_diff_max",))
def detect_frozen(features: FrameFeatures, detections: FrameDetections | None, config: FrozenConfig) -> list[Hit]:
    """Stretches of one repeated picture; the score grows with the length, 1 at four times `min_frames`."""
    diff = features["block_diff_max"]
    frames = features["frame_index"]
    still = diff <= config.max_block_diff
    still[:1] = False
    hits = []
    for first_change, last in mask_runs(still, config.merge_gap):
        first = first_change - 1
        length = last - first + 1
        identical = int((diff[first_change : last + 1] <= config.identical_block_diff).sum())
        if length >= config.min_frames and identical >= config.min_identical:
            score = min(1.0, length / (4 * config.min_frames))
            details = {"frames": length, "identical_frames": identical}
            hits.append(_hit_at("frozen", frames, first, last, score, details))
    return hits
