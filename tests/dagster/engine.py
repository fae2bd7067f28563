"""The engine's Dagster resources for a test: everything under one temporary home, settings given as text."""

import os
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from data_engine.catalog import Catalog
from data_engine.inbox import file_entries
from data_engine.stages.ingest import look_at_inbox
from data_engine.synthetic import CLASS_NAMES
from definitions import defs
from resources import EngineSettingsResource, engine_resources
from tests.labelstudio_fixtures import LabelStudioServer


def resources_at(home: Path, catalog_url: str | None = None, **settings: str) -> dict[str, dg.ConfigurableResource]:
    """All resources over one settings resource: `home` holds the catalog (unless `catalog_url`) and the store."""
    given = {"home": str(home), **({"catalog_url": catalog_url} if catalog_url else {}), **settings}
    return engine_resources(EngineSettingsResource(**given))


def batch_partition(catalog: Catalog, paths: Sequence[Path]) -> tuple[str, dg.DagsterInstance]:
    """The settled files at `paths` recorded as one ingest batch, and an ephemeral instance that has its partition."""
    look = look_at_inbox(
        catalog, file_entries([str(path) for path in paths]), {}, settle_seconds=1, batch_max_videos=10
    )
    (plan,) = look.batches
    catalog.create_batch(plan.key, "test", plan.items)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("ingest_batches", [plan.key])
    return plan.key, instance


def one_video_batch(tmp_path: Path, video: Path) -> tuple[str, Catalog, str, dg.DagsterInstance]:
    """`video`, settled, recorded as one ingest batch in a catalog at `tmp_path/catalog.db`: the catalog's URL, the
    catalog, the batch key and an ephemeral instance that has its partition."""
    os.utime(video, (time.time() - 60, time.time() - 60))
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = Catalog(url)
    return url, catalog, *batch_partition(catalog, [video])


def label_studio_settings(server: LabelStudioServer, name: str) -> dict[str, str]:
    """Settings that push to the test session's Label Studio: a store of its own under the server's document root
    (Label Studio serves the task images from there), a project of its own, the synthetic videos' classes."""
    unique = f"{name}-{uuid.uuid4().hex[:8]}"
    return {
        "store": str(server.document_root / unique / "store"),
        "label_studio_url": server.url,
        "label_studio_token": server.token,
        "label_studio_document_root": str(server.document_root),
        "annotation_project": unique,
        "classes": ",".join(CLASS_NAMES[class_id] for class_id in sorted(CLASS_NAMES)),
    }


def record_batch(home: Path, catalog_url: str, inbox: Path) -> str:
    """The batch partition the inbox sensor records for the inbox's videos (one batch: both videos)."""
    with dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(), resources=resources_at(home, catalog_url, inbox=str(inbox))
    ) as context:
        result = defs.resolve_sensor_def("inbox_sensor")(context)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.run_requests
    assert request.partition_key is not None
    return request.partition_key
