"""The inbox sensor, evaluated with build_sensor_context: cursor, run keys and batch partitions."""

import json
import os
import time
from pathlib import Path

import dagster as dg

from data_engine.catalog import Catalog, VideoStatus
from definitions import defs
from tests.dagster.engine import resources_at


def _write(path: Path, data: bytes, age_s: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (time.time() - age_s, time.time() - age_s))


def _tick(instance: dg.DagsterInstance, inbox: Path, catalog_url: str, cursor: str | None) -> dg.SensorResult:
    sensor = defs.resolve_sensor_def("inbox_sensor")
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources=resources_at(inbox.parent, catalog_url, inbox=str(inbox), settle_seconds="5", batch_max_videos="2"),
    ) as context:
        return sensor(context)


def test_sensor_batches_settled_files_and_is_repeat_safe(tmp_path: Path) -> None:
    inbox, url = tmp_path / "inbox", f"sqlite:///{tmp_path / 'catalog.db'}"
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        _write(inbox / name, name.encode(), age_s=60)
    _write(inbox / "d.mp4", b"d", age_s=0)  # still being copied in
    instance = dg.DagsterInstance.ephemeral()

    first = _tick(instance, inbox, url, None)
    keys = [request.partition_key for request in first.run_requests]
    assert len(keys) == 2, "three settled videos in batches of at most two"
    assert [request.run_key for request in first.run_requests] == [f"ingest-{key}-attempt-0" for key in keys]
    (add,) = first.dynamic_partitions_requests
    assert add.partitions_def_name == "ingest_batches" and list(add.partition_keys) == keys
    cursor = json.loads(first.cursor)
    assert list(cursor["unsettled"]) == [str(inbox / "d.mp4")]
    assert cursor["last_batch"] == max(keys)

    second = _tick(instance, inbox, url, first.cursor)
    second_keys = [request.partition_key for request in second.run_requests]
    assert set(keys) < set(second_keys), "batches not yet processed are requested again with the same run key"
    assert len(second_keys) == 3, "d.mp4 kept its size since the last tick: now settled"
    assert json.loads(second.cursor)["unsettled"] == {}


def test_a_batch_whose_failed_video_is_due_gets_a_new_run_key(tmp_path: Path) -> None:
    """A run that failed on a passing fault (full disk) marks the video failed; once it is due, the same run key
    would be skipped by Dagster for ever, so the key counts the attempts."""
    inbox, url = tmp_path / "inbox", f"sqlite:///{tmp_path / 'catalog.db'}"
    _write(inbox / "a.mp4", b"a", age_s=60)
    instance = dg.DagsterInstance.ephemeral()
    (request,) = _tick(instance, inbox, url, None).run_requests
    catalog = Catalog(url)
    (item,) = catalog.batch_items(request.partition_key)
    catalog.register_video(item.content_hash, str(inbox / "a.mp4"), size_bytes=1, status=VideoStatus.REGISTERED)
    catalog.fail_video(item.content_hash, "[Errno 28] No space left on device")
    (again,) = _tick(instance, inbox, url, None).run_requests
    assert again.partition_key == request.partition_key, "a first failure is due at the next look"
    assert again.run_key == f"ingest-{request.partition_key}-attempt-1" != request.run_key
    catalog.fail_video(item.content_hash, "[Errno 28] No space left on device")
    assert _tick(instance, inbox, url, None).run_requests == [], "a second failure waits for its backoff"
    catalog.retry_videos([item.content_hash])
    (third,) = _tick(instance, inbox, url, None).run_requests
    assert third.run_key == f"ingest-{request.partition_key}-attempt-2"
    catalog.dispose()
