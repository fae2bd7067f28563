"""Selection under a budget: quotas, near-duplicates, diversity, yields, reasons, cold start, bad input."""

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from data_engine.mining.features import FEATURE_COLUMNS, FrameFeatures, compute_features, hamming
from data_engine.mining.selection import (
    DEFAULT_DUPLICATE_DISTANCE,
    ChosenFrame,
    FrameCandidate,
    SelectionError,
    _diversity_order,
    candidates_from_hits,
    diversity_sample,
    select_frames,
)
from data_engine.mining.triggers import Hit


def far_apart_hashes(count: int, seed: int = 0) -> np.ndarray:
    """Random 64-bit hashes: any two differ by about 32 bits, far beyond the duplicate distance."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**63, count, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)


def make_candidates(triggers: dict[str, int], clips: int = 4, videos: int = 2, seed: int = 0) -> list[FrameCandidate]:
    """`count` candidates per trigger spread over clips and videos, distinct frames, hashes far apart."""
    rng = np.random.default_rng(seed)
    hashes = far_apart_hashes(sum(triggers.values()), seed)
    out = []
    for trigger, count in triggers.items():
        for _ in range(count):
            clip = int(rng.integers(0, clips))
            out.append(
                FrameCandidate(
                    f"clip{clip}",
                    f"video{clip % videos}",
                    len(out),
                    int(hashes[len(out)]),
                    trigger,
                    float(rng.uniform(0.1, 1.0)),
                    hit=len(out),
                )
            )
    return out


def pairwise_min_distance(hashes: list[int]) -> int:
    array = np.array(hashes, dtype=np.uint64)
    distances = hamming(array[:, None], array[None, :])
    np.fill_diagonal(distances, 64)
    return int(distances.min()) if len(array) > 1 else 64


def test_budget_and_quotas_are_respected_when_every_trigger_has_plenty() -> None:
    candidates = make_candidates({"detection_flicker": 200, "box_jump": 200, "flicker": 200})
    selection = select_frames(candidates, budget=100, quotas={"detection_flicker": 0.5, "box_jump": 0.3})
    assert len(selection.frames) == 100
    assert selection.quotas == {"box_jump": 30, "detection_flicker": 50, "flicker": 20}
    assert selection.per_trigger == {"detection_flicker": 50, "box_jump": 30, "flicker": 20}


def test_unused_quota_flows_to_the_other_triggers() -> None:
    candidates = make_candidates({"detection_flicker": 10, "box_jump": 200})
    selection = select_frames(candidates, budget=60, quotas={"detection_flicker": 0.5, "box_jump": 0.5})
    assert selection.per_trigger == {"detection_flicker": 10, "box_jump": 50}


def test_budget_zero_selects_nothing_and_fewer_candidates_than_budget_selects_them_all() -> None:
    candidates = make_candidates({"cut": 5})
    assert select_frames(candidates, budget=0).frames == ()
    assert len(select_frames(candidates, budget=50).frames) == 5
    assert select_frames([], budget=10).frames == ()


def test_near_duplicates_are_skipped_against_this_call_and_the_dataset() -> None:
    base = int(far_apart_hashes(1, seed=3)[0])
    near = base ^ 0b1111111  # 7 bits away
    far = base ^ (2**40 - 1)  # 40 bits away
    candidates = [
        FrameCandidate("a", "v", 1, base, "cut", 0.9),
        FrameCandidate("a", "v", 2, near, "cut", 0.8),
        FrameCandidate("b", "v", 3, far, "cut", 0.7),
    ]
    selection = select_frames(candidates, budget=10)
    assert [frame.frame for frame in selection.frames] == [1, 3] and selection.duplicates_skipped == 1
    in_dataset = select_frames(candidates, budget=10, existing_hashes=np.array([near ^ 1], dtype=np.uint64))
    assert [frame.frame for frame in in_dataset.frames] == [3]
    strict = select_frames(candidates, budget=10, max_distance=6)
    assert len(strict.frames) == 3


def test_a_frame_hit_by_several_triggers_is_one_frame_with_every_reason() -> None:
    phash = int(far_apart_hashes(1)[0])
    candidates = [
        FrameCandidate("a", "v", 7, phash, "box_jump", 0.4, hit=11),
        FrameCandidate("a", "v", 7, phash, "detection_flicker", 0.9, hit=12),
    ]
    (frame,) = select_frames(candidates, budget=5).frames
    assert frame.trigger == "detection_flicker" and frame.weight == 0.9
    assert [reason.to_dict() for reason in frame.reasons] == [
        {"trigger": "detection_flicker", "score": 0.9, "hit": 12},
        {"trigger": "box_jump", "score": 0.4, "hit": 11},
    ]
    record = frame.to_dict()
    assert record["clip_id"] == "a" and record["frame"] == 7 and len(record["phash"]) == 16


def test_yield_weights_change_the_mix() -> None:
    """Quotas hold a quarter of the budget each; the half that flows freely goes by weight, so a low-yield trigger
    gets less of it. A frame hit by two triggers counts against the one with the better weighted score."""
    candidates = make_candidates({"detection_flicker": 100, "box_jump": 100})
    quotas = {"detection_flicker": 0.25, "box_jump": 0.25}
    plain = select_frames(candidates, budget=40, quotas=quotas)
    tilted = select_frames(candidates, budget=40, quotas=quotas, yields={"box_jump": 0.1})
    assert min(plain.per_trigger.values()) >= 10 and min(tilted.per_trigger.values()) >= 10
    assert tilted.per_trigger["detection_flicker"] > plain.per_trigger["detection_flicker"]
    assert tilted.per_trigger["detection_flicker"] >= 28
    mixed = [FrameCandidate(c.clip_id, c.video_id, c.frame, c.phash, "box_jump", c.score) for c in candidates[:50]] + [
        FrameCandidate(c.clip_id, c.video_id, c.frame, c.phash, "detection_flicker", c.score) for c in candidates[:50]
    ]
    low_yield = select_frames(mixed, budget=50, yields={"box_jump": 0.2})
    assert all(frame.trigger == "detection_flicker" for frame in low_yield.frames)


def test_diversity_takes_every_video_and_clip_before_seconds() -> None:
    hashes = far_apart_hashes(60, seed=9)
    candidates = [
        FrameCandidate(
            f"clip{index % 6}", f"video{index % 3}", index, int(hashes[index]), "cut", 1.0 if index < 6 else 0.5
        )
        for index in range(60)
    ]
    candidates += [FrameCandidate("clip0", "video0", 1000 + i, int(hashes[i] ^ 2**63), "cut", 0.99) for i in range(1)]
    selection = select_frames(candidates, budget=6)
    assert {frame.clip_id for frame in selection.frames} == {f"clip{index}" for index in range(6)}
    capped = select_frames(candidates, budget=60, max_per_clip=2)
    assert max(Counter(frame.clip_id for frame in capped.frames).values()) == 2
    assert len(capped.frames) == 12 and capped.capped_skipped > 0


@settings(max_examples=60, deadline=None)
@given(
    budget=st.integers(0, 40),
    bits=st.lists(st.integers(0, 2**64 - 1), min_size=0, max_size=60),
    max_distance=st.integers(0, 20),
    shares=st.lists(st.floats(0.0, 0.5), min_size=3, max_size=3),
)
def test_never_over_budget_and_never_two_near_duplicates(budget, bits, max_distance, shares) -> None:
    triggers = ("flicker", "cut", "box_jump")
    candidates = [
        FrameCandidate(f"clip{index % 5}", f"video{index % 2}", index, value, triggers[index % 3], (index % 7) / 6)
        for index, value in enumerate(bits)
    ]
    existing = np.array(bits[::7], dtype=np.uint64)
    quotas = dict(zip(triggers, shares, strict=True)) if sum(shares) <= 1 else None
    selection = select_frames(candidates, budget, quotas, existing_hashes=existing[:2], max_distance=max_distance)
    assert len(selection.frames) <= budget
    chosen = [frame.phash for frame in selection.frames]
    assert pairwise_min_distance(chosen) > max_distance
    if chosen and len(existing[:2]):
        assert hamming(np.array(chosen, dtype=np.uint64)[:, None], existing[:2][None, :]).min() > max_distance
    sample = diversity_sample(
        {
            "clip_id": [c.clip_id for c in candidates],
            "video_id": [c.video_id for c in candidates],
            "frame_index": [c.frame for c in candidates],
            "phash": np.array(bits, dtype=np.uint64),
        },
        budget,
        max_distance=max_distance,
    )
    assert len(sample.frames) <= budget and pairwise_min_distance([f.phash for f in sample.frames]) > max_distance


def test_cold_start_spreads_frames_evenly_over_real_clips(sample_videos) -> None:
    features = compute_features(sample_videos / "crowd_overhead_720p.avi")
    count = len(features)
    frames = {
        "clip_id": ["crowd"] * count,
        "video_id": ["crowd_video"] * count,
        "frame_index": features["frame_index"],
        "phash": features["phash"],
    }
    selection = diversity_sample(frames, budget=8)
    chosen = sorted(frame.frame for frame in selection.frames)
    assert len(chosen) == 8 and chosen[0] == 0
    gaps = np.diff(chosen)
    assert gaps.min() >= 20, chosen
    assert all(frame.reasons[0].trigger == "diversity" for frame in selection.frames)
    again = diversity_sample(frames, budget=8, existing_hashes=np.array([f.phash for f in selection.frames]))
    assert not {frame.frame for frame in again.frames} & set(chosen)
    assert pairwise_min_distance([f.phash for f in selection.frames + again.frames]) > DEFAULT_DUPLICATE_DISTANCE


def test_candidates_from_hits_take_the_middle_frame_and_its_hash() -> None:
    columns = {name: np.zeros(10) for name in FEATURE_COLUMNS}
    features = FrameFeatures(columns | {"frame_index": np.arange(10), "phash": np.arange(10, dtype=np.uint64) * 1000})
    hits = [Hit("flicker", 2, 6, 0.7), Hit("cut", 9, 9, 1.0)]
    candidates = candidates_from_hits(hits, features, "clip", "video", hit_refs=["h1", "h2"])
    assert [(c.frame, c.phash, c.trigger, c.hit) for c in candidates] == [
        (4, 4000, "flicker", "h1"),
        (9, 9000, "cut", "h2"),
    ]
    with pytest.raises(SelectionError, match="one per hit"):
        candidates_from_hits(hits, features, "clip", "video", hit_refs=["h1"])
    with pytest.raises(SelectionError, match="outside the clip"):
        candidates_from_hits([Hit("cut", 20, 20, 1.0)], features, "clip", "video")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget": -1}, "budget"),
        ({"budget": 2.5}, "budget"),
        ({"budget": 5, "quotas": {"cut": 0.8, "flicker": 0.4}}, "add up"),
        ({"budget": 5, "quotas": {"cut": float("nan")}}, "quota"),
        ({"budget": 5, "yields": {"cut": -1.0}}, "yield"),
        ({"budget": 5, "max_distance": 65}, "max_distance"),
        ({"budget": 5, "max_per_clip": 0}, "max_per_clip"),
    ],
)
def test_bad_selection_parameters_are_rejected(kwargs, message) -> None:
    with pytest.raises(SelectionError, match=message):
        select_frames(make_candidates({"cut": 3}), **kwargs)


def test_bad_candidates_are_rejected() -> None:
    with pytest.raises(SelectionError, match="score"):
        select_frames([FrameCandidate("a", "v", 1, 5, "cut", float("nan"))], budget=3)
    with pytest.raises(SelectionError, match="64 bits"):
        select_frames([FrameCandidate("a", "v", 1, 2**64, "cut", 0.5)], budget=3)
    with pytest.raises(SelectionError, match="disagree"):
        select_frames(
            [FrameCandidate("a", "v", 1, 5, "cut", 0.5), FrameCandidate("a", "v", 1, 6, "flicker", 0.5)], budget=3
        )
    with pytest.raises(SelectionError, match="columns"):
        diversity_sample({"clip_id": ["a"]}, budget=3)


def pandas_diversity_order(frames: list[ChosenFrame], keys: np.ndarray) -> list[int]:
    """The diversity order as selection computed it with pandas (stable sorts and groupby cumcounts)."""
    table = pd.DataFrame(
        {
            "video": [frame.video_id for frame in frames],
            "clip": [frame.clip_id for frame in frames],
            "key": keys,
            "frame": [frame.frame for frame in frames],
        }
    )
    table = table.sort_values(["clip", "key", "frame"], kind="stable")
    table["clip_round"] = table.groupby("clip", sort=False).cumcount()
    table = table.sort_values(["video", "clip_round", "key", "clip", "frame"], kind="stable")
    table["video_round"] = table.groupby("video", sort=False).cumcount()
    table = table.sort_values(["video_round", "key", "video", "clip", "frame"], kind="stable")
    return table.index.to_list()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 4), st.integers(0, 6), st.integers(0, 3)), max_size=40))
def test_diversity_order_is_the_pandas_one(rows: list[tuple[int, int, int, int]]) -> None:
    """Ties included (equal keys, frames repeated across clips and within one): numpy's stable sorts give the
    order pandas' did."""
    frames = [ChosenFrame(f"c{clip}", f"v{video}", frame, 0, "cut", 0.0, ()) for video, clip, frame, _ in rows]
    keys = np.array([key / 2 for *_, key in rows], dtype=np.float64)
    assert _diversity_order(frames, keys) == pandas_diversity_order(frames, keys)
