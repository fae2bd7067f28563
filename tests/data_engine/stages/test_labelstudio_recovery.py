"""Recovery from what a person does to Label Studio behind the engine's back, against a real server: a deleted
project (seen by a pull, or by a push) and deleted or broken tasks (`push --again RUN`). The old run is closed
as `replaced` with why, the frames go out again, are annotated through the REST API, and their labels come back."""

import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from data_engine.annotation import AnnotationRun, ReviewedFrame
from data_engine.catalog.models import AnnotationRunRecord
from tests.data_engine.stages.test_annotate_stage import Engine, _result, history
from tests.data_engine.stages.test_ingest_stage import _age
from tests.labelstudio_fixtures import LabelStudioServer


def _api(server: LabelStudioServer) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {server.token}"
    return session


@pytest.fixture
def cold_engine(
    label_studio: LabelStudioServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sample_videos: Path
) -> Engine:
    """A cold-start engine home pushing to the real Label Studio: the crowd sample run once."""
    store = label_studio.document_root / tmp_path.name / "store"
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATA_ENGINE_STORE", str(store))
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    monkeypatch.setenv("DATA_ENGINE_BUDGET_PER_DAY", "4")
    monkeypatch.delenv("DATA_ENGINE_DETECTORS", raising=False)
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_TOKEN", label_studio.token)
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_DOCUMENT_ROOT", str(label_studio.document_root))
    monkeypatch.setenv("DATA_ENGINE_ANNOTATION_PROJECT", f"test-{tmp_path.name}")
    video = tmp_path / "in" / "crowd.avi"
    video.parent.mkdir()
    video.write_bytes((sample_videos / "crowd_overhead_720p.avi").read_bytes())
    _age(video)
    engine = Engine(tmp_path / "home", CliRunner())
    assert label_studio.url in engine("run", str(video))
    return engine


def runs(engine: Engine) -> list[AnnotationRunRecord]:
    catalog = engine.catalog()
    found = catalog.annotation_runs()
    catalog.dispose()
    return found


def tasks_of(server: LabelStudioServer, project_id: str) -> list[dict[str, Any]]:
    answer = _api(server).get(
        f"{server.url}/api/tasks", params={"project": project_id, "fields": "all", "page_size": 1000}, timeout=30
    )
    answer.raise_for_status()
    tasks: list[dict[str, Any]] = answer.json()["tasks"]
    return tasks


def annotate(server: LabelStudioServer, task_ids: list[int]) -> None:
    for task_id in task_ids:
        answer = _api(server).post(
            f"{server.url}/api/tasks/{task_id}/annotations",
            json={"result": [_result("person", [100, 100, 140, 180], 1280, 720)], "lead_time": 2.0},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text


def delete_project(server: LabelStudioServer, project_id: str) -> None:
    assert _api(server).delete(f"{server.url}/api/projects/{project_id}", timeout=30).status_code == 204


def test_a_deleted_project_is_pushed_again_and_its_labels_come_back(
    cold_engine: Engine, label_studio: LabelStudioServer
) -> None:
    engine = cold_engine
    (first,) = runs(engine)
    frames = len(first.record["frames"])
    assert frames >= 2
    delete_project(label_studio, first.record["project_id"])

    pulled = engine("pull")
    assert f"run {first.id} is lost" in pulled and "no longer exists" in pulled, pulled
    assert {r.id: r.status for r in runs(engine)} == {first.id: "lost"}
    pushed = engine("push")
    assert f"closed run {first.id}" in pushed and f"its {frames} unreviewed frames pushed again" in pushed, pushed
    old, second = runs(engine)
    assert (old.id, old.status) == (first.id, "replaced") and old.closed_at is not None
    assert "no longer exists" in old.record["replaced"]["reason"] and old.record["replaced"]["by"] == second.id
    assert second.status == "pushed" and second.record["replaces"] == first.id
    assert second.record["project_id"] != first.record["project_id"], "a new project replaces the deleted one"

    # the new project is deleted too; this time a push finds out by itself, without a pull first
    delete_project(label_studio, second.record["project_id"])
    pushed = engine("push")
    assert f"closed run {second.id}" in pushed and "pushed again" in pushed, pushed
    third = runs(engine)[-1]
    assert [r.status for r in runs(engine)] == ["replaced", "replaced", "pushed"]
    tasks = tasks_of(label_studio, third.record["project_id"])
    assert len(tasks) == frames
    image = _api(label_studio).get(label_studio.url + tasks[0]["data"]["image"], timeout=30)
    assert image.status_code == 200, "the pushed-again frames load"

    annotate(label_studio, [task["id"] for task in tasks])
    pulled = engine("pull")
    assert f"pulled {frames} reviewed frames" in pulled, pulled
    assert {clip["status"] for clip in json.loads(engine("clips", "--json"))} >= {"annotated"}
    assert len(history_in(engine)) == frames
    assert "no open Label Studio runs" not in engine("pull", "--since", "7d"), "the replaced runs are not pulled"


def history_in(engine: Engine) -> dict[tuple[str, int], ReviewedFrame]:
    """The reviews stored so far, in the store under Label Studio's document root."""
    return history(engine, Path(os.environ["DATA_ENGINE_STORE"]))


def test_push_again_by_hand_replaces_deleted_and_unanswered_tasks_and_keeps_reviews(
    cold_engine: Engine, label_studio: LabelStudioServer
) -> None:
    engine = cold_engine
    (first,) = runs(engine)
    run = AnnotationRun.from_json(first.record)
    assert len(run.frames) >= 3
    reviewed, deleted = run.frames[:2]
    annotate(label_studio, [reviewed.task_id])
    assert _api(label_studio).delete(f"{label_studio.url}/api/tasks/{deleted.task_id}", timeout=30).status_code == 204
    pulled = engine("pull")
    assert "pulled 1 reviewed frames" in pulled and f"push --again {first.id}" in pulled, pulled

    before = {task["id"]: task["created_at"] for task in tasks_of(label_studio, first.record["project_id"])}
    pushed = engine("push", "--again", first.id)
    assert f"its {len(run.frames) - 1} unreviewed frames pushed again" in pushed, pushed
    old, second = runs(engine)
    assert old.status == "replaced" and "by hand" in old.record["replaced"]["reason"]
    again = AnnotationRun.from_json(second.record)
    assert {f.key for f in again.frames} == {f.key for f in run.frames} - {reviewed.key}
    after = {task["id"]: task["created_at"] for task in tasks_of(label_studio, second.record["project_id"])}
    assert set(after) == {f.task_id for f in again.frames} | {reviewed.task_id}, "the old unanswered tasks are gone"
    assert all(after[f.task_id] > max(before.values()) for f in again.frames if f.task_id), "fresh tasks, none adopted"

    annotate(label_studio, [f.task_id for f in again.frames if f.task_id is not None])
    pulled = engine("pull")
    assert f"pulled {len(again.frames)} reviewed frames" in pulled, pulled
    assert len(history_in(engine)) == len(run.frames)
    refused = engine.invoke("push", "--again", first.id)
    assert refused.exit_code == 2 and "pushed again already" in refused.output
