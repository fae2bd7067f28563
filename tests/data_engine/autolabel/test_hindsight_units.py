"""Hindsight on hand-built detections: each repair (gap fill, blip removal, class vote, smoothing, duplicates,
fusion) in isolation, no model needed."""

import numpy as np
import pytest

from data_engine.autolabel import AutolabelError, HindsightParams, apply_hindsight, fuse_frame
from data_engine.autolabel.fusion import COMMON_THRESHOLD, calibrate
from data_engine.detections import Detections, Provenance, provenance_array

NAMES = {0: "car", 1: "person"}


def frame(*boxes, model="m"):
    """Detections from (x1, y1, x2, y2, score, class) tuples."""
    if not boxes:
        return Detections.empty(NAMES)
    table = np.array(boxes, dtype=np.float64)
    return Detections(
        table[:, :4],
        table[:, 4],
        table[:, 5].astype(int),
        provenance=provenance_array(len(boxes), Provenance("detected", (model,))),
        names=NAMES,
    )


def moving_car(index, score=0.8, class_id=0, jitter=0.0):
    x = 10 + 3 * index + jitter
    return (x, 50, x + 40, 70, score, class_id)


def run(per_frame, **params):
    return apply_hindsight(per_frame, NAMES, HindsightParams(**params), width=320, height=240)


def test_missed_frames_inside_a_track_are_interpolated():
    per_frame = [frame(moving_car(i)) if i not in (10, 11, 12) else frame() for i in range(30)]
    labels, counters = run(per_frame)
    assert all(len(labels[i]) == 1 for i in range(30))
    assert labels[11].provenance[0].kind == "interpolated"
    np.testing.assert_allclose(labels[11].xyxy[0], moving_car(11)[:4], atol=0.5)
    assert counters.gaps == 1 and counters.interpolated == 3
    assert labels[11].track_id[0] == labels[0].track_id[0] == 1


def test_blips_and_unsure_tracks_are_spurious():
    per_frame = [frame(moving_car(i)) for i in range(30)]
    per_frame[5] = frame(moving_car(5), (200, 150, 230, 200, 0.9, 1))
    per_frame[20] = frame(moving_car(20), (100, 150, 130, 200, 0.9, 1))
    labels, counters = run(per_frame)
    assert [len(found) for found in labels] == [1] * 30
    assert counters.spurious == 2
    unsure = [frame(moving_car(i, score=0.3 if i == 0 else 0.12)) for i in range(30)]
    labels, _ = run(unsure)
    assert sum(len(found) for found in labels) == 0


def test_unsure_detections_extend_tracks_but_do_not_start_them():
    per_frame = [frame(moving_car(i, score=0.9 if i < 5 else 0.15)) for i in range(20)]
    labels, _ = run(per_frame, min_track_score=0.3)
    assert all(len(found) == 1 for found in labels)


def test_class_flips_are_fixed_by_the_track_vote_and_recorded():
    per_frame = [frame(moving_car(i, class_id=1 if i in (4, 9) else 0)) for i in range(20)]
    labels, counters = run(per_frame)
    assert counters.flips == 2
    assert {int(found.class_id[0]) for found in labels} == {0}
    assert labels[4].provenance[0].relabelled_from == 1 and labels[5].provenance[0].relabelled_from is None


def test_smoothing_removes_jitter_and_keeps_linear_motion():
    rng = np.random.default_rng(0)
    per_frame = [frame(moving_car(i, jitter=float(rng.normal(0, 2)))) for i in range(40)]
    labels, _ = run(per_frame)
    error = np.array([labels[i].xyxy[0, 0] - moving_car(i)[0] for i in range(40)])
    raw_error = np.array([per_frame[i].xyxy[0, 0] - moving_car(i)[0] for i in range(40)])
    assert np.abs(error).mean() < 0.7 * np.abs(raw_error).mean()
    clean, _ = run([frame(moving_car(i)) for i in range(40)])
    np.testing.assert_allclose(clean[17].xyxy[0], moving_car(17)[:4], atol=1e-3)


def test_duplicate_boxes_of_one_object_give_one_track():
    per_frame = [frame(moving_car(i), (*np.add(moving_car(i)[:4], (0, 0, -16, 0)), 0.5, 1)) for i in range(20)]
    labels, counters = run(per_frame)
    assert all(len(found) == 1 for found in labels)
    assert counters.duplicates == 1


def test_crossing_objects_keep_their_tracks():
    def left(i):
        return (10 + 8 * i, 50, 50 + 8 * i, 70, 0.8, 0)

    def right(i):
        return (250 - 8 * i, 52, 290 - 8 * i, 72, 0.8, 1)

    labels, _ = run([frame(left(i), right(i)) for i in range(30)])
    first = {int(t): int(c) for t, c in zip(labels[0].track_id, labels[0].class_id, strict=True)}
    last = {int(t): int(c) for t, c in zip(labels[-1].track_id, labels[-1].class_id, strict=True)}
    assert first == last and len(first) == 2


def test_fusion_merges_agreeing_boxes_at_the_surer_score_and_halves_lonely_ones():
    """Agreeing models keep the surer score (their mean dragged sure boxes down to the unsure model's)."""
    first = frame((10, 10, 50, 50, 0.8, 0), (100, 100, 140, 140, 0.6, 1), model="a")
    second = frame((12, 10, 52, 50, 0.4, 0), model="b")
    fused = fuse_frame([first, second])
    assert len(fused) == 2
    kinds = np.array([provenance.kind for provenance in fused.provenance])
    merged, lonely = fused[kinds == "fused"], fused[kinds == "detected"]
    assert merged.provenance[0] == Provenance("fused", ("a", "b"), fused_from=2)
    assert merged.confidence[0] == pytest.approx(0.8)
    assert merged.xyxy[0, 0] == pytest.approx((10 * 0.8 + 12 * 0.4) / 1.2)
    assert lonely.confidence[0] == pytest.approx(0.3) and lonely.provenance[0].models == ("a",)


def test_calibration_maps_a_models_operating_threshold_onto_the_common_one_and_keeps_the_order():
    scores = frame((0, 0, 5, 5, 0.65, 0), (0, 0, 6, 6, 0.9, 0), (0, 0, 7, 7, 0.3, 0), model="fastestdet")
    calibrated = calibrate(scores, operating_threshold=0.65)
    assert calibrated.confidence[0] == pytest.approx(COMMON_THRESHOLD, abs=1e-6)
    assert list(np.argsort(calibrated.confidence)) == list(np.argsort(scores.confidence))
    assert calibrate(scores, operating_threshold=COMMON_THRESHOLD) is scores


def test_bad_params_raise():
    with pytest.raises(AutolabelError, match="odd"):
        HindsightParams(smooth_window=4)
    with pytest.raises(AutolabelError, match="must be >= 1"):
        HindsightParams(every=0)
