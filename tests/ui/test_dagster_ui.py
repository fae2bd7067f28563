"""The Dagster UI as a person sees it: a video dropped into the inbox, `dagster dev`, headless Chromium.

The inbox sensor (enabled by default) turns the video into a batch partition and a `process_new_videos` run, which
the daemon launches into the temporary DAGSTER_HOME the webserver reads. Then Chromium, started with the flags a
locked-down CI machine needs and a fresh profile, opens the asset graph and the annotation_selection asset page.
Screenshots are kept in artifacts/ui/. Every process started here is stopped, the code server that `dagster dev`
spawns included, and the test fails if any is left behind.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.ui.processes import kill_all, processes_mentioning, start_in_new_session, stop_session

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
ARTIFACTS = REPO / "artifacts" / "ui"
CHROMIUM = Path(os.environ.get("DATA_ENGINE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
)
STAGE_GROUPS = {"ingest", "mining", "autolabel"}
PICTURES = ("hits_per_trigger", "trigger_timeline")
SERVER_START_S = 120
RUN_FINISH_S = 300
UI_WAIT_MS = 60_000

pytestmark = pytest.mark.timeout(600)


@dataclass(frozen=True)
class DagsterUI:
    url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else "(no log)"


def _graphql(url: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        document = json.load(response)
    assert "errors" not in document, document["errors"]
    return document["data"]


def _wait_for_server(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        assert server.poll() is None, f"dagster dev exited with {server.returncode}:\n{_tail(log)}"
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(1)
    pytest.fail(f"dagster dev did not answer on {url} within {SERVER_START_S} s:\n{_tail(log)}")


def _wait_for_sensor_run(url: str, server: subprocess.Popen[bytes], log: Path) -> str:
    """The run the inbox sensor requested for the new video, once it succeeded: its id."""
    query = '{ runsOrError(filter: {pipelineName: "process_new_videos"}) { ... on Runs { results { runId status } } } }'
    deadline = time.monotonic() + RUN_FINISH_S
    runs: list[dict[str, str]] = []
    while time.monotonic() < deadline:
        assert server.poll() is None, f"dagster dev exited with {server.returncode}:\n{_tail(log)}"
        runs = _graphql(url, query)["runsOrError"]["results"]
        failed = [run for run in runs if run["status"] in {"FAILURE", "CANCELED"}]
        assert not failed, f"process_new_videos ended {failed}:\n{_tail(log)}"
        if any(run["status"] == "SUCCESS" for run in runs):
            return next(run["runId"] for run in runs if run["status"] == "SUCCESS")
        time.sleep(2)
    pytest.fail(f"no successful process_new_videos run within {RUN_FINISH_S} s (runs: {runs}):\n{_tail(log)}")


def _put_video_in_inbox(engine_home: Path, scratch: Path) -> None:
    """A generated proving-ground video with flicker events, settled (older than the settle time) in the inbox."""
    subprocess.run(
        [VENV_BIN / "data-engine", "synth", scratch, "--seed", "1", "--seconds", "6"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    inbox = engine_home / "inbox"
    inbox.mkdir(parents=True)
    for video in scratch.glob("*.mp4"):
        settled = time.time() - 120
        os.utime(shutil.move(video, inbox / video.name), (settled, settled))


def _engine_environment(dagster_home: Path, engine_home: Path) -> dict[str, str]:
    """This process's environment with the engine's locations derived from the temporary homes only."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("DATA_ENGINE_", "DAGSTER_"))}
    return env | {"DAGSTER_HOME": str(dagster_home), "DATA_ENGINE_HOME": str(engine_home), "YOLO_OFFLINE": "1"}


def _fail_on_leftovers(marker: str, what: str) -> None:
    """Fail (after killing them) if processes mentioning this test's unique temporary path outlived the stop."""
    leftovers = processes_mentioning(marker)
    kill_all(leftovers)
    assert not leftovers, f"{what} left processes behind: {leftovers}"


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[DagsterUI]:
    """`dagster dev` on a free local port over a temporary DAGSTER_HOME, after the inbox sensor's run succeeded."""
    root = tmp_path_factory.mktemp("dagster-ui")
    dagster_home, engine_home = root / "dagster_home", root / "engine_home"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    _put_video_in_inbox(engine_home, root / "synth")
    log = artifacts / "dagster-dev.log"
    log.unlink(missing_ok=True)
    port = _free_port()
    server = start_in_new_session(
        [VENV_BIN / "dagster", "dev", "-w", REPO / "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        log,
        env=_engine_environment(dagster_home, engine_home),
        cwd=root,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_server(url, server, log)
        _wait_for_sensor_run(url, server, log)
        yield DagsterUI(url=url, log=log)
    finally:
        stop_session(server, signal.SIGINT, grace_s=30)
        _fail_on_leftovers(str(root), "dagster dev")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Browser]:
    """Headless Chromium with a fresh profile, driven over the DevTools protocol by Playwright."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/ensure-chromium.sh (or set DATA_ENGINE_CHROMIUM)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    chromium = start_in_new_session(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0", "about:blank"],
        artifacts / "chromium.log",
    )
    playwright = sync_playwright().start()
    try:
        active_port = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not active_port.exists() or len(active_port.read_text().splitlines()) < 2:
            assert chromium.poll() is None, f"Chromium exited with {chromium.returncode}"
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port within 60 s"
            time.sleep(0.2)
        port, path = active_port.read_text().splitlines()[:2]
        connected = playwright.chromium.connect_over_cdp(f"ws://127.0.0.1:{port}{path}")
        yield connected
        connected.close()
    finally:
        playwright.stop()
        stop_session(chromium, signal.SIGTERM, grace_s=10)
        _fail_on_leftovers(str(profile), "Chromium")


@pytest.fixture
def page(dagster_ui: DagsterUI, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=dagster_ui.url)
    opened = context.new_page()
    opened.set_default_timeout(UI_WAIT_MS)
    yield opened
    context.close()


def test_asset_graph_shows_every_stage_group(page: Page, dagster_ui: DagsterUI, artifacts: Path) -> None:
    nodes = _graphql(dagster_ui.url, "{ assetNodes { groupName } }")["assetNodes"]
    defined_groups = {node["groupName"] for node in nodes}
    assert defined_groups >= STAGE_GROUPS

    page.goto("/asset-groups")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    graph = page.locator("svg foreignObject")
    for group in sorted(defined_groups):
        expect(graph.get_by_text(group, exact=True), f"group {group} drawn in the asset graph").to_be_visible()
    page.screenshot(path=artifacts / "asset_graph.png")


def test_asset_page_shows_the_latest_materialization_with_its_plots(page: Page, artifacts: Path) -> None:
    page.goto("/assets/annotation_selection")
    expect(page.get_by_text("Latest materialization")).to_be_visible()
    clips_row = page.locator("tr").filter(has=page.get_by_text("clips", exact=True))
    expect(clips_row.get_by_text("selected frames")).to_be_visible()
    page.screenshot(path=artifacts / "annotation_selection.png", full_page=True)

    for key in PICTURES:
        row = page.locator("tr").filter(has=page.get_by_text(key, exact=True))
        row.get_by_text("[Show Markdown]").click()
        dialog = page.get_by_role("dialog")
        plot = dialog.locator('img[src^="data:image/png;base64,"]')
        expect(plot.first).to_be_visible()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=plot.first.element_handle())
        page.screenshot(path=artifacts / f"{key}.png")
        dialog.get_by_role("button", name="Close").click()
        expect(dialog).to_have_count(0)
