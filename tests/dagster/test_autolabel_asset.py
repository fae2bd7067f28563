"""The autolabels asset for a batch partition with a real (tiny) detector and its label-file check."""

from pathlib import Path

import dagster as dg

from assets.autolabel import autolabels
from assets.ingest import registered_videos, video_clips
from data_engine.catalog import ClipState
from tests.dagster.engine import one_video_batch, resources_at
from tests.videos import make_test_video


def test_autolabels_labels_the_selected_clips_of_a_batch(tmp_path: Path, tiny_detector_weights: Path) -> None:
    (tmp_path / "inbox").mkdir()
    video = make_test_video(tmp_path / "inbox" / "a.mp4", frames=100, gop=25)
    url, catalog, batch, instance = one_video_batch(tmp_path, video)
    resources = resources_at(
        tmp_path, url, clip_seconds="2", detectors=str(tiny_detector_weights), detector_imgsz="160"
    )
    assert dg.materialize(
        [registered_videos, video_clips], partition_key=batch, instance=instance, resources=resources
    ).success
    clips = catalog.clips()
    selected = [clip.id for clip in clips[:1]]
    catalog.transition(selected, ClipState.SELECTED, stage="select")

    result = dg.materialize([autolabels], partition_key=batch, instance=instance, resources=resources)
    assert result.success
    metadata = result.asset_materializations_for_node("autolabels")[0].metadata
    assert metadata["clips"].value == 1 and metadata["frames_processed"].value == 50
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["checked"].value == 1
    assert [clip.status for clip in catalog.clips()] == ["autolabelled", "extracted"]
