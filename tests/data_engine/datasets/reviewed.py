"""Reviewed clips from proving-ground videos: ingested into a catalog like any video, then given "review" label
files whose boxes come from the ground truth (a perfect annotator), for every `every`-th frame."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from data_engine.autolabel.labels import LabelFile, version_of, write_next_labels
from data_engine.catalog import Catalog, Clip
from data_engine.detections import Detections
from data_engine.settings import Settings
from data_engine.stages.ingest import ingest
from data_engine.store import Store
from data_engine.synthetic import SyntheticVideo


def ingest_videos(catalog: Catalog, store: Store, paths: Sequence[Path], clip_seconds: float = 5.0) -> None:
    settings = Settings(clip_seconds=clip_seconds, settle_seconds=0.0)
    ingest(catalog, store, settings, [str(path) for path in paths], watch_inbox=False, origin="test")


def review_from_truth(
    catalog: Catalog, store: Store, video: SyntheticVideo, every: int = 5, min_visibility: float = 0.4
) -> list[Clip]:
    """Write a review label version for every clip of `video` (reviewed frames: every `every`-th of the clip)."""
    truth = video.truth()
    (video_row,) = [row for row in catalog.videos() if Path(row.source_uri) == video.video_path]
    clips = catalog.clips(video_id=video_row.id)
    for clip in clips:
        count = clip.last_frame - clip.first_frame + 1
        reviewed = range(0, count, every)
        frames = [Detections.empty(truth.names)] * count
        for local in reviewed:
            frames[local] = truth.boxes_at(clip.first_frame + local, min_visibility=min_visibility)
        labels = LabelFile(
            clip_id=clip.id,
            version=0,
            kind="review",
            frame_count=count,
            width=truth.width,
            height=truth.height,
            names=dict(truth.names),
            frames=tuple(frames),
            stats={"review": {"run_id": "truth", "frames": {str(f): {"annotator": "truth"} for f in reviewed}}},
        )
        add_review(catalog, store, clip, labels)
    return clips


def add_review(catalog: Catalog, store: Store, clip: Clip, labels: LabelFile) -> int:
    """Write `labels` as the clip's next label version and record it in the catalog; returns the version."""
    written = write_next_labels(store.local_path(clip.path).parent, labels)
    key = f"{clip.path.rsplit('/', 1)[0]}/labels/{written.name}"
    store.commit(key)
    catalog.add_label_version(clip.id, version_of(written), kind="review", path=key, author="truth")
    return version_of(written)
