"""deploy/dagster.production.yaml loads as-is against a real PostgreSQL server and runs the ingest job there.

Dagster's tables go in the public schema of the session's throwaway database; the catalog in a schema of its own.
"""

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from sqlalchemy import create_engine, make_url, text

from assets.ingest import registered_videos, video_clips
from data_engine.catalog import Catalog
from data_engine.inbox import file_entries
from data_engine.stages.ingest import look_at_inbox
from tests.dagster.engine import resources_at
from tests.videos import make_test_video

REPO = Path(__file__).resolve().parents[2]
PRODUCTION_YAML = REPO / "deploy" / "dagster.production.yaml"


@pytest.fixture
def production_instance(
    postgres_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    """DagsterInstance.get() with DAGSTER_HOME holding the production yaml, unchanged, and DAGSTER_PG_* pointing at
    the session's throwaway database."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PRODUCTION_YAML, home / "dagster.yaml")
    server = make_url(postgres_database)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_HOST", server.host or "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_PORT", str(server.port or 5432))
    monkeypatch.setenv("DAGSTER_PG_DB", server.database or "")
    monkeypatch.setenv("DAGSTER_PG_USERNAME", server.username or "postgres")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", server.password or "")
    with dg.DagsterInstance.get() as instance:
        yield instance


@dg.asset(pool="gpu")
def gpu_step() -> int:
    """Stands in for detector inference: a step that holds a slot of the `gpu` pool."""
    return 1


def test_the_instance_keeps_runs_events_and_schedules_in_postgres(production_instance: dg.DagsterInstance) -> None:
    assert isinstance(production_instance.run_storage, PostgresRunStorage)
    assert isinstance(production_instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(production_instance.schedule_storage, PostgresScheduleStorage)
    assert production_instance.run_storage.postgres_url.startswith("postgresql+psycopg2://")
    assert isinstance(production_instance.run_coordinator, QueuedRunCoordinator)
    concurrency = production_instance.get_concurrency_config()
    assert concurrency.run_queue_config is not None and concurrency.run_queue_config.max_concurrent_runs == 8
    assert concurrency.pool_config.default_pool_limit == 1
    assert production_instance.run_retries_enabled and production_instance.run_retries_max_retries == 2
    assert production_instance.run_monitoring_max_runtime_seconds == 21600


def test_the_ingest_job_runs_and_its_run_is_stored_in_postgres(
    production_instance: dg.DagsterInstance, postgres_database: str, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    make_test_video(inbox / "a.mp4", frames=60, gop=25)
    os.utime(inbox / "a.mp4", (time.time() - 60, time.time() - 60))
    engine = create_engine(postgres_database)
    schema = f"catalog_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    catalog_url = f"{postgres_database}?options=-csearch_path%3D{schema}"
    catalog = Catalog(catalog_url)
    (plan,) = look_at_inbox(catalog, file_entries([str(inbox)]), {}, settle_seconds=1, batch_max_videos=10).batches
    catalog.create_batch(plan.key, "test", plan.items)
    production_instance.add_dynamic_partitions("ingest_batches", [plan.key])

    result = dg.materialize(
        [registered_videos, video_clips],
        partition_key=plan.key,
        instance=production_instance,
        resources=resources_at(tmp_path, catalog_url, clip_seconds="1"),
    )
    gpu = dg.materialize([gpu_step], instance=production_instance)

    assert result.success and gpu.success
    assert len(catalog.clips(batch_key=plan.key)) == 3
    record = production_instance.get_run_record_by_id(result.run_id)
    assert record is not None and record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    with engine.connect() as connection:
        stored = set(connection.scalars(text("SELECT run_id FROM public.runs WHERE status = 'SUCCESS'")))
        materialized = set(
            connection.scalars(text("SELECT DISTINCT asset_key FROM public.event_logs WHERE asset_key IS NOT NULL"))
        )
    assert {result.run_id, gpu.run_id} <= stored
    assert {'["registered_videos"]', '["video_clips"]', '["gpu_step"]'} <= materialized
    assert production_instance.event_log_storage.get_concurrency_info("gpu").slot_count == 1
    catalog.dispose()
    engine.dispose()
