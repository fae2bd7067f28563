"""Annotation round trips at the engine level: bundle export and import, and a real Label Studio server."""

import json
from pathlib import Path

import numpy as np
import pytest
import requests
from click.testing import CliRunner

from data_engine.catalog import Catalog
from data_engine.cli import main
from data_engine.detections import Detections
from data_engine.formats.labelstudio import to_results
from data_engine.stages.annotate import trigger_yields
from data_engine.store import Store
from tests.data_engine.stages.test_ingest_stage import _age


def _result(label: str, xyxy: list[float], width: int, height: int) -> dict:
    """One box as the labeling UI submits it (through the canonical Label Studio adapter)."""
    box = Detections(np.array([xyxy], np.float32), np.ones(1, np.float32), np.zeros(1, np.int64), names={0: label})
    return to_results(box, width, height, with_scores=False)[0]


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_videos: Path, tiny_detector_weights: Path):
    """An engine home with the crowd sample ingested, mined and autolabelled by the tiny detector."""
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    monkeypatch.setenv("DATA_ENGINE_DETECTORS", str(tiny_detector_weights))
    monkeypatch.setenv("DATA_ENGINE_DETECTOR_IMGSZ", "160")
    monkeypatch.setenv("DATA_ENGINE_BUDGET_PER_DAY", "6")
    video = tmp_path / "in" / "crowd.avi"
    video.parent.mkdir()
    video.write_bytes((sample_videos / "crowd_overhead_720p.avi").read_bytes())
    _age(video)
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    assert "tasks pushed: " in invoke("run", str(video))
    assert json.loads(invoke("status", "--json"))["clips"]["pushed"] >= 1
    return invoke


def test_bundle_round_trip_moves_clips_to_annotated_with_review_versions(engine, tmp_path: Path) -> None:
    catalog = Catalog(f"sqlite:///{tmp_path / 'home' / 'catalog.db'}")
    (run,) = catalog.annotation_runs()
    catalog.dispose()
    assert run.backend == "bundle"
    bundle = Path(run.project)
    tasks_file = bundle / "tasks.labelstudio.json"
    tasks = json.loads(tasks_file.read_text())
    manifest = {f["key"]: f for f in json.loads((bundle / "manifest.json").read_text())["frames"]}
    for number, task in enumerate(tasks):
        frame = manifest[task["data"]["frame_key"]]
        width, height = frame["width"], frame["height"]
        boxes = [_result("person", box["xyxy"], width, height) for box in frame["pre_annotations"] or []]
        if number == 0:
            boxes.append(_result("person", [10, 10, 60, 110], width, height))
        task["annotations"] = [
            {
                "id": number,
                "result": boxes,
                "completed_by": "ann-1",
                "lead_time": 4.0,
                "created_at": "2026-11-21T10:00:00Z",
                "updated_at": "2026-11-21T10:00:04Z",
            }
        ]
    tasks_file.write_text(json.dumps(tasks))

    imported = json.loads(engine("import-annotations", str(tasks_file), "--json"))
    assert imported["frames"] == len(tasks) and imported["clips_annotated"] >= 1
    clips = json.loads(engine("clips", "--json"))
    annotated = [c for c in clips if c["status"] == "annotated"]
    assert annotated
    shown = json.loads(engine("labels", "show", annotated[0]["id"], "--json"))
    assert shown["kind"] == "review" and [v["kind"] for v in shown["versions"]][-1] == "review"
    assert "autolabel" in [v["kind"] for v in shown["versions"]], "autolabel versions are kept"
    stats = json.loads(engine("annotation-stats", "--json"))
    assert stats["per_annotator_day"][0]["annotator"] == "ann-1"
    assert stats["per_annotator_day"][0]["images"] == len(tasks)
    assert stats["overall"]["added"] == 1
    catalog = Catalog(f"sqlite:///{tmp_path / 'home' / 'catalog.db'}")
    yields = trigger_yields(catalog, Store(str(tmp_path / "home" / "store")), minimum_frames=1)
    catalog.dispose()
    assert yields and all(0.0 <= rate <= 1.0 for rate in yields.values()), "trigger yields feed the selection"
    assert sum(rate > 0 for rate in yields.values()) >= 1, "the frame with an added box counts as corrected"


def test_label_studio_round_trip_through_a_real_server(
    engine, label_studio, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATA_ENGINE_STORE", str(label_studio.document_root / tmp_path.name / "store"))
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_TOKEN", label_studio.token)
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_DOCUMENT_ROOT", str(label_studio.document_root))
    monkeypatch.setenv("DATA_ENGINE_ANNOTATION_PROJECT", f"test-{tmp_path.name}")
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "ls-home"))
    video = tmp_path / "in" / "crowd.avi"
    pushed = engine("run", str(video))
    assert "tasks pushed: " in pushed and label_studio.url in pushed and label_studio.token not in pushed
    catalog = Catalog(f"sqlite:///{tmp_path / 'ls-home' / 'catalog.db'}")
    (run,) = catalog.annotation_runs()
    project_id = run.record["project_id"]
    catalog.dispose()
    session = requests.Session()
    session.headers["Authorization"] = f"Token {label_studio.token}"
    tasks = session.get(
        f"{label_studio.url}/api/tasks", params={"project": project_id, "fields": "all", "page_size": 1000}, timeout=30
    ).json()["tasks"]
    assert tasks and any(task["predictions"] for task in tasks), "autolabels arrive as pre-annotations"
    for task in tasks:
        width, height = 1280, 720
        answer = session.post(
            f"{label_studio.url}/api/tasks/{task['id']}/annotations",
            json={"result": [_result("person", [100, 100, 140, 180], width, height)], "lead_time": 2.5},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
    pulled = engine("pull")
    assert f"pulled {len(tasks)} reviewed frames" in pulled
    states = {c["status"] for c in json.loads(engine("clips", "--json"))}
    assert "annotated" in states
    stats = json.loads(engine("annotation-stats", "--json"))
    assert sum(row["images"] for row in stats["per_annotator_day"]) == len(tasks)
    again = engine("pull")
    assert "pulled 0 reviewed frames" in again and "0 label versions written" in again, "nothing is imported twice"
