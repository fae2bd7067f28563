"""The Dagster UI as a person sees it: a video dropped into the inbox, `dagster dev`, headless Chromium.

The inbox sensor (enabled by default) turns the video into a batch partition and a `process_new_videos` run, which
the daemon launches into the temporary DAGSTER_HOME the webserver reads. Then Chromium, started with the flags a
locked-down CI machine needs and a fresh profile, opens the asset graph and the annotation_selection asset page.
Screenshots are kept in artifacts/ui/. Every process started here is stopped, the code server that `dagster dev`
spawns included, and the test fails if any is left behind.
"""

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.ui.dagster_dev import VENV_BIN, DagsterDev, dagster_dev, engine_environment, fail_on_leftovers
from tests.ui.processes import start_in_new_session, stop_session
from tests.ui.screenshots import screenshot_folder

REPO = Path(__file__).resolve().parents[2]
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
RUN_FINISH_S = 300
UI_WAIT_MS = 60_000

pytestmark = pytest.mark.timeout(600)


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


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return screenshot_folder(ARTIFACTS)


@pytest.fixture(scope="module")
def dagster_ui(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[DagsterDev]:
    """`dagster dev` on a free local port over a temporary DAGSTER_HOME, after the inbox sensor's run succeeded."""
    root = tmp_path_factory.mktemp("dagster-ui")
    dagster_home, engine_home = root / "dagster_home", root / "engine_home"
    dagster_home.mkdir()
    _put_video_in_inbox(engine_home, root / "synth")
    with dagster_dev(root, engine_environment(dagster_home, engine_home), artifacts / "dagster-dev.log") as running:
        running.wait_for_successes("process_new_videos", 1, RUN_FINISH_S)
        yield running


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
        fail_on_leftovers(str(profile), "Chromium")


@pytest.fixture
def page(dagster_ui: DagsterDev, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=dagster_ui.url)
    opened = context.new_page()
    opened.set_default_timeout(UI_WAIT_MS)
    yield opened
    context.close()


def test_asset_graph_shows_every_stage_group(page: Page, dagster_ui: DagsterDev, artifacts: Path) -> None:
    nodes = dagster_ui.graphql("{ assetNodes { groupName } }")["assetNodes"]
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
