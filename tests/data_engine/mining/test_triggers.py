"""Triggers on constructed feature tables (each event built by hand) and on a real encoded clip with injected events."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_engine.mining import triggers
from data_engine.mining.features import FeaturesError, FrameFeatures, compute_features
from data_engine.mining.triggers import (
    CutConfig,
    FlickerConfig,
    FrozenConfig,
    GlitchConfig,
    Hit,
    TriggerError,
    centered_median,
    register_trigger,
    registered_triggers,
    run_trigger,
    run_triggers,
)
from data_engine.synthetic import generate
from tests.data_engine.mining.clips import encode

IMAGE_TRIGGERS = ("flicker", "glitch", "cut", "frozen")


def scene_hashes(rng: np.random.Generator, count: int) -> np.ndarray:
    """A per-frame phash for a steady shot: one random hash with a couple of bits flipping from frame to frame."""
    base = int(rng.integers(0, 2**63)) | 1 << 63
    flips = [1 << int(bit) for bit in rng.integers(0, 64, count)]
    return np.array([base ^ flip for flip in flips], dtype=np.uint64)


def feature_columns(
    count: int = 120,
    brightness: np.ndarray | None = None,
    texture_diff: np.ndarray | None = None,
    hashes: np.ndarray | None = None,
    diff: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Feature columns of a steady, mildly moving shot (brightness ~120 with noise), with the given columns
    overridden; a test changes them further and hands `FrameFeatures(columns)` to the triggers."""
    rng = np.random.default_rng(seed)
    base_diff = rng.uniform(1.5, 3.0, count)
    base_texture = rng.uniform(0.05, 0.12, count)
    base_diff[:1] = base_texture[:1] = 0.0
    return {
        "frame_index": np.arange(count, dtype=np.int64),
        "pts_s": np.arange(count) / 25.0,
        "brightness_mean": 120 + rng.normal(0, 0.8, count) if brightness is None else brightness,
        "brightness_std": np.full(count, 35.0),
        "diff_prev": base_diff if diff is None else diff,
        "block_diff_max": 4 * base_diff if diff is None else diff,
        "texture_diff_prev": base_texture if texture_diff is None else texture_diff,
        "sharpness": np.full(count, 80.0),
        "phash": scene_hashes(rng, count) if hashes is None else hashes,
    }


def features_table(**overrides) -> FrameFeatures:
    """`FrameFeatures` of `feature_columns(**overrides)`, for tests that change nothing else."""
    return FrameFeatures(feature_columns(**overrides))


def hits_of(trigger: str, columns: dict[str, np.ndarray], config: object | None = None) -> list[tuple[int, int]]:
    return [(hit.first_frame, hit.last_frame) for hit in run_trigger(trigger, FrameFeatures(columns), config=config)]


@pytest.mark.parametrize("window", [1, 2, 3, 4, 7, 24, 25])
@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 24, 26, 200])
def test_centered_median_is_pandas_rolling_median(window: int, count: int) -> None:
    """The triggers' baselines are exactly what pandas' centred rolling median gave, also for clips shorter than
    the window and for even windows and counts (the mean of the two middle values)."""
    rng = np.random.default_rng(count * 100 + window)
    for values in (rng.normal(120, 30, count), rng.integers(0, 4, count).astype(np.float64)):
        expected = pd.Series(values, dtype=np.float64).rolling(window, center=True, min_periods=1).median()
        assert np.array_equal(centered_median(values, window), expected.to_numpy())


def test_image_level_triggers_are_registered() -> None:
    assert set(IMAGE_TRIGGERS) <= set(registered_triggers())


def test_steady_shot_triggers_nothing() -> None:
    assert run_triggers(features_table(), names=IMAGE_TRIGGERS) == []


def test_flicker_burst_is_found() -> None:
    features = feature_columns()
    features["brightness_mean"][40:43] += 50
    features["texture_diff_prev"][40] = 0.2
    features["texture_diff_prev"][43] = 0.2
    (hit,) = run_trigger("flicker", FrameFeatures(features))
    assert (hit.first_frame, hit.last_frame) == (40, 42)
    assert hit.score == 1.0 and hit.details["peak_deviation"] > 45


def test_oscillating_flicker_is_one_hit() -> None:
    features = feature_columns()
    features["brightness_mean"][[50, 52, 54, 56]] -= 40
    assert hits_of("flicker", features) == [(50, 56)]


def test_small_brightness_wobble_is_no_flicker() -> None:
    features = feature_columns()
    features["brightness_mean"][30:33] += 5
    assert hits_of("flicker", features) == []


def test_jump_without_revert_is_a_cut_not_a_flicker() -> None:
    rng = np.random.default_rng(3)
    brightness = np.concatenate([np.full(60, 90.0), np.full(60, 160.0)]) + rng.normal(0, 0.8, 120)
    texture_diff = rng.uniform(0.05, 0.12, 120)
    texture_diff[60] = 1.1
    hashes = np.concatenate([scene_hashes(rng, 60), scene_hashes(rng, 60)])
    features = features_table(brightness=brightness, texture_diff=texture_diff, hashes=hashes)
    hits = run_triggers(features, names=IMAGE_TRIGGERS)
    assert [(hit.trigger, hit.first_frame, hit.last_frame) for hit in hits] == [("cut", 60, 60)]
    assert 0.5 < hits[0].score <= 1.0


def test_lighting_step_that_stays_is_no_flicker() -> None:
    features = feature_columns()
    features["brightness_mean"][70:] += 60
    assert hits_of("flicker", features) == []


def test_brightness_burst_with_new_content_is_no_flicker() -> None:
    features = feature_columns()
    features["brightness_mean"][40:42] += 50
    features["texture_diff_prev"][[40, 42]] = 1.0
    assert hits_of("flicker", features) == []


def test_corrupted_frame_is_a_glitch_and_not_a_cut() -> None:
    rng = np.random.default_rng(5)
    features = feature_columns()
    features["phash"][80] = np.uint64(int(rng.integers(0, 2**63)))
    features["texture_diff_prev"][[80, 81]] = 1.2
    hits = run_triggers(FrameFeatures(features), names=IMAGE_TRIGGERS)
    assert [(hit.trigger, hit.first_frame, hit.last_frame) for hit in hits] == [("glitch", 80, 80)]


def test_two_frame_glitch_is_one_hit() -> None:
    features = feature_columns()
    features["phash"][[80, 81]] = ~features["phash"][79]
    features["texture_diff_prev"][[80, 82]] = 1.2
    assert hits_of("glitch", features) == [(80, 81)]


def test_busy_shot_with_high_texture_difference_everywhere_has_no_spikes() -> None:
    rng = np.random.default_rng(9)
    features = features_table(
        texture_diff=rng.uniform(0.55, 0.75, 120), hashes=rng.integers(0, 2**63, 120).astype(np.uint64)
    )
    assert run_triggers(features, names=("glitch", "cut")) == []


def test_frozen_stretch_is_found() -> None:
    features = feature_columns()
    features["block_diff_max"][20:50] = 0.05
    (hit,) = run_trigger("frozen", FrameFeatures(features))
    assert (hit.first_frame, hit.last_frame) == (19, 49)
    assert hit.details["frames"] == 31
    assert hits_of("frozen", features, FrozenConfig(min_frames=40)) == []


def test_a_still_room_with_one_moving_person_is_not_frozen() -> None:
    """The whole-frame mean difference is near 0, but one block changes: the picture is live."""
    features = feature_columns()
    features["diff_prev"][20:50] = 0.05
    features["block_diff_max"][20:50] = 12.0
    assert hits_of("frozen", features) == []


def test_single_frame_clip_triggers_nothing() -> None:
    assert run_triggers(features_table(count=1), names=IMAGE_TRIGGERS) == []


def test_empty_features_trigger_nothing() -> None:
    assert run_triggers(features_table(count=0), names=IMAGE_TRIGGERS) == []


def test_all_black_clip_is_frozen_and_nothing_else() -> None:
    count = 100
    features = feature_columns(
        count=count,
        brightness=np.zeros(count),
        texture_diff=np.zeros(count),
        hashes=np.full(count, 0x8000000000000000, dtype=np.uint64),
        diff=np.zeros(count),
    )
    features["brightness_std"] = np.zeros(count)
    hits = run_triggers(FrameFeatures(features), names=IMAGE_TRIGGERS)
    assert [(hit.trigger, hit.first_frame, hit.last_frame) for hit in hits] == [("frozen", 0, count - 1)]


def test_real_one_frame_clip_triggers_nothing(tmp_path: Path) -> None:
    path = encode(tmp_path / "one.mp4", [np.full((64, 96, 3), 128, dtype=np.uint8)])
    features = compute_features(path)
    assert len(features) == 1
    assert run_triggers(features, names=IMAGE_TRIGGERS) == []


def test_real_all_black_clip_is_frozen_without_flicker(tmp_path: Path) -> None:
    path = encode(tmp_path / "black.mp4", [np.zeros((64, 96, 3), dtype=np.uint8)] * 40)
    hits = run_triggers(compute_features(path), names=IMAGE_TRIGGERS)
    assert [(hit.trigger, hit.first_frame, hit.last_frame) for hit in hits] == [("frozen", 0, 39)]


def test_real_clip_events_are_found_by_the_right_trigger(event_clip) -> None:
    hits = run_triggers(compute_features(event_clip.path), names=IMAGE_TRIGGERS)
    assert [(hit.trigger, hit.first_frame, hit.last_frame) for hit in hits] == [
        ("flicker", *event_clip.flicker),
        ("frozen", *event_clip.frozen),
        ("cut", event_clip.cut, event_clip.cut),
        ("glitch", event_clip.glitch, event_clip.glitch),
    ]
    assert all(0 < hit.score <= 1 for hit in hits)


def test_frame_indices_of_hits_are_the_clip_frame_numbers() -> None:
    features = feature_columns()
    features["frame_index"] += 1000
    features["brightness_mean"][40:43] += 50
    assert hits_of("flicker", features) == [(1040, 1042)]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("brightness_mean", np.nan, "brightness_mean has 1 NaN"),
        ("brightness_mean", 300.0, r"expected finite values in \[0.0, 255.0\]"),
        ("block_diff_max", -1.0, "block_diff_max"),
        ("texture_diff_prev", np.inf, "texture_diff_prev"),
        ("brightness_std", np.nan, "brightness_std"),
    ],
)
def test_nan_and_out_of_range_features_are_rejected(column: str, value: float, message: str) -> None:
    features = feature_columns()
    features[column][10] = value
    with pytest.raises(TriggerError, match=message):
        run_triggers(FrameFeatures(features))


def test_missing_columns_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    columns = feature_columns()
    del columns["phash"]
    with pytest.raises(FeaturesError, match=r"lacks columns \['phash'\]"):
        FrameFeatures(columns)
    monkeypatch.setattr(triggers, "_REGISTRY", dict(triggers._REGISTRY))
    register_trigger("test_needs_depth", DarkConfig, required_columns=("depth",))(lambda *arguments: [])
    with pytest.raises(TriggerError, match=r"lack columns \['depth'\]"):
        run_trigger("test_needs_depth", features_table())


def test_phash_of_the_wrong_type_is_rejected() -> None:
    columns = feature_columns()
    columns["phash"] = columns["phash"].astype(np.float64)
    with pytest.raises(FeaturesError, match="phash holds float64"):
        FrameFeatures(columns)


def test_unordered_frames_are_rejected() -> None:
    features = features_table().rows(slice(None, None, -1))
    with pytest.raises(TriggerError, match="strictly increasing"):
        run_triggers(features)


@pytest.mark.parametrize(
    "make_config",
    [
        lambda: FlickerConfig(min_deviation=0),
        lambda: FlickerConfig(max_frames=-3),
        lambda: GlitchConfig(min_texture_diff=float("nan")),
        lambda: CutConfig(settle_frames=0),
        lambda: FrozenConfig(max_block_diff=-0.1),
    ],
)
def test_nonsense_configs_are_rejected(make_config) -> None:
    with pytest.raises(TriggerError, match="must be a positive number"):
        make_config()


def test_config_of_the_wrong_trigger_is_rejected() -> None:
    with pytest.raises(TriggerError, match="takes a FlickerConfig, got CutConfig"):
        run_trigger("flicker", features_table(), config=CutConfig())


def test_unknown_trigger_and_stray_configs_are_rejected() -> None:
    with pytest.raises(TriggerError, match="unknown trigger 'nope'"):
        run_triggers(features_table(), names=["nope"])
    with pytest.raises(TriggerError, match="not run"):
        run_triggers(features_table(), configs={"cut": CutConfig()}, names=["flicker"])


def test_hits_with_bad_ranges_or_scores_are_rejected() -> None:
    with pytest.raises(TriggerError, match=r"frames 5\.\.4"):
        Hit("x", 5, 4, 0.5)
    with pytest.raises(TriggerError, match=r"score 1.5, expected a value in \[0, 1\]"):
        Hit("x", 1, 2, 1.5)


@dataclass(frozen=True)
class DarkConfig:
    below: float = 30.0


def test_teams_can_register_their_own_trigger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(triggers, "_REGISTRY", dict(triggers._REGISTRY))

    @register_trigger("test_too_dark", DarkConfig, required_columns=("brightness_mean",))
    def too_dark(features: FrameFeatures, detections, config: DarkConfig) -> list[Hit]:
        dark = features["frame_index"][features["brightness_mean"] < config.below]
        return [Hit("test_too_dark", int(frame), int(frame), 1.0) for frame in dark]

    features = feature_columns()
    features["brightness_mean"][7] = 10.0
    assert "test_too_dark" in registered_triggers()
    assert hits_of("test_too_dark", features) == [(7, 7)]
    assert hits_of("test_too_dark", features, DarkConfig(below=5.0)) == []
    with pytest.raises(TriggerError, match="already registered"):
        register_trigger("test_too_dark", DarkConfig)


def test_a_still_scene_from_a_live_camera_is_not_frozen_a_stuck_camera_is(tmp_path: Path) -> None:
    """The same proving-ground scene twice: its static stretch filmed live (fresh camera noise) is a still scene,
    not a frozen picture; filmed by a stuck camera it is one."""
    live = generate(tmp_path, seed=101)
    stuck = generate(tmp_path, seed=101, stuck_camera=True)
    (static,) = live.truth().events_of("static")
    assert stuck.truth().events == live.truth().events
    assert run_trigger("frozen", compute_features(live.video_path)) == []
    (hit,) = run_trigger("frozen", compute_features(stuck.video_path))
    assert hit.first_frame <= static.first_frame + 1 and hit.last_frame >= static.last_frame - 2
