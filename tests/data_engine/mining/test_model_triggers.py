"""Model-level triggers on hand-built detections (each failure built on purpose), then on real proving-ground videos
with the session's tiny, weak detectors, measured against the truth."""

import numpy as np
import pytest

from data_engine.detections import Detections, DetectionsError
from data_engine.detectors import UltralyticsDetector
from data_engine.experiments.mining_triggers import (
    evaluate_model_hits,
    evaluate_models_on_proving_ground,
    format_model_table,
    model_errors,
    occlusion_breaks,
)
from data_engine.mining.model_triggers import (
    DETECTION_TRIGGERS,
    DetectionFlickerConfig,
    DisagreementConfig,
    compare_frame,
    detect_for_mining,
    detect_models_for_mining,
)
from data_engine.mining.triggers import TriggerError, registered_triggers, run_trigger, run_triggers
from data_engine.synthetic import generate
from tests.data_engine.mining.clips import encode
from tests.data_engine.mining.test_triggers import features_table
from tests.model_fixtures import TINY_IMGSZ

NAMES = {0: "car", 1: "person"}
SINGLE_MODEL = tuple(name for name in DETECTION_TRIGGERS if name != "model_disagreement")


def moving_box(frame: int, speed: float = 3.0, y: float = 50.0) -> list[float]:
    x = 20.0 + speed * frame
    return [x, y, x + 40.0, y + 30.0]


def frames_of(
    count: int, boxes: dict[int, list[tuple[list[float], float, int]]], names: dict[int, str] = NAMES
) -> dict[int, Detections]:
    """Per-frame detections from {frame: [(xyxy, score, class), ...]}; frames not listed have no boxes."""
    out = {}
    for frame in range(count):
        entries = boxes.get(frame, [])
        if not entries:
            out[frame] = Detections.empty(names)
            continue
        out[frame] = Detections(
            np.array([xyxy for xyxy, _, _ in entries]),
            np.array([score for _, score, _ in entries]),
            np.array([class_id for _, _, class_id in entries]),
            names=names,
        )
    return out


def one_object(count: int = 30, skip: tuple[int, ...] = (), score: float = 0.8, class_id: int = 0) -> dict:
    return {frame: [(moving_box(frame), score, class_id)] for frame in range(count) if frame not in skip}


def test_a_tracked_object_missing_for_a_frame_is_detection_flicker() -> None:
    hits = run_trigger("detection_flicker", None, frames_of(30, one_object(skip=(12, 13))))
    assert len(hits) == 1
    (hit,) = hits
    assert (hit.first_frame, hit.last_frame, hit.details["kind"], hit.details["missed_frames"]) == (12, 13, "gap", 2)
    assert hit.score == pytest.approx(0.8)
    assert hit.details["x1"] == pytest.approx(moving_box(13)[0])


def test_a_box_living_two_frames_is_a_blip_and_a_steady_track_is_nothing() -> None:
    boxes = one_object()
    for frame in (10, 11):
        boxes[frame].append(([200.0, 150.0, 230.0, 190.0], 0.6, 1))
    hits = run_trigger("detection_flicker", None, frames_of(30, boxes))
    assert [(hit.first_frame, hit.last_frame, hit.details["kind"]) for hit in hits] == [(10, 11, "blip")]
    assert run_triggers(None, frames_of(30, one_object()), names=SINGLE_MODEL) == []


def test_a_box_found_but_not_linked_is_no_miss() -> None:
    """The object is detected at frame 12, only too far off for the tracker: that is a box jump, not a miss."""
    boxes = one_object()
    boxes[12] = [([moving_box(12)[0] + 14, 50.0, moving_box(12)[0] + 54, 80.0], 0.8, 0)]
    hits = run_triggers(None, frames_of(30, boxes), names=["detection_flicker", "box_jump"])
    assert {hit.trigger for hit in hits} == {"box_jump"}


def test_class_flips_inside_a_track() -> None:
    boxes = one_object()
    for frame in (15, 16):
        boxes[frame] = [(moving_box(frame), 0.8, 1)]
    hits = run_trigger("class_flip", None, frames_of(30, boxes))
    assert [(hit.first_frame, hit.last_frame) for hit in hits] == [(14, 15), (16, 17)]
    assert hits[0].details["from_class"] == 0 and hits[0].details["to_class"] == 1
    assert hits[0].score == pytest.approx(2 * 2 / 30)


def test_a_box_jumping_off_its_motion() -> None:
    boxes = one_object()
    boxes[20] = [([moving_box(20)[0] + 20, 60.0, moving_box(20)[0] + 60, 90.0], 0.8, 0)]
    hits = run_trigger("box_jump", None, frames_of(30, boxes))
    assert (hits[0].first_frame, hits[0].last_frame) == (19, 20)
    assert hits[0].details["iou_with_prediction"] < 0.55 and 0 < hits[0].score <= 1


def test_object_count_oscillation() -> None:
    boxes = one_object(40)
    for frame in (10, 12, 14):
        boxes[frame].append(([200.0, 150.0, 230.0, 190.0], 0.6, 1))
    hits = run_trigger("count_oscillation", None, frames_of(40, boxes))
    assert [(hit.first_frame, hit.last_frame) for hit in hits] == [(9, 15)]
    assert hits[0].details["reversals"] == 5 and hits[0].details["max_count"] == 2


def test_confidence_oscillating_around_the_threshold() -> None:
    boxes = {frame: [(moving_box(frame), 0.4 if frame % 2 else 0.1, 0)] for frame in range(20)}
    boxes.update({frame: [(moving_box(frame), 0.8, 0)] for frame in range(20, 40)})
    hits = run_trigger("confidence_oscillation", None, frames_of(40, boxes))
    assert len(hits) == 1 and hits[0].first_frame == 1 and hits[0].last_frame <= 20
    assert hits[0].details["crossings"] >= 10 and hits[0].score == 1.0
    steady = {frame: [(moving_box(frame), 0.24 if frame % 2 else 0.22, 0)] for frame in range(40)}
    assert run_trigger("confidence_oscillation", None, frames_of(40, steady)) == []


def test_two_models_agreeing_give_no_hit_and_the_worst_disagreeing_frames_are_flagged() -> None:
    fast = frames_of(20, one_object(20))
    assert run_trigger("model_disagreement", None, fast, reference_detections=fast) == []
    reference_boxes = one_object(20)
    for frame in (5, 6, 7):
        reference_boxes[frame].append(([200.0, 150.0, 230.0, 190.0], 0.9, 1))
    for frame in (14, 15):
        reference_boxes[frame] = [(moving_box(frame), 0.8, 1)]
    reference = frames_of(20, reference_boxes)
    wide = DisagreementConfig(share=0.5)
    hits = sorted(run_trigger("model_disagreement", None, fast, wide, reference), key=lambda hit: hit.first_frame)
    assert [(hit.first_frame, hit.last_frame) for hit in hits] == [(5, 5), (6, 6), (7, 7), (14, 14), (15, 15)]
    assert hits[0].details["only_reference"] == 1 and hits[0].score == pytest.approx(1 - 2 / 3)
    assert hits[3].details["class_conflicts"] == 1 and hits[3].score == 1.0
    # By default only the clip's worst 5 % (here one frame): a class conflict before an extra box.
    (worst,) = run_trigger("model_disagreement", None, fast, reference_detections=reference)
    assert worst.first_frame == 14 and worst.score == 1.0


def test_agreement_is_one_minus_f1() -> None:
    fast = frames_of(1, {0: [(moving_box(0), 0.9, 0), ([200.0, 150.0, 230.0, 190.0], 0.9, 1)]})[0]
    reference = frames_of(1, {0: [(moving_box(0), 0.9, 0)]})[0]
    agreement = compare_frame(fast, reference)
    assert (agreement.agreeing, agreement.only_primary, agreement.only_reference) == (1, 1, 0)
    assert agreement.disagreement == pytest.approx(1 - 2 / 3)
    assert compare_frame(Detections.empty(), Detections.empty()).disagreement == 0.0


def test_models_with_different_classes_need_a_class_map() -> None:
    fast = frames_of(10, one_object(10))
    other_names = {0: "vehicle", 1: "pedestrian"}
    reference = frames_of(10, one_object(10), names=other_names)
    with pytest.raises(TriggerError, match=r"different classes.*class_map"):
        run_trigger("model_disagreement", None, fast, reference_detections=reference)
    mapped = DisagreementConfig(class_map={"vehicle": "car", "pedestrian": "person"})
    assert run_trigger("model_disagreement", None, fast, mapped, reference_detections=reference) == []
    with pytest.raises(TriggerError, match="lacks"):
        run_trigger("model_disagreement", None, fast, DisagreementConfig(class_map={"vehicle": "truck"}), reference)


def test_nan_or_out_of_range_scores_are_rejected() -> None:
    with pytest.raises(DetectionsError, match=r"\[0, 1\]"):
        Detections(np.array([moving_box(0)]), np.array([np.nan]), np.array([0]))
    for bad in (np.nan, 1.5, -0.1):
        detections = frames_of(10, one_object(10))
        detections[4].confidence[0] = bad
        with pytest.raises(TriggerError, match="frame 4 has 1 NaN or out-of-range scores"):
            run_triggers(None, detections)
        with pytest.raises(TriggerError, match="reference detections of frame 4"):
            run_trigger("model_disagreement", None, frames_of(10, one_object(10)), reference_detections=detections)


def test_malformed_detection_inputs_are_rejected() -> None:
    with pytest.raises(TriggerError, match="keyed by frame index"):
        run_triggers(None, {-1: Detections.empty()})
    with pytest.raises(TriggerError, match="expected Detections"):
        run_triggers(None, {0: [moving_box(0)]})
    with pytest.raises(TriggerError, match="lack their input"):
        run_triggers(features_table(), names=["detection_flicker"])
    with pytest.raises(TriggerError, match="lack their input"):
        run_triggers(None, frames_of(5, {}), names=["model_disagreement"])
    with pytest.raises(TriggerError, match="positive"):
        DetectionFlickerConfig(threshold=0)
    with pytest.raises(TriggerError, match="takes a DetectionFlickerConfig"):
        run_trigger("detection_flicker", None, frames_of(5, {}), DisagreementConfig())
    with pytest.raises(TriggerError, match="min_score"):
        DisagreementConfig(min_score=1.5)


def test_image_only_mining_skips_the_model_triggers_and_nothing_found_gives_no_hits() -> None:
    assert set(DETECTION_TRIGGERS) <= set(registered_triggers())
    assert all(hit.trigger not in DETECTION_TRIGGERS for hit in run_triggers(features_table()))
    nothing = frames_of(50, {})
    assert run_triggers(features_table(count=50), nothing, reference_detections=nothing) == []
    assert run_triggers(None, {}, reference_detections={}) == []
    assert run_triggers(None, frames_of(1, one_object(1)), reference_detections=frames_of(1, {})) != []


def test_sampled_frames_keep_their_indices(tmp_path, tiny_detector_weights) -> None:
    """detect_for_mining on every 3rd frame; an all-black clip where the detector finds nothing mines quietly."""
    video = generate(tmp_path, seed=5, seconds=2)
    detector = UltralyticsDetector(tiny_detector_weights, imgsz=TINY_IMGSZ, conf=0.05)
    sampled = detect_for_mining(video.video_path, detector, every=3)
    assert sorted(sampled) == list(range(0, 50, 3))
    assert all(isinstance(found, Detections) for found in sampled.values())
    black = encode(tmp_path / "black.mp4", [np.zeros((96, 128, 3), np.uint8)] * 20)
    sure = UltralyticsDetector(tiny_detector_weights, imgsz=TINY_IMGSZ, conf=0.9)  # a weak model may see ghosts at 0.05
    per_model = detect_models_for_mining(black, [sure])
    nothing = per_model[sure.model_id]
    assert len(nothing) == 20 and sum(len(found) for found in nothing.values()) == 0
    assert run_triggers(None, nothing, reference_detections=nothing) == []


@pytest.fixture(scope="module")
def proving_ground_models(tmp_path_factory, tiny_detector_weights, second_tiny_detector_weights):
    fast = UltralyticsDetector(tiny_detector_weights, imgsz=TINY_IMGSZ, conf=0.05)
    reference = UltralyticsDetector(second_tiny_detector_weights, imgsz=TINY_IMGSZ, conf=0.05)
    return evaluate_models_on_proving_ground(
        (0, 1), tmp_path_factory.mktemp("model_mining"), fast, reference, seconds=20.0
    )


def test_detection_flicker_finds_the_occlusions_the_weak_model_breaks_on(proving_ground_models) -> None:
    print("\n" + format_model_table(proving_ground_models))
    flicker = proving_ground_models["detection_flicker"]
    assert flicker.events >= 4
    assert flicker.recall >= 0.8
    assert flicker.precision >= 0.8
    assert set(proving_ground_models) == set(DETECTION_TRIGGERS)


def test_the_other_model_triggers_point_at_real_errors(proving_ground_models) -> None:
    for trigger in ("box_jump", "confidence_oscillation", "model_disagreement", "count_oscillation"):
        score = proving_ground_models[trigger]
        assert score.hits > 0 and score.precision >= 0.8, trigger


def test_errors_and_breaks_of_a_model_that_sees_what_is_visible(tmp_path) -> None:
    """A model that finds exactly the objects at least 30 % visible is never wrong about well visible ones, and its
    tracks break on every full occlusion, which detection flicker finds."""
    truth = generate(tmp_path, seed=3, seconds=10).truth()
    perfect = {frame: truth.boxes_at(frame, min_visibility=0.3) for frame in range(truth.frame_count)}
    assert not any(error.wrong for error in model_errors(perfect, truth, min_visibility=0.5).values())
    amodal = model_errors(perfect, truth)
    hidden = {frame for frame, boxes in enumerate(truth.frames) if any(box.visibility < 0.3 for box in boxes)}
    occluded = {frame for e in truth.events_of("full_occlusion") for frame in range(e.first_frame, e.last_frame + 1)}
    assert {frame for frame, error in amodal.items() if error.wrong} == hidden and occluded <= hidden
    assert occlusion_breaks(perfect, truth) == truth.events_of("full_occlusion")
    hits = run_triggers(None, perfect, names=["detection_flicker"])
    scores = evaluate_model_hits(hits, perfect, truth, triggers=["detection_flicker"])["detection_flicker"]
    assert scores.events == 2 and scores.recall == 1.0 and scores.precision == 1.0
    blind = {frame: Detections.empty(truth.names) for frame in range(truth.frame_count)}
    errors = model_errors(blind, truth)
    assert all(error.wrong == bool(truth.frames[frame]) for frame, error in errors.items())
    scores = evaluate_model_hits([], blind, truth)
    assert scores["detection_flicker"].hits == 0 and scores["detection_flicker"].base_rate > 0
