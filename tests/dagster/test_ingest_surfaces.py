"""One ingest stage behind every surface: a batch the inbox sensor records is what the command line ingests."""

import os
import time
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner

from data_engine.catalog import Catalog
from data_engine.cli import main
from definitions import defs
from tests.dagster.engine import resources_at
from tests.videos import make_test_video


def _tick(home: Path, cursor: str | None = None) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        resources=resources_at(home, inbox=str(home / "inbox")),
    ) as context:
        return defs.resolve_sensor_def("inbox_sensor")(context)


def test_the_command_line_ingests_the_batch_the_sensor_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / "inbox").mkdir(parents=True)
    video = make_test_video(home / "inbox" / "cam.mp4", frames=50)
    os.utime(video, (time.time() - 60, time.time() - 60))

    (request,) = _tick(home).run_requests
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    assert catalog.videos() == [] and catalog.incomplete_batches() == [request.partition_key], "recorded, not ingested"

    monkeypatch.setenv("DATA_ENGINE_HOME", str(home))
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    output = CliRunner().invoke(main, ["ingest", str(home / "inbox")], catch_exceptions=False).output
    assert f"batch {request.partition_key}: 1 videos clipped into 1 clips" in output, "no second batch for the file"
    assert [video.status for video in catalog.videos()] == ["clipped"]
    assert _tick(home).run_requests == [], "nothing left for a Dagster run"
    catalog.dispose()
