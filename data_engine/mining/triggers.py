"""Triggers: plug-ins that read a clip's per-frame features (and, later, detections) and flag frame ranges.

A trigger is a function `(features, detections, config) -> list[Hit]` registered under a name with its config
dataclass:

    @register_trigger("too_dark", TooDarkConfig, required_columns=("brightness_mean",))
    def too_dark(features, detections, config): ...

`run_triggers(features)` runs every registered trigger (or the named ones) with default or given configs. Features
are validated once (missing columns, NaN, out-of-range values raise `TriggerError`). The image-level triggers here
are lighting flicker, glitch (corrupted) frames, scene cuts and frozen stretches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from data_engine.detections import Detections
from data_engine.mining.features import hamming

FrameDetections = Mapping[int, Detections]
"""Detections of a clip keyed by frame index (for model-level triggers; image-level triggers ignore them)."""

HitDetails = Mapping[str, float | int | str | bool]


class TriggerError(ValueError):
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


TriggerFunction = Callable[[pd.DataFrame, FrameDetections | None, Any], list[Hit]]


@dataclass(frozen=True, slots=True)
class TriggerSpec:
    """A registered trigger: its function, the dataclass of its parameters and the feature columns it reads."""

    name: str
    detect: TriggerFunction
    config_type: type
    required_columns: tuple[str, ...]


_REGISTRY: dict[str, TriggerSpec] = {}

_COLUMN_RANGES: dict[str, tuple[float, float]] = {
    "frame_index": (0, np.inf),
    "pts_s": (-np.inf, np.inf),
    "brightness_mean": (0.0, 255.0),
    "brightness_std": (0.0, 128.0),
    "diff_prev": (0.0, 255.0),
    "texture_diff_prev": (0.0, np.inf),
    "sharpness": (0.0, np.inf),
}


def register_trigger(
    name: str, config_type: type, required_columns: Sequence[str] = ()
) -> Callable[[TriggerFunction], TriggerFunction]:
    """Decorator registering `function` as trigger `name`; `config_type()` must give the default parameters."""
    if not name or name in _REGISTRY:
        raise TriggerError(f"trigger name {name!r} is empty or already registered; pick a unique name")

    def decorator(function: TriggerFunction) -> TriggerFunction:
        _REGISTRY[name] = TriggerSpec(name, function, config_type, tuple(required_columns))
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


def validate_features(features: pd.DataFrame, required_columns: Sequence[str] = ()) -> None:
    """Raise `TriggerError` if columns are missing, values are NaN/infinite/out of range or frames are unordered."""
    needed = list(dict.fromkeys(["frame_index", *required_columns]))
    missing = [column for column in needed if column not in features.columns]
    if missing:
        raise TriggerError(
            f"features lack columns {missing}; compute them with data_engine.mining.features.compute_features"
        )
    for column in needed:
        if column == "phash":
            if features[column].dtype != np.uint64:
                raise TriggerError(f"column phash must be uint64, got {features[column].dtype}")
            continue
        values = features[column].to_numpy(dtype=np.float64)
        low, high = _COLUMN_RANGES.get(column, (-np.inf, np.inf))
        bad = ~np.isfinite(values) | (values < low) | (values > high)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise TriggerError(
                f"column {column} has {int(bad.sum())} NaN, infinite or out-of-range values (first at row {row}: "
                f"{values[row]}); expected finite values in [{low}, {high}]"
            )
    if (np.diff(features["frame_index"].to_numpy()) <= 0).any():
        raise TriggerError("frame_index must be strictly increasing; sort the features by frame")


def run_trigger(
    name: str,
    features: pd.DataFrame,
    detections: FrameDetections | None = None,
    config: object | None = None,
) -> list[Hit]:
    """Run one registered trigger on validated features; `config` defaults to its config type's defaults."""
    spec = trigger_spec(name)
    validate_features(features, spec.required_columns)
    return _run(spec, features, detections, config)


def run_triggers(
    features: pd.DataFrame,
    detections: FrameDetections | None = None,
    configs: Mapping[str, object] | None = None,
    names: Sequence[str] | None = None,
) -> list[Hit]:
    """Run the named triggers (default: all registered) and return their hits ordered by first frame."""
    configs = configs or {}
    specs = [trigger_spec(name) for name in (registered_triggers() if names is None else names)]
    unknown = set(configs) - {spec.name for spec in specs}
    if unknown:
        raise TriggerError(f"configs given for triggers that are not run: {sorted(unknown)}")
    validate_features(features, [column for spec in specs for column in spec.required_columns])
    hits = [hit for spec in specs for hit in _run(spec, features, detections, configs.get(spec.name))]
    return sorted(hits, key=lambda hit: (hit.first_frame, hit.trigger, hit.last_frame))


def _run(
    spec: TriggerSpec, features: pd.DataFrame, detections: FrameDetections | None, config: object | None
) -> list[Hit]:
    config = spec.config_type() if config is None else config
    if not isinstance(config, spec.config_type):
        raise TriggerError(f"trigger {spec.name!r} takes a {spec.config_type.__name__}, got {type(config).__name__}")
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


def _runs(mask: np.ndarray, merge_gap: int = 0) -> list[tuple[int, int]]:
    """(first, last) positions of the runs of True in `mask`, merging runs separated by at most `merge_gap`."""
    positions = np.flatnonzero(mask)
    if positions.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(positions) > merge_gap + 1)
    starts = np.concatenate(([positions[0]], positions[breaks + 1]))
    ends = np.concatenate((positions[breaks], [positions[-1]]))
    return [(int(start), int(end)) for start, end in zip(starts, ends, strict=True)]


def _texture_spikes(texture_diff: np.ndarray, config: SpikeConfig) -> np.ndarray:
    """Frames whose content changes abruptly, as `config` defines it."""
    level = pd.Series(texture_diff).rolling(config.level_window, center=True, min_periods=1).median().to_numpy()
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
def detect_flicker(features: pd.DataFrame, detections: FrameDetections | None, config: FlickerConfig) -> list[Hit]:
    """Frame ranges whose brightness deviates from the rolling median by `min_deviation` grey levels or more."""
    brightness = features["brightness_mean"].to_numpy(dtype=np.float64)
    texture_diff = features["texture_diff_prev"].to_numpy(dtype=np.float64)
    frames = features["frame_index"].to_numpy()
    window = 2 * config.max_frames + 1
    baseline = pd.Series(brightness).rolling(window, center=True, min_periods=1).median().to_numpy()
    deviation = brightness - baseline
    hits = []
    for first, last in _runs(np.abs(deviation) >= config.min_deviation, config.merge_gap):
        content_change = texture_diff[first : min(last + 2, len(texture_diff))].max()
        if content_change > config.max_texture_diff:
            continue
        peak = float(np.abs(deviation[first : last + 1]).max())
        hits.append(
            Hit(
                "flicker",
                int(frames[first]),
                int(frames[last]),
                min(1.0, peak / (4 * config.min_deviation)),
                {"peak_deviation": peak, "max_texture_diff": float(content_change)},
            )
        )
    return hits


@dataclass(frozen=True, slots=True)
class GlitchConfig(SpikeConfig):
    """Corrupted frames: up to `max_frames` frames whose content differs sharply from both the frame before and the
    frame after (a texture spike, see `SpikeConfig`), while those two look alike (phash distance at most
    `max_neighbour_distance` bits)."""

    max_neighbour_distance: int = 12
    max_frames: int = 2


@register_trigger("glitch", GlitchConfig, required_columns=("texture_diff_prev", "brightness_std", "phash"))
def detect_glitches(features: pd.DataFrame, detections: FrameDetections | None, config: GlitchConfig) -> list[Hit]:
    """Short runs of frames that spike away from both neighbours (decoder corruption, dropped-in garbage)."""
    texture_diff = features["texture_diff_prev"].to_numpy(dtype=np.float64)
    hashes = features["phash"].to_numpy()
    std = features["brightness_std"].to_numpy(dtype=np.float64)
    frames = features["frame_index"].to_numpy()
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
        hits.append(
            Hit(
                "glitch",
                int(frames[first]),
                int(frames[last]),
                float(min(1.0, min(entering, leaving) / (2 * config.min_texture_diff))),
                {
                    "texture_diff_in": float(entering),
                    "texture_diff_out": float(leaving),
                    "uniform": bool(std[first : last + 1].min() < 1.0),
                },
            )
        )
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
def detect_cuts(features: pd.DataFrame, detections: FrameDetections | None, config: CutConfig) -> list[Hit]:
    """One-frame hits at the first frame of each new shot. The new content must differ from the two frames before
    it, so the frame after a glitch (back to the old content) is no cut."""
    texture_diff = features["texture_diff_prev"].to_numpy(dtype=np.float64)
    hashes = features["phash"].to_numpy()
    frames = features["frame_index"].to_numpy()
    hits = []
    spikes = _texture_spikes(texture_diff, config)
    for position in np.flatnonzero(spikes):
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
        frame = int(frames[position])
        hits.append(
            Hit(
                "cut",
                frame,
                frame,
                score,
                {"texture_diff": float(texture_diff[position]), "phash_distance": int(distances[0])},
            )
        )
    return hits


@dataclass(frozen=True, slots=True)
class FrozenConfig(PositiveConfig):
    """Frozen stretches: at least `min_frames` consecutive frames whose mean absolute luma difference to the frame
    before is at most `max_diff` grey levels (a stuck camera or decoder repeating frames)."""

    max_diff: float = 0.5
    min_frames: int = 12


@register_trigger("frozen", FrozenConfig, required_columns=("diff_prev",))
def detect_frozen(features: pd.DataFrame, detections: FrameDetections | None, config: FrozenConfig) -> list[Hit]:
    """Stretches of (nearly) identical frames; the score grows with the length, 1 at four times `min_frames`."""
    diff = features["diff_prev"].to_numpy(dtype=np.float64)
    frames = features["frame_index"].to_numpy()
    still = diff <= config.max_diff
    still[:1] = False
    hits = []
    for first_change, last in _runs(still):
        first = first_change - 1
        length = last - first + 1
        if length >= config.min_frames:
            hits.append(
                Hit(
                    "frozen",
                    int(frames[first]),
                    int(frames[last]),
                    min(1.0, length / (4 * config.min_frames)),
                    {"frames": length, "mean_diff": float(diff[first_change : last + 1].mean())},
                )
            )
    return hits
