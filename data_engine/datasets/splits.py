"""Split assignment per group (a video, or a source/scene), never per frame, with a frozen test split.

A group keeps the split it had in earlier dataset versions, and a group that was ever in test stays in test. The
test split is frozen by the first dataset version: later groups go to train or val only, and frames of a test
group reviewed later go to `new_test` (evaluated beside the test split, never mixed into it), so every model
version is measured on the same test images. A new group's split follows from a hash of its key alone, so it
does not depend on which other groups happen to be in the build."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from data_engine.errors import EngineError

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
NEW_TEST = "new_test"
"""Frames of test groups reviewed after the test split froze: kept out of train (same videos as test) and out of
the frozen test images, measured beside them."""
EXPORTED_SPLITS: tuple[str, ...] = (*SPLITS, NEW_TEST)
GroupBy = Literal["video", "source"]


class SplitError(EngineError, ValueError):
    """Split settings or explicit assignments that cannot be honoured."""


@dataclass(frozen=True)
class SplitConfig:
    """How groups are split: `fractions` of (train, val, test) for new groups, the group key (`video`, or `source`:
    the folder a video came from, i.e. the camera or scene), explicit assignments that win over the hash for new
    groups, and a salt that changes the hash draw."""

    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    group_by: GroupBy = "video"
    assign: Mapping[str, Split] = field(default_factory=dict)
    salt: str = ""

    def __post_init__(self) -> None:
        if len(self.fractions) != 3 or any(value < 0 for value in self.fractions) or sum(self.fractions) <= 0:
            raise SplitError(f"split fractions must be three non-negative numbers (train, val, test): {self.fractions}")
        if self.group_by not in ("video", "source"):
            raise SplitError(f"group_by must be 'video' or 'source', not {self.group_by!r}")
        unknown = {split for split in self.assign.values() if split not in SPLITS}
        if unknown:
            raise SplitError(f"explicit assignments use unknown splits {sorted(unknown)}; use {list(SPLITS)}")


def hash_unit(key: str, salt: str = "") -> float:
    """A stable number in [0, 1) drawn from the key (sha256), the same on every machine and run."""
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def previous_assignments(history: Sequence[Mapping[str, str]]) -> dict[str, Split]:
    """Each group's split according to earlier versions (oldest first): the latest one, except that a group that
    was ever in test stays there."""
    merged: dict[str, Split] = {}
    for splits in history:
        for group, split in splits.items():
            if merged.get(group) != "test":
                merged[group] = split  # type: ignore[assignment]
    return merged


def assign_splits(
    groups: Iterable[str], previous: Mapping[str, Split], config: SplitConfig, *, test_frozen: bool = False
) -> dict[str, Split]:
    """The split of every group: earlier versions' choice if any (test is frozen), else the explicit assignment,
    else the hash draw against the fractions (train and val only once `test_frozen`). When a split that should get
    groups got none (test first, then val, then train), the new group drawn closest to it is moved there from a
    split that keeps another group: small builds would otherwise lack val or test, or even train (three groups all
    drawn above train's share)."""
    groups = sorted(set(groups))
    for group, split in config.assign.items():
        if previous.get(group) == "test" and split != "test":
            raise SplitError(
                f"group {group!r} is in the frozen test split of an earlier version; it cannot move to {split}"
            )
        if test_frozen and split == "test" and previous.get(group) != "test" and group in groups:
            raise SplitError(
                f"group {group!r} cannot join the test split: it was frozen by the first dataset version, so that "
                "every model is measured on the same images; assign new groups to train or val"
            )
    fractions = (config.fractions[0], config.fractions[1], 0.0) if test_frozen else config.fractions
    if sum(fractions) <= 0:
        raise SplitError(f"split fractions {config.fractions} leave nothing for train or val once test is frozen")
    total = sum(fractions)
    bounds = (fractions[0] / total, (fractions[0] + fractions[1]) / total)
    assigned: dict[str, Split] = {}
    draws: dict[str, float] = {}
    for group in groups:
        if group in previous:
            assigned[group] = previous[group]
        elif group in config.assign:
            assigned[group] = config.assign[group]
        else:
            draws[group] = hash_unit(group, config.salt)
            assigned[group] = "train" if draws[group] < bounds[0] else "val" if draws[group] < bounds[1] else "test"
    for split, target in (("test", 1.0), ("val", (bounds[0] + bounds[1]) / 2), ("train", 0.0)):
        if fractions[SPLITS.index(split)] <= 0 or split in assigned.values():
            continue
        counts = Counter(assigned.values())
        movable = [group for group in draws if counts[assigned[group]] > 1]
        if movable:
            assigned[min(movable, key=lambda group: abs(draws[group] - target))] = split
    return assigned
