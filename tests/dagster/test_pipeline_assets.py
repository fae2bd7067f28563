"""The asset graph of `process_new_videos` is the declared pipeline, and its last step re-creates what a batch
lost, as `data-engine run` does."""

from pathlib import Path

import dagster as dg

from assets.annotation import annotation_tasks
from assets.autolabel import autolabels
from assets.ingest import registered_videos, video_clips
from assets.mining import annotation_selection, frame_features, trigger_hits
from data_engine.reports.html import batch_report_key
from data_engine.stages.pipeline import BATCH_STEPS, PIPELINE, PUSH
from data_engine.store import Store
from data_engine.synthetic import generate
from definitions import defs
from tests.dagster.engine import one_video_batch, resources_at

RESOURCE_OF = {"backend": "compute", "detectors": "detectors"}


def test_process_new_videos_is_the_declared_pipeline_in_order() -> None:
    graph = defs.resolve_asset_graph()
    job = defs.resolve_job_def("process_new_videos")
    assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == set(PIPELINE)
    deps = {name: {key.to_user_string() for key in graph.get(dg.AssetKey(name)).parent_keys} for name in PIPELINE}
    assert deps == {name: set(PIPELINE[index - 1 : index]) for index, name in enumerate(PIPELINE)}
    for step in (*BATCH_STEPS, PUSH):
        required = defs.resolve_assets_def(step.name).required_resource_keys
        assert {RESOURCE_OF[need] for need in step.needs} <= required, step.name


def test_the_push_asset_draws_a_lost_batch_page_again(tmp_path: Path) -> None:
    video = generate(tmp_path / "inbox", seed=23, seconds=4).video_path
    url, catalog, batch, instance = one_video_batch(tmp_path, video)
    resources = resources_at(tmp_path, url, clip_seconds="2", budget_per_day="4", compute="inprocess")
    per_batch = [registered_videos, video_clips, frame_features, trigger_hits, annotation_selection, autolabels]
    assert dg.materialize(per_batch, partition_key=batch, instance=instance, resources=resources).success
    assert dg.materialize([annotation_tasks], instance=instance, resources=resources).success
    page = Store(str(tmp_path / "store")).local_path(batch_report_key(batch))
    assert page.is_file(), "the push wrote the batch's page"
    page.unlink()
    assert dg.materialize([annotation_tasks], instance=instance, resources=resources).success
    assert page.is_file(), "the next push drew the lost page again"
    catalog.dispose()
