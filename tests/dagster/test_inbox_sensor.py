"""The inbox sensor, evaluated with build_sensor_context: cursor, run keys and batch partitions."""

import json
import os
import time
from pathlib import Path

import dagster as dg

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
    assert [request.run_key for request in first.run_requests] == [f"ingest-{key}" for key in keys]
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
