"""The annotation sensor against a real Label Studio: it decides from the platform's data (annotated there, not yet
imported here), its run keys never repeat for new work, and a second batch of the same size is pulled too (a
cursor of annotated counts skipped it for ever)."""

from pathlib import Path

import dagster as dg

from assets.annotation import annotation_tasks, reviewed_labels
from assets.autolabel import autolabels
from assets.ingest import registered_videos, video_clips
from assets.mining import annotation_selection, frame_features, trigger_hits
from data_engine.annotation import AnnotationRun
from data_engine.catalog import Catalog
from data_engine.inbox import file_entries
from data_engine.stages.ingest import look_at_inbox
from data_engine.synthetic import generate
from definitions import defs
from tests.dagster.annotator import Annotator
from tests.dagster.engine import label_studio_settings, resources_at
from tests.labelstudio_fixtures import LabelStudioServer

PROCESS = [registered_videos, video_clips, frame_features, trigger_hits, annotation_selection, autolabels]


def test_two_batches_of_equal_size_are_both_pulled(tmp_path: Path, label_studio: LabelStudioServer) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    resources = resources_at(
        tmp_path, url, **label_studio_settings(label_studio, "sensor"), clip_seconds="4", compute="inprocess"
    )
    catalog, instance = Catalog(url), dg.DagsterInstance.ephemeral()
    annotator = Annotator(label_studio.url, label_studio.token, tmp_path / "synth")

    def tick() -> dg.SensorResult:
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            result = defs.resolve_sensor_def("annotation_sensor")(context)
        assert isinstance(result, dg.SensorResult)
        return result

    def push_batch(seed: int) -> AnnotationRun:
        video = generate(tmp_path / "synth", seed=seed, seconds=4).video_path
        (plan,) = look_at_inbox(catalog, file_entries([str(video)]), {}, settle_seconds=0, batch_max_videos=1).batches
        catalog.create_batch(plan.key, "test", plan.items)
        instance.add_dynamic_partitions("ingest_batches", [plan.key])
        pushed = dg.materialize(
            [*PROCESS, annotation_tasks], partition_key=plan.key, instance=instance, resources=resources
        )
        assert pushed.success
        record = catalog.annotation_runs(status="pushed")[-1]
        return AnnotationRun.from_json(record.record)

    def pull() -> None:
        assert dg.materialize([reviewed_labels], instance=instance, resources=resources).success

    batch_a = push_batch(11)
    waiting = tick()
    assert not waiting.run_requests and "0 task(s) annotated" in (waiting.skip_reason.skip_message or "")
    annotator.answer(catalog, batch_a)
    (first,) = tick().run_requests
    assert first.run_key == f"pull-{batch_a.run_id}:0:{len(batch_a.frames)}"
    (again,) = tick().run_requests
    assert again.run_key == first.run_key, "the same state asks with the same key: Dagster runs it once"
    pull()
    closed = tick()
    assert not closed.run_requests and "no open Label Studio runs" in (closed.skip_reason.skip_message or "")

    batch_b = push_batch(12)
    same_size = min(len(batch_a.frames), len(batch_b.frames))
    annotator.answer(catalog, batch_b, limit=same_size)
    (second,) = tick().run_requests
    assert second.run_key == f"pull-{batch_b.run_id}:0:{same_size}" != first.run_key
    pull()
    assert not tick().run_requests, "everything annotated is imported"
    annotator.close()
    catalog.dispose()
