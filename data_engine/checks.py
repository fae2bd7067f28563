"""What the Dagster asset checks compute: invariants of the catalog, the store and each stage's output.

Every check is a plain function returning `CheckOutcome`s (name, passed, metadata), so the assets only translate
them and the CLI and tests can call them too. Each evaluates what the stage produced and can fail.
"""

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from data_engine.catalog import Catalog, VideoStatus
from data_engine.datasets import DEFAULT_DUPLICATE_DISTANCE, DatasetVersion, find_leaks
from data_engine.layout import CLIPS, clip_folder
from data_engine.mining.features import hamming
from data_engine.stages.autolabel import AutolabelReport
from data_engine.stages.mine import SelectionReport
from data_engine.store import Store, is_temporary


def frame_conservation_problems(catalog: Catalog, batch_key: str | None = None) -> list[str]:
    """Every decodable frame of every clipped video belongs to exactly one clip: clips tile [0, frames-1]."""
    clips_by_video = defaultdict(list)
    for clip in catalog.clips(batch_key=batch_key):
        clips_by_video[clip.video_id].append(clip)
    problems = []
    for video in catalog.videos(batch_key=batch_key, status=VideoStatus.CLIPPED):
        expected_first = 0
        for clip in sorted(clips_by_video.get(video.id, []), key=lambda c: c.ordinal):
            if clip.first_frame != expected_first:
                problems.append(
                    f"video {video.id[:12]}: clip {clip.id} starts at frame {clip.first_frame}, "
                    f"expected {expected_first}"
                )
            expected_first = clip.last_frame + 1
        if expected_first != video.frames:
            problems.append(f"video {video.id[:12]}: clips cover {expected_first} of {video.frames} frames")
    return problems


def orphan_files(catalog: Catalog, store: Store, batch_key: str | None = None) -> list[str]:
    """Store files under clips/ that no recorded clip owns, and leftovers of interrupted writes."""
    recorded = {clip.path.rsplit("/", 1)[0] for clip in catalog.clips(batch_key=batch_key)}
    videos = catalog.videos(batch_key=batch_key) if batch_key is not None else None
    prefixes = [clip_folder(video.id) for video in videos] if videos is not None else [CLIPS]
    orphans = []
    for prefix in prefixes:
        for key in store.list_keys(prefix):
            clip_folder_of_key = "/".join(key.split("/")[:3])
            if is_temporary(key.rsplit("/", 1)[-1]) or clip_folder_of_key not in recorded:
                orphans.append(key)
    return orphans


@dataclass(frozen=True)
class CheckOutcome:
    """The result of one named check: passed or not, and the numbers and examples that say why."""

    name: str
    passed: bool
    metadata: dict[str, str | int | float]


def video_clips_checks(catalog: Catalog, store: Store, batch_key: str) -> list[CheckOutcome]:
    """`frame_conservation` and `no_orphan_files` for the batch's clips."""
    problems = frame_conservation_problems(catalog, batch_key)
    orphans = orphan_files(catalog, store, batch_key)
    return [
        CheckOutcome(
            "frame_conservation",
            not problems,
            {"problems": len(problems), "first_problems": "\n".join(problems[:20]) or "none"},
        ),
        CheckOutcome(
            "no_orphan_files",
            not orphans,
            {"orphans": len(orphans), "first_orphans": "\n".join(orphans[:20]) or "none"},
        ),
    ]


def selection_checks(catalog: Catalog, report: SelectionReport, batch_key: str) -> list[CheckOutcome]:
    """`within_budget` (the report's day has no more selected frames than the budget) and `no_near_duplicates`
    (no two frames selected in the batch within the duplicate distance), under the configuration selection ran
    with."""
    config = report.config
    hashes = np.array([frame.phash for frame in catalog.selected_frames(batch_key=batch_key)], dtype=np.uint64)
    closest = closest_pair_distance(hashes)
    return [
        CheckOutcome(
            "within_budget",
            report.budget_used <= config.budget_per_day,
            {"used": report.budget_used, "budget": config.budget_per_day, "day": report.budget_day},
        ),
        CheckOutcome(
            "no_near_duplicates",
            closest is None or closest > config.duplicate_distance,
            {"closest_pair_bits": -1 if closest is None else closest, "duplicate_distance": config.duplicate_distance},
        ),
    ]


def closest_pair_distance(hashes: np.ndarray) -> int | None:
    """The smallest Hamming distance between two of the 64-bit hashes (None for fewer than two)."""
    if len(hashes) < 2:
        return None
    distances = hamming(hashes[:, None], hashes[None, :])
    np.fill_diagonal(distances, 65)
    return int(distances.min())


def autolabel_checks(report: AutolabelReport) -> list[CheckOutcome]:
    """`label_files_match_clips`: every clip labelled has a label file with one entry per frame, none failed."""
    mismatched = sorted(clip_id for clip_id, (labels, frames) in report.label_frames.items() if labels != frames)
    return [
        CheckOutcome(
            "label_files_match_clips",
            not mismatched and not report.failed,
            {
                "checked": len(report.label_frames),
                "mismatched": len(mismatched),
                "first_mismatched": ", ".join(mismatched[:10]) or "none",
                "failed": len(report.failed),
            },
        )
    ]


def dataset_checks(dataset: DatasetVersion) -> list[CheckOutcome]:
    """`no_leakage`: no train image of the dataset within its duplicate distance (perceptual hash bits) of a val or
    test image, computed from the version's manifest whatever the build decided."""
    distance = int(dataset.manifest.params.get("duplicate_distance", DEFAULT_DUPLICATE_DISTANCE))
    frames = dataset.manifest.frames
    train = [(frame.image, frame.phash) for frame in frames if frame.split == "train"]
    others = [(frame.image, frame.split, frame.phash) for frame in frames if frame.split != "train"]
    leaks = find_leaks(train, others, distance)
    examples = [f"{leak.train_image} ~ {leak.other_image} ({leak.distance} bits)" for leak in leaks[:10]]
    return [
        CheckOutcome(
            "no_leakage",
            not leaks,
            {
                "dataset": dataset.dataset_id,
                "pairs_checked": len(train) * len(others),
                "leaks": len(leaks),
                "first_leaks": "\n".join(examples) or "none",
                "duplicate_distance": distance,
            },
        )
    ]
