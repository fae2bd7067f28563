"""The hindsight-disagreement trigger and the ranking that keeps model-level flags to a clip's few best frames."""

import numpy as np
import pytest

from data_engine.mining.config import MiningConfig
from data_engine.mining.frame_ranking import top_frames
from data_engine.mining.hindsight_disagreement import HindsightDisagreementConfig, disagreements
from data_engine.mining.model_triggers import DisagreementConfig, operating_configs
from data_engine.mining.triggers import TriggerError, run_trigger, run_triggers, trigger_spec, triggers_for
from data_engine.settings import Settings
from tests.data_engine.mining.test_model_triggers import frames_of, moving_box, one_object


def test_a_steady_track_gives_no_hit() -> None:
    assert run_trigger("hindsight_disagreement", None, frames_of(40, one_object(40))) == []


def test_a_blip_and_a_gap_are_the_frames_flagged() -> None:
    boxes = one_object(40, skip=(20,))
    boxes[8].append(([300.0, 200.0, 340.0, 240.0], 0.6, 0))  # a one-frame false box: hindsight removes it
    frames, scored = disagreements(frames_of(40, boxes), threshold=0.25, iou_match=0.5)
    assert (scored[8].removed, scored[8].filled) == (1, 0)
    assert (scored[20].removed, scored[20].filled) == (0, 1)  # the missed frame inside the track is filled
    others = [found for frame, found in zip(frames, scored, strict=True) if frame not in (8, 20)]
    assert all(found.removed == found.filled == 0 for found in others)
    hits = run_trigger("hindsight_disagreement", None, frames_of(40, boxes), HindsightDisagreementConfig(share=0.5))
    assert [(hit.first_frame, hit.last_frame) for hit in hits] == [(8, 8), (20, 20)]  # most estimated errors first
    assert hits[0].details == {"removed": 1, "filled": 0, "uncertain": 0.8, "estimated_errors": 1.8}
    assert hits[0].score == pytest.approx(1.8 / 3.8) and hits[1].score == pytest.approx(1 / 3)


def test_a_trigger_flags_at_most_its_share_of_the_clip() -> None:
    boxes = {frame: [(moving_box(frame), 0.8, 0)] for frame in range(100)}
    false_frames = range(0, 100, 4)  # 25 one-frame false boxes, each somewhere else
    for frame in false_frames:
        x = 100.0 + (frame * 37) % 400
        boxes[frame].append(([x, 300.0, x + 30.0, 340.0], 0.6, 0))
    hits = run_trigger("hindsight_disagreement", None, frames_of(100, boxes))
    assert len(hits) == 10  # 10 % of the clip's 100 frames
    assert {hit.first_frame for hit in hits} <= set(false_frames)


def test_near_duplicates_are_not_flagged_twice() -> None:
    scores = np.array([5.0, 4.0, 3.0, 2.0])
    frames = np.arange(4)
    assert top_frames(frames, scores, 1.0, 1.0, {}, 8) == [0, 1, 2, 3]
    hashes = {0: 0, 1: 0b1111, 2: (1 << 64) - 1, 3: 0b11}
    assert top_frames(frames, scores, 1.0, 1.0, hashes, 8) == [0, 2]  # 1 and 3 lie within 8 bits of frame 0
    assert top_frames(frames, scores, 0.5, 3.5, {}, 8) == [0, 1]  # the share and the minimum score both cap


def test_near_duplicates_are_found_among_hashes_above_two_to_the_63() -> None:
    """Half of all phashes are at least 2**63: kept beside a small one, they stay exact 64-bit integers (a list of
    both made a float array, and frame 2, one bit from frame 0, was flagged again)."""
    scores, frames = np.array([5.0, 4.0, 3.0]), np.arange(3)
    hashes = {0: (1 << 64) - 1, 1: 0, 2: (1 << 64) - 1 - (1 << 40)}
    assert top_frames(frames, scores, 1.0, 1.0, hashes, 8) == [0, 1]


def test_the_stretch_flagging_triggers_run_only_when_named() -> None:
    defaults = triggers_for(None, detections=True, reference=True)
    assert "hindsight_disagreement" in defaults and "model_disagreement" in defaults and "flicker" in defaults
    assert not {"box_jump", "count_oscillation", "detection_flicker", "class_flip"} & set(defaults)
    assert "model_disagreement" not in triggers_for(None, detections=True, reference=False)
    assert triggers_for(["flicker", "box_jump"], detections=False, reference=False) == ["flicker"]
    assert triggers_for(["flicker", "box_jump"], detections=True, reference=False) == ["flicker", "box_jump"]
    assert not trigger_spec("box_jump").default
    with pytest.raises(TriggerError, match="unknown trigger 'bogus'"):
        triggers_for(["bogus"], detections=True, reference=False)
    hits = run_triggers(None, frames_of(30, one_object(30, skip=(15,))))
    assert {hit.trigger for hit in hits} <= {"hindsight_disagreement"}


def test_the_triggers_setting_reaches_the_mining_config() -> None:
    settings = Settings.from_env({"DATA_ENGINE_TRIGGERS": "flicker, box_jump"})
    config = MiningConfig.from_settings(settings)
    assert config.triggers == ("flicker", "box_jump")
    assert MiningConfig.from_settings(Settings.from_env({})).triggers is None
    assert MiningConfig().quotas == {"hindsight_disagreement": 1.0}


def test_model_level_triggers_count_boxes_from_each_models_operating_threshold() -> None:
    configs = operating_configs(["flicker", "hindsight_disagreement", "model_disagreement", "box_jump"], 0.3, 0.65)
    assert set(configs) == {"hindsight_disagreement", "model_disagreement", "box_jump"}  # flicker reads features
    assert configs["hindsight_disagreement"] == HindsightDisagreementConfig(threshold=0.3)
    assert configs["model_disagreement"] == DisagreementConfig(threshold=0.3, reference_threshold=0.65)
    fast = frames_of(20, one_object(20, score=0.5))
    unsure = frames_of(20, one_object(20, score=0.5))  # the reference's boxes, under its own threshold
    assert run_trigger("model_disagreement", None, fast, configs["model_disagreement"], unsure)
    assert run_trigger("model_disagreement", None, fast, DisagreementConfig(threshold=0.3), unsure) == []
