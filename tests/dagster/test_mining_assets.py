"""The ingest and mining assets of a batch, materialized together as the process_new_videos job runs them."""

from pathlib import Path

import dagster as dg

from assets.ingest import registered_videos, video_clips
from assets.mining import annotation_selection, frame_features, trigger_hits
from data_engine.synthetic import generate
from tests.dagster.engine import one_video_batch, resources_at


def test_mining_assets_select_frames_within_budget_with_passing_checks(tmp_path: Path) -> None:
    video = generate(tmp_path / "inbox", seed=21, seconds=6).video_path
    url, catalog, batch, instance = one_video_batch(tmp_path, video)
    result = dg.materialize(
        [registered_videos, video_clips, frame_features, trigger_hits, annotation_selection],
        partition_key=batch,
        instance=instance,
        resources=resources_at(tmp_path, url, clip_seconds="3", budget_per_day="4", compute="inprocess"),
    )
    assert result.success
    hits = result.asset_materializations_for_node("trigger_hits")[0].metadata
    assert hits["hits"].value > 0
    selection = result.asset_materializations_for_node("annotation_selection")[0].metadata
    assert 0 < selection["frames_selected"].value <= 4 and selection["cold_start"].value is True
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["within_budget"] and checks["no_near_duplicates"]
    assert selection["hits_per_trigger"].value.startswith("![hits per trigger](data:image/png;base64,")
    assert "data:image/png;base64," in selection["trigger_timeline"].value
    assert Path(selection["trigger_timeline file"].value).read_bytes().startswith(b"\x89PNG"), "and its file"
    table = selection["clips"].value.splitlines()
    assert table[0] == "| clip | frames | state | selected frames |" and len(table) == 2 + len(catalog.clips())
