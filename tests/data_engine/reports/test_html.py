"""The static reports as a person sees them: `data-engine selection --report` after a real loop (ingest, mine,
select, autolabel with the tiny detector, a bundle answered and imported, a dataset built), each page opened from
disk in headless Chromium: it renders, every image loads, the boxes of both sources are drawn. Screenshots are kept
in artifacts/reports/."""

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import Browser, Page

from data_engine.annotation import AnnotationRun, FrameAnswer, answer_bundle
from data_engine.annotation.bundle import MANIFEST_FILE
from data_engine.catalog import Catalog
from data_engine.cli import main
from data_engine.detections import Detections
from data_engine.synthetic import generate
from tests.answers import with_box
from tests.ui.screenshots import screenshot_folder
from tests.ui.test_dagster_ui import browser  # noqa: F401  (headless Chromium over CDP, stopped after the module)

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts" / "reports"
ALL_IMAGES_LOADED = "() => Array.from(document.images).every(image => image.complete && image.naturalWidth > 0)"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def artifacts() -> Path:
    return screenshot_folder(ARTIFACTS)


@pytest.fixture(scope="module")
def engine_home(tmp_path_factory: pytest.TempPathFactory, tiny_detector_weights: Path) -> Iterator[tuple[Path, str]]:
    """An engine home after one loop over three proving-ground videos; yields it and the report command's output."""
    root = tmp_path_factory.mktemp("reports")
    environment = {
        "DATA_ENGINE_HOME": str(root / "home"),
        "DATA_ENGINE_COMPUTE": "inprocess",
        "DATA_ENGINE_DETECTORS": str(tiny_detector_weights),
        "DATA_ENGINE_DETECTOR_IMGSZ": "160",
        "DATA_ENGINE_CLIP_SECONDS": "2",
        "DATA_ENGINE_BUDGET_PER_DAY": "12",
    }
    saved = {name: os.environ.get(name) for name in [*environment, "DATA_ENGINE_CATALOG_URL"]}
    os.environ.update(environment)
    os.environ.pop("DATA_ENGINE_CATALOG_URL", None)
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    try:
        for seed in (31, 32, 33):
            video = generate(root / "in", seed=seed, seconds=4.0).video_path
            os.utime(video, (time.time() - 60, time.time() - 60))
        invoke("run", str(root / "in"))
        catalog = Catalog(f"sqlite:///{root / 'home' / 'catalog.db'}")
        (record,) = catalog.annotation_runs()
        catalog.dispose()
        run = AnnotationRun.from_json(record.record)
        bundle = Path(record.project)
        manifest = json.loads((bundle / MANIFEST_FILE).read_text())["frames"]
        pre = {frame["key"]: frame["pre_annotations"] or [] for frame in manifest}
        person = {name: class_id for class_id, name in run.names.items()}["person"]
        answers = {
            (frame.clip_id, frame.frame): FrameAnswer(
                with_box(Detections.from_dicts(pre[frame.key], run.names), person, [4, 4, 40, 90]), annotator="ann"
            )
            for frame in run.frames
        }
        invoke("import-annotations", str(answer_bundle(run, answers)))
        invoke("dataset", "build")
        yield root / "home", invoke("selection", "--report")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:  # noqa: F811  (the imported browser fixture)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(60_000)
    yield opened
    context.close()


def _paths(output: str, kind: str) -> list[Path]:
    return [Path(line.split(": ", 1)[1]) for line in output.splitlines() if line.startswith(f"{kind} ")]


def _open(page: Page, path: Path) -> None:
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    page.wait_for_function(ALL_IMAGES_LOADED)


def test_the_batch_page_shows_every_selected_frame_with_its_boxes_reasons_and_timelines(
    engine_home: tuple[Path, str], page: Page, artifacts: Path
) -> None:
    home, output = engine_home
    (batch,) = _paths(output, "batch")
    assert batch.is_file() and batch.is_relative_to(home / "store" / "reports")
    selected = json.loads(CliRunner().invoke(main, ["selection", "--json"], catch_exceptions=False).stdout)
    _open(page, batch)
    assert page.locator("figure").count() == len(selected) > 0
    assert page.evaluate("() => document.images.length") >= len(selected)
    assert page.locator("img.timeline").count() == len({row["clip_id"] for row in selected})
    assert page.locator("rect.box.autolabel").count() > 0, "the model's boxes are drawn"
    assert page.locator("rect.box.review").count() >= len(selected), "every reviewed frame shows the human's boxes"
    captions = page.locator("figcaption").all_inner_texts()
    reasons = {reason["trigger"] for row in selected for reason in row["reasons"]}
    assert reasons and all(any(reason in caption for caption in captions) for reason in reasons)
    page.screenshot(path=artifacts / "batch.png", full_page=True)


def test_the_dataset_page_shows_class_counts_and_samples_per_split(
    engine_home: tuple[Path, str], page: Page, artifacts: Path
) -> None:
    _, output = engine_home
    (dataset,) = _paths(output, "dataset")
    _open(page, dataset)
    table = page.locator("table").inner_text()
    assert "person" in table and "car" in table and "train" in table and "test" in table
    assert page.locator("figure").count() > 0
    assert page.locator("rect.box.label").count() > 0
    page.screenshot(path=artifacts / "dataset.png", full_page=True)
    (index,) = [Path(line.split(": ", 1)[1]) for line in output.splitlines() if line.startswith("index: ")]
    _open(page, index)
    assert page.locator("a").count() == 2
    page.screenshot(path=artifacts / "index.png")
