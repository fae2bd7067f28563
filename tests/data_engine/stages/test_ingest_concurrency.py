"""Several `data-engine run` / `ingest` processes started together on the same inbox and a fresh catalog.

Every process exits 0 and the catalog ends as one run leaves it: each video once, each clip once (one creation
event), frames tiled, each clip mined and selected once, no frame selected or pushed twice, no push left
unfinished, no false "quarantined ... .tmp-NNN" and no orphan or temporary file in the store.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_engine.catalog import Catalog
from data_engine.store import Store
from tests.concurrency import assert_as_one_run_leaves_it, settled_inbox


def _start_together(home: Path, catalog_url: str, inbox: Path, processes: int) -> list[subprocess.CompletedProcess]:
    environment = {
        **os.environ,
        "DATA_ENGINE_HOME": str(home),
        "DATA_ENGINE_CATALOG_URL": catalog_url,
        "DATA_ENGINE_INBOX": str(inbox),
        "DATA_ENGINE_COMPUTE": "inprocess",
        "DATA_ENGINE_CLIP_SECONDS": "2",
    }
    commands = [["ingest", str(inbox)] if index == 2 else ["run"] for index in range(processes)]
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "data_engine", *command],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    finished = []
    for process, command in zip(started, commands, strict=True):
        out, err = process.communicate(timeout=600)
        finished.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return finished


@pytest.mark.parametrize("processes", [2, 3, 4])
def test_concurrent_runs_on_a_fresh_catalog_all_succeed_without_duplicates(
    tmp_path: Path, sample_videos: Path, catalog_url: str, processes: int
) -> None:
    home = tmp_path / "home"
    inbox = settled_inbox(tmp_path, sample_videos)
    started = time.monotonic()
    results = _start_together(home, catalog_url, inbox, processes)
    elapsed = time.monotonic() - started

    for result in results:
        assert result.returncode == 0, f"{result.args}: {result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        assert "quarantined /" not in result.stdout and "  quarantined" not in result.stdout, result.stdout
        assert ".tmp-" not in result.stdout + result.stderr

    catalog = Catalog(catalog_url)
    selected, runs = assert_as_one_run_leaves_it(catalog, Store(str(home / "store")))
    print(
        f"{processes} processes on {catalog_url.split(':')[0]}: all exit 0 in {elapsed:.1f} s, {selected} frames "
        f"selected and pushed once each in {runs} annotation run(s), 0 duplicates"
    )
    catalog.dispose()
