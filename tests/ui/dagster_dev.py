"""`dagster dev` for tests: started over temporary homes on a free port, asked over GraphQL, stopped with every
process it spawned (the test fails if one is left behind)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ui.processes import kill_all, processes_mentioning, start_in_new_session, stop_session

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
SERVER_START_S = 120
RUNS_QUERY = (
    '{ runsOrError(filter: {pipelineName: "%s"}) { ... on Runs { results { runId status runConfigYaml tags '
    "{ key value } } } } }"
)


@dataclass(frozen=True)
class DagsterDev:
    """A running `dagster dev`: where it answers, its log, and the process (its session leader)."""

    url: str
    log: Path
    server: subprocess.Popen[bytes]

    def graphql(self, query: str) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            document = json.load(response)
        assert "errors" not in document, document["errors"]
        return document["data"]

    def runs(self, job: str) -> list[dict[str, Any]]:
        """The job's runs, newest first: id, status and tags."""
        return self.graphql(RUNS_QUERY % job)["runsOrError"]["results"]

    def alive(self) -> None:
        assert self.server.poll() is None, f"dagster dev exited with {self.server.returncode}:\n{self.tail()}"

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def wait_for_successes(self, job: str, count: int, timeout_s: float) -> list[dict[str, Any]]:
        """Wait until `job` has `count` successful runs (failing at once on a failed or canceled run)."""
        deadline = time.monotonic() + timeout_s
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            self.alive()
            runs = self.runs(job)
            failed = [run for run in runs if run["status"] in {"FAILURE", "CANCELED"}]
            assert not failed, f"{job} ended {failed}:\n{self.tail()}"
            succeeded = [run for run in runs if run["status"] == "SUCCESS"]
            if len(succeeded) >= count:
                return succeeded
            time.sleep(2)
        pytest.fail(f"{job}: under {count} successful runs within {timeout_s:.0f} s (runs: {runs}):\n{self.tail()}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def engine_environment(dagster_home: Path, engine_home: Path, **settings: str) -> dict[str, str]:
    """This process's environment with Dagster's and the engine's settings taken from the arguments only."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DATA_ENGINE_", "DAGSTER_"))}
    given = {f"DATA_ENGINE_{name.upper()}": value for name, value in settings.items()}
    return env | {"DAGSTER_HOME": str(dagster_home), "DATA_ENGINE_HOME": str(engine_home), "YOLO_OFFLINE": "1"} | given


def fail_on_leftovers(marker: str, what: str) -> None:
    """Fail (after killing them) if processes mentioning this test's unique temporary path outlived the stop."""
    leftovers = processes_mentioning(marker)
    kill_all(leftovers)
    assert not leftovers, f"{what} left processes behind: {leftovers}"


@contextmanager
def dagster_dev(root: Path, env: Mapping[str, str], log: Path) -> Iterator[DagsterDev]:
    """`dagster dev` (webserver and daemon) on the workspace, with DAGSTER_HOME from `env` holding the repository's
    dagster.yaml, run from `root`; stopped as Ctrl-C would, then everything left killed and reported."""
    shutil.copy(REPO / "dagster.yaml", Path(env["DAGSTER_HOME"]) / "dagster.yaml")
    log.unlink(missing_ok=True)
    port = free_port()
    server = start_in_new_session(
        [VENV_BIN / "dagster", "dev", "-w", REPO / "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        log,
        env=dict(env),
        cwd=root,
    )
    try:
        running = DagsterDev(f"http://127.0.0.1:{port}", log, server)
        _wait_for_server(running)
        yield running
    finally:
        stop_session(server, signal.SIGINT, grace_s=30)
        fail_on_leftovers(str(root), "dagster dev")


def _wait_for_server(running: DagsterDev) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        running.alive()
        try:
            with urllib.request.urlopen(f"{running.url}/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    pytest.fail(f"dagster dev did not answer on {running.url} within {SERVER_START_S} s:\n{running.tail()}")
