"""The annotation stage as a person runs it (the `data-engine` command line): bundles handed off and answered,
imports that take only what a person answered, dry runs, undo, and round trips through a real Label Studio."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from click.testing import CliRunner, Result

from data_engine.annotation import AnnotationRun, ReviewedFrame
from data_engine.annotation.history import review_history, review_yield_rates
from data_engine.autolabel.labels import read_labels
from data_engine.catalog import Catalog
from data_engine.cli import main
from data_engine.detections import Detections
from data_engine.formats.labelstudio import to_results
from data_engine.store import Store
from tests.data_engine.stages.test_ingest_stage import _age
from tests.model_fixtures import ProvingGround

TASKS_FILE = "tasks.labelstudio.json"
COCO_FILE = "annotations.coco.json"


def _result(label: str, xyxy: list[float], width: int, height: int) -> dict:
    """One box as the labeling UI submits it (through the canonical Label Studio adapter)."""
    box = Detections(np.array([xyxy], np.float32), np.ones(1, np.float32), np.zeros(1, np.int64), names={0: label})
    return to_results(box, width, height, with_scores=False)[0]


@dataclass
class Engine:
    """An engine home on the command line, with the crowd sample pushed to annotators as a bundle."""

    home: Path
    runner: CliRunner

    def __call__(self, *args: str) -> str:
        result = self.invoke(*args)
        assert result.exit_code == 0, result.output
        return result.output

    def invoke(self, *args: str) -> Result:
        return self.runner.invoke(main, list(args), catch_exceptions=False)

    def catalog(self) -> Catalog:
        return Catalog(f"sqlite:///{self.home / 'catalog.db'}")

    def bundle(self) -> Path:
        catalog = self.catalog()
        (run,) = catalog.annotation_runs()
        catalog.dispose()
        assert run.backend == "bundle"
        return Path(run.project)

    def state(self) -> dict[str, Any]:
        """Everything an import may write: label versions, imports, clip states, and every file of the store."""
        catalog = self.catalog()
        clips = catalog.clips()
        state = {
            "clips": {clip.id: clip.status for clip in clips},
            "versions": {clip.id: [v.version for v in catalog.label_versions(clip.id)] for clip in clips},
            "imports": [row.id for row in catalog.annotation_imports()],
            "files": sorted(
                (str(path), path.stat().st_mtime_ns) for path in (self.home / "store").rglob("*") if path.is_file()
            ),
        }
        catalog.dispose()
        return state


def start_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: Path, weights: Path) -> Engine:
    """An engine home with a video (the crowd sample) ingested, mined, autolabelled by the tiny detector and
    pushed."""
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    monkeypatch.setenv("DATA_ENGINE_DETECTORS", str(weights))
    monkeypatch.setenv("DATA_ENGINE_DETECTOR_IMGSZ", "160")
    monkeypatch.setenv("DATA_ENGINE_BUDGET_PER_DAY", "6")
    video = tmp_path / "in" / f"crowd{source.suffix}"
    video.parent.mkdir()
    video.write_bytes(source.read_bytes())
    _age(video)
    engine = Engine(tmp_path / "home", CliRunner())
    assert "tasks pushed: " in engine("run", str(video))
    assert json.loads(engine("status", "--json"))["clips"]["pushed"] >= 1
    return engine


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_videos: Path, tiny_detector_weights: Path) -> Engine:
    return start_engine(tmp_path, monkeypatch, sample_videos / "crowd_overhead_720p.avi", tiny_detector_weights)


def run_frames(engine: Engine) -> dict[str, tuple[str, int]]:
    """Frame key -> (clip id, frame) of the engine's annotation runs."""
    catalog = engine.catalog()
    runs = [AnnotationRun.from_json(record.record) for record in catalog.annotation_runs()]
    catalog.dispose()
    return {frame.key: (frame.clip_id, frame.frame) for run in runs for frame in run.frames}


def history(engine: Engine, store: Path | None = None) -> dict[tuple[str, int], ReviewedFrame]:
    """Every frame reviewed so far, by (clip id, frame)."""
    catalog = engine.catalog()
    found = review_history(catalog, Store(str(store or engine.home / "store")))
    catalog.dispose()
    return {(frame.clip_id, frame.frame): frame for frame in found}


def answer_tasks(bundle: Path, answer: Callable[[int, dict, list[dict]], list[dict] | None]) -> list[dict]:
    """Answer the bundle's Label Studio tasks as an annotator in Label Studio would: `answer(number, frame,
    pre-annotation results)` gives a task's submitted results, or None to leave it unanswered."""
    tasks_file = bundle / TASKS_FILE
    tasks = json.loads(tasks_file.read_text())
    manifest = json.loads((bundle / "manifest.json").read_text())
    frames = {f["key"]: f for f in manifest["frames"]}
    for number, task in enumerate(tasks):
        frame = frames[task["data"]["frame_key"]]
        width, height = frame["width"], frame["height"]
        pre = [
            _result(manifest["names"][str(box["class_id"])], box["xyxy"], width, height)
            for box in frame["pre_annotations"] or []
        ]
        results = answer(number, frame, pre)
        if results is not None:
            task["annotations"] = [
                {
                    "id": number,
                    "result": results,
                    "completed_by": "ann-1",
                    "lead_time": 4.0,
                    "created_at": "2026-11-21T10:00:00Z",
                    "updated_at": "2026-11-21T10:00:04Z",
                }
            ]
    tasks_file.write_text(json.dumps(tasks))
    return tasks


def review_versions(engine: Engine) -> dict[str, list[int]]:
    catalog = engine.catalog()
    found = {
        clip.id: [v.version for v in catalog.label_versions(clip.id) if v.kind == "review"] for clip in catalog.clips()
    }
    catalog.dispose()
    return {clip_id: versions for clip_id, versions in found.items() if versions}


def test_bundle_round_trip_moves_clips_to_annotated_with_review_versions(engine: Engine, tmp_path: Path) -> None:
    bundle = engine.bundle()

    def accept_and_add_one(number: int, frame: dict, pre: list[dict]) -> list[dict]:
        width, height = frame["width"], frame["height"]
        return pre + ([_result("person", [10, 10, 60, 110], width, height)] if number == 0 else [])

    tasks = answer_tasks(bundle, accept_and_add_one)

    imported = json.loads(engine("import-annotations", str(bundle / TASKS_FILE), "--json"))
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
    again = engine("import-annotations", str(bundle))
    assert "already imported" in again, "the same answers imported twice are one import"
    catalog = engine.catalog()
    yields = review_yield_rates(catalog, Store(str(engine.home / "store")), minimum_frames=1)
    catalog.dispose()
    assert yields and all(0.0 <= rate <= 1.0 for rate in yields.values()), "trigger yields feed the selection"
    assert sum(rate > 0 for rate in yields.values()) >= 1, "the frame with an added box counts as corrected"


def test_importing_an_untouched_bundle_reviews_nothing(engine: Engine) -> None:
    """Issue 16 / 11.2: the pre-annotations are in every file of the bundle, but nobody answered."""
    bundle = engine.bundle()
    before = engine.state()

    outputs = [engine("import-annotations", str(path)) for path in (bundle, bundle.with_suffix(".zip"))]

    assert engine.state() == before, "no label version, no import, no clip annotated"
    assert not review_versions(engine)
    assert all("0 frames answered" in output and "nothing imported" in output for output in outputs), outputs


def test_files_nobody_answered_in_never_overwrite_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, proving_ground: ProvingGround, tiny_detector_weights: Path
) -> None:
    """Issue 16: the bundle is answered in COCO (chosen at push); the annotator removes the model's boxes and marks
    the images done. Importing the folder reads that file only: the untouched Label Studio, CVAT and YOLO exports
    beside it, full of the model's boxes, never overwrite the answer."""
    monkeypatch.setenv("DATA_ENGINE_BUNDLE_ANSWER_FORMAT", "coco")
    synthetic = proving_ground.train[0].video_path  # footage the tiny detector finds objects in
    engine = start_engine(tmp_path, monkeypatch, synthetic, tiny_detector_weights)
    bundle = engine.bundle()
    coco = json.loads((bundle / COCO_FILE).read_text())
    assert coco["annotations"], "the tiny detector pre-annotated the frames"
    assert any((bundle / "labels").glob("*.txt")) and "<box " in (bundle / "annotations.cvat.xml").read_text()
    coco["annotations"] = []
    for image in coco["images"]:
        image["reviewed"] = True
    (bundle / COCO_FILE).write_text(json.dumps(coco))

    output = engine("import-annotations", str(bundle))

    reviewed = history(engine)
    assert len(reviewed) == len(coco["images"]), output
    assert all(len(frame.detections) == 0 for frame in reviewed.values()), "the removed boxes stay removed"
    assert "(coco, run" in output


def test_a_frame_whose_every_box_is_rejected_is_reported_and_not_reviewed(engine: Engine) -> None:
    """Issue 11.2: out-of-image, unknown-label and NaN boxes are rejected; a frame left with none of its boxes
    is no answer. An answer with no boxes at all is "reviewed, nothing to label" and counts."""
    bundle = engine.bundle()

    def answers(number: int, frame: dict, pre: list[dict]) -> list[dict]:
        width, height = frame["width"], frame["height"]
        if number == 0:
            bad_label = _result("bicycle", [10, 10, 60, 110], width, height)
            outside = _result("person", [10, 10, 60, 110], width, height)
            outside["value"]["x"] = 150.0
            nan = _result("person", [10, 10, 60, 110], width, height)
            nan["value"]["width"] = "NaN"
            return [bad_label, outside, nan]
        return [] if number == 1 else pre

    tasks = answer_tasks(bundle, answers)
    output = engine("import-annotations", str(bundle))

    reviewed = history(engine)
    frames = run_frames(engine)
    rejected, empty = frames[tasks[0]["data"]["frame_key"]], frames[tasks[1]["data"]["frame_key"]]
    assert rejected not in reviewed and len(reviewed) == len(tasks) - 1
    assert len(reviewed[empty].detections) == 0
    assert f"{len(tasks) - 1} frames answered" in output and "1 rejected" in output, output
    assert "all 3 boxes of the answer were refused; the frame stays unreviewed" in output
    assert "unknown label 'bicycle'" in output and "outside the" in output and "not finite" in output


def test_dry_run_writes_nothing_and_an_import_can_be_undone(engine: Engine) -> None:
    bundle = engine.bundle()

    def answers(number: int, frame: dict, pre: list[dict]) -> list[dict]:
        width, height = frame["width"], frame["height"]
        if number == 0:
            return [*pre, _result("person", [10, 10, 60, 110], width, height)]
        if number == 1:
            return []
        return pre

    tasks = answer_tasks(bundle, answers)
    before = engine.state()

    dry = engine("import-annotations", str(bundle), "--dry-run")
    as_json = json.loads(engine("import-annotations", str(bundle), "--dry-run", "--json"))

    assert engine.state() == before, "a dry run writes nothing"
    assert f"dry run: {len(tasks)} frames would be reviewed" in dry and "nothing written" in dry
    assert as_json["dry_run"] and len(as_json["changes"]) == len(tasks)
    added = [c for c in as_json["changes"] if c["added"]]
    assert len(added) == 1 and "+1 ~0 -0 boxes" in dry
    emptied = [c for c in as_json["changes"] if c["becomes_empty"]]
    assert len(emptied) == as_json["frames_becoming_empty"] and as_json["frames_becoming_empty"] <= 1

    output = engine("import-annotations", str(bundle))
    import_id = output.rsplit("--undo ", 1)[1].split(")")[0]
    imported = engine.state()
    assert imported["versions"] != before["versions"] and "annotated" in imported["clips"].values()

    undone = engine("import-annotations", "--undo", import_id)

    assert "clips restored" in undone
    after = engine.state()
    assert after["clips"] == before["clips"], "clips go back to pushed"
    assert history(engine) == {}, "no frame counts as reviewed after the undo"
    catalog = engine.catalog()
    store = Store(str(engine.home / "store"))
    for clip in catalog.clips():
        versions = catalog.label_versions(clip.id)
        if len(versions) < 3:
            continue
        restored = read_labels(store.fetch(versions[-1].path))
        original = read_labels(store.fetch(versions[-3].path))
        assert [len(frame) for frame in restored.frames] == [len(frame) for frame in original.frames]
    catalog.dispose()
    refused = engine.invoke("import-annotations", "--undo", import_id)
    assert refused.exit_code == 2 and "already undone" in refused.output
    assert "import " in engine("import-annotations", str(bundle)), "the same answers can be imported again"


def test_malformed_answer_files_are_one_error_line_or_rejections(engine: Engine, tmp_path: Path) -> None:
    """Issue 11.9: deeply nested JSON, results that are strings or whose value is a list, non-numeric scores and
    lead times: an `error:` line or a rejection per item, never a traceback."""
    bundle = engine.bundle()
    deep = bundle / TASKS_FILE
    original = deep.read_text()
    deep.write_text("[" * 200_000 + "]" * 200_000)
    failed = engine.invoke("import-annotations", str(bundle))
    assert failed.exit_code == 2 and failed.output.startswith("error: ") and "nests JSON too deeply" in failed.output
    assert "Traceback" not in failed.output
    deep.write_text(original)

    def answers(number: int, frame: dict, pre: list[dict]) -> list[dict]:
        width, height = frame["width"], frame["height"]
        good = _result("person", [10, 10, 60, 110], width, height)
        scored = {**_result("person", [20, 20, 60, 110], width, height), "score": "high"}
        listed = {**_result("person", [20, 20, 60, 110], width, height), "value": [1, 2, 3]}
        return ["a string", listed, scored, good]

    answer_tasks(bundle, answers)
    tasks = json.loads(deep.read_text())
    tasks[0]["annotations"][0]["lead_time"] = "about a minute"
    deep.write_text(json.dumps(tasks))

    output = engine("import-annotations", str(bundle))

    assert "is not an object" in output and "value [1, 2, 3] is not an object" in output
    assert "score 'high' is not a number" in output and "lead_time 'about a minute' is not a number" in output
    assert f"{len(tasks)} frames answered" in output


def _label_studio_env(monkeypatch: pytest.MonkeyPatch, label_studio: Any, tmp_path: Path, home: str) -> None:
    monkeypatch.setenv("DATA_ENGINE_STORE", str(label_studio.document_root / tmp_path.name / "store"))
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_DOCUMENT_ROOT", str(label_studio.document_root))
    monkeypatch.setenv("DATA_ENGINE_ANNOTATION_PROJECT", f"test-{tmp_path.name}")
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / home))


def _api(label_studio: Any) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {label_studio.token}"
    return session


def test_label_studio_round_trip_through_a_real_server_and_corrections_after_close(
    engine: Engine, label_studio: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _label_studio_env(monkeypatch, label_studio, tmp_path, "ls-home")
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_TOKEN", label_studio.token)
    engine = Engine(tmp_path / "ls-home", engine.runner)
    pushed = engine("run", str(tmp_path / "in" / "crowd.avi"))
    assert "tasks pushed: " in pushed and label_studio.url in pushed and label_studio.token not in pushed
    catalog = engine.catalog()
    (run,) = catalog.annotation_runs()
    project_id = run.record["project_id"]
    catalog.dispose()
    session = _api(label_studio)
    tasks = session.get(
        f"{label_studio.url}/api/tasks", params={"project": project_id, "fields": "all", "page_size": 1000}, timeout=30
    ).json()["tasks"]
    assert tasks and any(task["predictions"] for task in tasks), "autolabels arrive as pre-annotations"
    assert all("_f" in task["data"]["image"] and "_t" in task["data"]["image"] for task in tasks)
    annotation_ids = []
    for task in tasks:
        answer = session.post(
            f"{label_studio.url}/api/tasks/{task['id']}/annotations",
            json={"result": [_result("person", [100, 100, 140, 180], 1280, 720)], "lead_time": 2.5},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        annotation_ids.append(answer.json()["id"])
    pulled = engine("pull")
    assert f"pulled {len(tasks)} reviewed frames" in pulled
    states = {c["status"] for c in json.loads(engine("clips", "--json"))}
    assert "annotated" in states
    stats = json.loads(engine("annotation-stats", "--json"))
    assert sum(row["images"] for row in stats["per_annotator_day"]) == len(tasks)
    again = engine("pull")
    assert "pulled 0 reviewed frames" in again and "0 label versions written" in again, "nothing is imported twice"

    corrected = session.patch(
        f"{label_studio.url}/api/annotations/{annotation_ids[0]}",
        json={
            "result": [
                _result("person", [100, 100, 140, 180], 1280, 720),
                _result("person", [500, 300, 560, 400], 1280, 720),
            ]
        },
        timeout=30,
    )
    assert corrected.status_code == 200, corrected.text
    outside_window = engine("pull", "--since", "0h")
    assert outside_window.startswith("no open Label Studio runs"), "a closed run is left alone outside the window"
    correction = engine("pull", "--since", "7d")
    assert "pulled 1 reviewed frames" in correction and "1 label versions written" in correction
    reviewed = history(engine, label_studio.document_root / tmp_path.name / "store")
    assert sorted(len(frame.detections) for frame in reviewed.values()) == [1] * (len(tasks) - 1) + [2]
    catalog = engine.catalog()
    latest = catalog.annotation_imports()[-1].id
    catalog.dispose()
    assert "clips restored" in engine("import-annotations", "--undo", latest)
    after_undo = engine("pull", "--since", "7d")
    assert "pulled 0 reviewed frames" in after_undo and "whose import was undone" in after_undo, after_undo


def test_bundle_round_trip_through_a_real_label_studio(
    engine: Engine, label_studio: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Issue 16: the bundle's task file and labeling config imported as they are into Label Studio, every image
    loads, an annotator answers through the API, the export comes back into the engine."""
    _label_studio_env(monkeypatch, label_studio, tmp_path, "bundle-home")
    engine = Engine(tmp_path / "bundle-home", engine.runner)
    assert "tasks pushed: " in engine("run", str(tmp_path / "in" / "crowd.avi"))
    bundle = engine.bundle()
    session = _api(label_studio)
    project = session.post(
        f"{label_studio.url}/api/projects",
        json={"title": f"bundle-{tmp_path.name}"[:50], "label_config": (bundle / "labeling-config.xml").read_text()},
        timeout=30,
    )
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    storage = session.post(
        f"{label_studio.url}/api/storages/localfiles",
        json={"project": project_id, "path": str(bundle / "images"), "title": "bundle", "use_blob_urls": False},
        timeout=30,
    )
    assert storage.status_code == 201, storage.text
    with open(bundle / TASKS_FILE, "rb") as handle:
        imported = session.post(
            f"{label_studio.url}/api/projects/{project_id}/import", files={"file": (TASKS_FILE, handle)}, timeout=60
        )
    assert imported.status_code == 201, imported.text
    tasks = session.get(
        f"{label_studio.url}/api/tasks", params={"project": project_id, "fields": "all", "page_size": 1000}, timeout=30
    ).json()["tasks"]
    assert len(tasks) == len(json.loads((bundle / TASKS_FILE).read_text()))
    for task in tasks:
        image = session.get(label_studio.url + task["data"]["image"], timeout=30)
        assert image.status_code == 200 and image.content[:2] == b"\xff\xd8", task["data"]["image"]
        assert task["predictions"], "the model's boxes arrive as predictions"
    for number, task in enumerate(tasks[:-1]):  # the last task is left unanswered
        prediction = [{k: v for k, v in r.items() if k != "score"} for r in task["predictions"][0]["result"]]
        results = [*prediction, _result("person", [40, 40, 90, 140], 1280, 720)] if number == 0 else []
        answer = session.post(
            f"{label_studio.url}/api/tasks/{task['id']}/annotations",
            json={"result": results, "lead_time": 3.0},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
    export = session.get(
        f"{label_studio.url}/api/projects/{project_id}/export", params={"exportType": "JSON"}, timeout=60
    )
    assert export.status_code == 200
    downloaded = tmp_path / "downloads" / "project-export.json"
    downloaded.parent.mkdir()
    downloaded.write_bytes(export.content)

    output = engine("import-annotations", str(downloaded))

    assert f"{len(tasks) - 1} frames answered, 1 not answered" in output, output
    reviewed = history(engine, label_studio.document_root / tmp_path.name / "store")
    assert len(reviewed) == len(tasks) - 1 and all(frame.annotator for frame in reviewed.values())
    frames = run_frames(engine)
    kept = reviewed[frames[tasks[0]["data"]["frame_key"]]]
    assert len(kept.detections) == len(tasks[0]["predictions"][0]["result"]) + 1, "kept predictions plus a new box"
    assert frames[tasks[-1]["data"]["frame_key"]] not in reviewed, "an unanswered task is not reviewed"
    assert all(len(reviewed[frames[t["data"]["frame_key"]]].detections) == 0 for t in tasks[1:-1]), "empty answers"
