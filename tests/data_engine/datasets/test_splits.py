"""Split assignment, class map, leakage search and manifest integrity as plain functions."""

import json

import numpy as np
import pytest

from data_engine.datasets import DatasetManifest, ManifestFrame, SplitConfig, SplitError, assign_splits, find_leaks
from data_engine.datasets.manifest import ManifestError, extend_class_map
from data_engine.datasets.splits import previous_assignments


def test_new_groups_follow_their_hash_and_earlier_versions_win():
    groups = [f"video-{n}" for n in range(2000)]
    splits = assign_splits(groups, {}, SplitConfig(fractions=(0.7, 0.15, 0.15)))
    shares = {split: list(splits.values()).count(split) / len(groups) for split in ("train", "val", "test")}
    assert shares == pytest.approx({"train": 0.7, "val": 0.15, "test": 0.15}, abs=0.03)
    assert assign_splits(groups[:50], {}, SplitConfig()) == {g: splits[g] for g in groups[:50]}, "per group, stable"

    history = [{"a": "test", "b": "train"}, {"a": "train", "b": "val"}]
    assert previous_assignments(history) == {"a": "test", "b": "val"}, "once in test, always in test"
    again = assign_splits(["a", "b", "c"], previous_assignments(history), SplitConfig(fractions=(1, 0, 0)))
    assert again == {"a": "test", "b": "val", "c": "train"}
    with pytest.raises(SplitError, match="frozen test split"):
        assign_splits(["a"], {"a": "test"}, SplitConfig(assign={"a": "train"}))


def test_small_builds_still_get_val_and_test_when_they_can():
    three = assign_splits(["x", "y", "z"], {}, SplitConfig(fractions=(0.8, 0.1, 0.1)))
    assert sorted(three.values()) == ["test", "train", "val"]
    assert sorted(assign_splits(["x", "y"], {}, SplitConfig()).values()) == ["test", "train"]
    assert set(assign_splits(["x", "y", "z"], {}, SplitConfig(fractions=(1, 0, 0))).values()) == {"train"}
    drawn_above_train = ["g3", "g6", "g10"]  # hash draws 0.88, 0.91, 0.72: none below train's 0.7
    assert sorted(assign_splits(drawn_above_train, {}, SplitConfig()).values()) == ["test", "train", "val"]
    with pytest.raises(SplitError, match="three non-negative"):
        SplitConfig(fractions=(1, -1, 0))
    with pytest.raises(SplitError, match="unknown splits"):
        SplitConfig(assign={"x": "holdout"})


def test_class_map_appends_and_leaks_are_pairs_within_the_distance():
    assert extend_class_map({0: "car", 1: "person"}, ["person", "bus", "car", "bike"]) == {
        0: "car",
        1: "person",
        2: "bus",
        3: "bike",
    }
    base = 0x0123456789ABCDEF
    train = [("t0", base), ("t1", base ^ 0xFFFF_FFFF)]
    others = [("v0", "val", base ^ 0b1011), ("s0", "test", base ^ 0xFFFF_0000_0000_0000)]
    leaks = find_leaks(train, others, max_distance=8)
    assert [(leak.train_image, leak.other_image, leak.distance) for leak in leaks] == [("t0", "v0", 3)]
    assert find_leaks(train, [], 8) == []
    many = [(f"t{i}", int(value)) for i, value in enumerate(np.arange(5000, dtype=np.uint64) << np.uint64(20))]
    assert len(find_leaks(many, [("v", "val", 5 << 20)], max_distance=0)) == 1, "chunked search finds it"


def test_manifest_round_trip_and_tamper_detection():
    frame = ManifestFrame("clip-1", 5, 2, "train", "v1", "v1", "cam", "images/train/clip-1_000005.jpg", 3, (0, 1), 7)
    manifest = DatasetManifest("ds-0001", 1, {0: "car", 1: "person"}, (frame,), {"v1": "train"})
    data = json.loads(json.dumps(manifest.to_json()))
    assert DatasetManifest.from_json(data) == manifest
    data["frames"][0]["split"] = "test"
    with pytest.raises(ManifestError, match="does not match its content hash"):
        DatasetManifest.from_json(data)
    with pytest.raises(ManifestError, match="not a data-engine/dataset-manifest"):
        DatasetManifest.from_json({"schema": "other"})


def test_once_the_test_split_is_frozen_new_groups_go_to_train_or_val():
    groups = [f"video-{n}" for n in range(500)]
    frozen = assign_splits([*groups, "old"], {"old": "test"}, SplitConfig(fractions=(0.1, 0.1, 0.8)), test_frozen=True)
    assert set(frozen.values()) == {"train", "val", "test"} and frozen["old"] == "test"
    assert [group for group, split in frozen.items() if split == "test"] == ["old"]
    shares = [split for group, split in frozen.items() if group != "old"].count("train") / len(groups)
    assert shares == pytest.approx(0.5, abs=0.07), "train and val keep their proportion"
    with pytest.raises(SplitError, match="frozen by the first dataset version"):
        assign_splits(["new"], {}, SplitConfig(assign={"new": "test"}), test_frozen=True)
    with pytest.raises(SplitError, match="nothing for train or val"):
        assign_splits(["new"], {}, SplitConfig(fractions=(0, 0, 1)), test_frozen=True)
