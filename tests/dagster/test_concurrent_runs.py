"""Two Dagster runs of `process_new_videos` launched at once on the same ingest-batch partition, in two processes
on one engine home and one catalog (SQLite and PostgreSQL).

Nothing in Dagster stops a second run of a partition (a retry clicked while the sensor's run is still going, two
deployments), and each run here has an instance of its own, so no Dagster pool or run queue separates them: only
the catalog's leases do. Both runs succeed and the catalog ends as one run leaves it.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

from data_engine.catalog import Catalog
from data_engine.store import Store
from tests.concurrency import assert_as_one_run_leaves_it, settled_inbox
from tests.dagster.engine import record_batch

REPO = Path(__file__).resolve().parents[2]


def _launch_together(
    home: Path, catalog_url: str, key: str, flags: Path, runs: int
) -> list[subprocess.CompletedProcess]:
    environment = {
        **os.environ,
        "DATA_ENGINE_HOME": str(home),
        "DATA_ENGINE_CATALOG_URL": catalog_url,
        "DATA_ENGINE_COMPUTE": "inprocess",
        "DATA_ENGINE_CLIP_SECONDS": "2",
    }
    start = flags / "start"
    ready = [flags / f"ready-{index}" for index in range(runs)]
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.dagster.launch_batch", key, str(flag), str(start)],
            cwd=REPO,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    while not all(flag.exists() for flag in ready) and all(process.poll() is None for process in started):
        time.sleep(0.05)
    start.touch()
    finished = []
    for process in started:
        out, err = process.communicate(timeout=600)
        finished.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return finished


def test_two_runs_of_one_batch_at_once_both_succeed_and_leave_one_runs_catalog(
    tmp_path: Path, sample_videos: Path, catalog_url: str
) -> None:
    home = tmp_path / "home"
    key = record_batch(home, catalog_url, settled_inbox(tmp_path, sample_videos))
    started = time.monotonic()
    results = _launch_together(home, catalog_url, key, tmp_path, runs=2)
    elapsed = time.monotonic() - started

    for result in results:
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        assert "RUN_SUCCESS" in result.stderr, result.stderr
        assert ".tmp-" not in result.stdout + result.stderr
    catalog = Catalog(catalog_url)
    assert catalog.incomplete_batches() == []
    selected, runs = assert_as_one_run_leaves_it(catalog, Store(str(home / "store")))
    print(
        f"2 runs of {key} on {catalog_url.split(':')[0]}: both succeed in {elapsed:.1f} s, {selected} frames "
        f"selected and pushed once each in {runs} annotation run(s), 0 duplicates"
    )
    catalog.dispose()
