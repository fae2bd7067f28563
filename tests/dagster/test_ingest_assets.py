"""The ingest assets materialized for a batch partition, with their checks, on a real video."""

import os
import time
from pathlib import Path

import dagster as dg

from assets.ingest import registered_videos, video_clips
from data_engine.catalog import Catalog
from tests.dagster.engine import batch_partition, resources_at
from tests.videos import make_test_video


def test_batch_materializes_with_metadata_and_passing_checks(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_test_video(inbox / "a.mp4", frames=120, gop=25)
    (inbox / "broken.mp4").write_text("not a video")
    for path in inbox.iterdir():
        os.utime(path, (time.time() - 60, time.time() - 60))
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = Catalog(url)
    batch, instance = batch_partition(catalog, [inbox])

    result = dg.materialize(
        [registered_videos, video_clips],
        partition_key=batch,
        instance=instance,
        resources=resources_at(tmp_path, url, clip_seconds="2"),
    )
    assert result.success
    registered = result.asset_materializations_for_node("registered_videos")[0].metadata
    assert registered["quarantined"].value == 1 and registered["registered"].value == 1
    assert "broken.mp4" in registered["quarantined_files"].value
    clips = result.asset_materializations_for_node("video_clips")[0].metadata
    assert clips["clips"].value == 3 and clips["frames"].value == 120
    checks = {evaluation.check_name: evaluation.passed for evaluation in result.get_asset_check_evaluations()}
    assert checks == {"frame_conservation": True, "no_orphan_files": True}
    assert {clip.status for clip in catalog.clips(batch_key=batch)} == {"extracted"}
    assert {event.run_id for clip in catalog.clips() for event in catalog.history(clip.id)} == {result.run_id}
