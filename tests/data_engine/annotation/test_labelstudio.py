"""The Label Studio backend against a real server: push, annotate through the API as an annotator would, pull,
store label versions, metrics; and every fault: wrong token, server gone mid-push, invalid boxes, deleted task."""

from __future__ import annotations

import dataclasses
import logging
import socket
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from data_engine.annotation import (
    AnnotationAuthError,
    AnnotationError,
    AnnotationRun,
    AnnotationUnavailableError,
    LabelStudioBackend,
    LabelStudioConfig,
    ReviewRequest,
    review_metrics,
    store_reviewed_labels,
)
from data_engine.autolabel.labels import LabelFile, label_versions, read_labels, write_next_labels
from data_engine.detections import Detections
from data_engine.formats.labelstudio import to_results
from tests.data_engine.annotation.conftest import CLIP_IDS, NAMES
from tests.labelstudio_fixtures import SCRIPT, LabelStudioServer, TcpRelay

CLIP_FRAMES = 31


def api(server: LabelStudioServer) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {server.token}"
    return session


def project_tasks(server: LabelStudioServer, project_id: str) -> list[dict[str, Any]]:
    answer = api(server).get(
        f"{server.url}/api/tasks", params={"project": project_id, "page_size": 1000, "fields": "all"}, timeout=30
    )
    answer.raise_for_status()
    return answer.json()["tasks"]


def annotate(server: LabelStudioServer, task_id: int, results: list[dict], lead_time: float) -> None:
    """Submit an annotation the way the labeling UI does."""
    answer = api(server).post(
        f"{server.url}/api/tasks/{task_id}/annotations", json={"result": results, "lead_time": lead_time}, timeout=30
    )
    assert answer.status_code == 201, answer.text


def edited(boxes: Detections, change: str, width: int, height: int) -> Detections:
    """What an annotator makes of the autolabels: accept, move a box, relabel one, delete one, add one."""
    xyxy, class_id = boxes.xyxy.copy(), boxes.class_id.copy()
    if change == "move":
        shift_x, shift_y = 0.15 * (xyxy[0, 2] - xyxy[0, 0]), 0.1 * (xyxy[0, 3] - xyxy[0, 1])
        xyxy[0] += [shift_x, shift_y, shift_x, shift_y]  # IoU about 0.62: the same object, moved
    elif change == "relabel":
        class_id[0] = 1 - class_id[0]
    elif change == "delete":
        xyxy, class_id = xyxy[1:], class_id[1:]
    elif change == "add":
        xyxy = np.vstack([xyxy, [[width - 60, height - 50, width - 10, height - 5]]])
        class_id = np.append(class_id, 0)
    return Detections(xyxy, np.ones(len(xyxy)), class_id, names=NAMES)


def as_results(boxes: Detections, width: int, height: int) -> list[dict]:
    """Boxes as the labeling UI submits them (percent of the image size; no scores)."""
    return to_results(boxes, width, height, with_scores=False)


CHANGES = ("accept", "move", "relabel", "delete", "add", "accept")


def test_push_annotate_pull_round_trip(
    label_studio: LabelStudioServer, labelstudio_config: LabelStudioConfig, to_review: ReviewRequest, tmp_path: Path
) -> None:
    backend = LabelStudioBackend(labelstudio_config)
    run = backend.push(to_review, "run-1")

    assert AnnotationRun.from_json(run.to_json()) == run
    assert len({f.task_id for f in run.frames}) == len(to_review.frames)
    tasks = {task["id"]: task for task in project_tasks(label_studio, run.project_id)}
    assert set(tasks) == {f.task_id for f in run.frames}
    first = tasks[run.frames[0].task_id]
    assert len(first["predictions"][0]["result"]) == len(to_review.frames[0].pre_annotations)
    assert first["predictions"][0]["model_version"] == "hindsight-test"
    image = api(label_studio).get(label_studio.url + first["data"]["image"], timeout=30)
    assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
    assert "crowd" not in first["data"]["image"]
    assert backend.progress(run).pending == len(to_review.frames)

    expected: dict[tuple[str, int], Detections] = {}
    for selected, run_frame, change in zip(to_review.frames, run.frames, CHANGES, strict=False):
        after = edited(selected.pre_annotations, change, selected.width, selected.height)
        expected[(selected.clip_id, selected.frame)] = after
        annotate(label_studio, run_frame.task_id, as_results(after, selected.width, selected.height), 10.0 + len(after))

    pulled = backend.pull(run)

    assert not pulled.rejected and not pulled.missing
    assert len(pulled.frames) == len(CHANGES)
    assert {(f.clip_id, f.frame) for f in pulled.pending} == {(s.clip_id, s.frame) for s in to_review.frames[6:]}
    for reviewed in pulled.frames:
        want = expected[(reviewed.clip_id, reviewed.frame)]
        np.testing.assert_allclose(reviewed.detections.xyxy, want.xyxy, atol=0.01)
        np.testing.assert_array_equal(reviewed.detections.class_id, want.class_id)
        assert reviewed.annotator == "admin@data-engine.local"
        assert reviewed.lead_time_s == 10.0 + len(want)
        pushed = next(s for s in to_review.frames if (s.clip_id, s.frame) == (reviewed.clip_id, reviewed.frame))
        np.testing.assert_allclose(reviewed.pre_annotations.xyxy, pushed.pre_annotations.xyxy, atol=0.01)
    assert backend.progress(run).annotated == len(CHANGES)
    snapshots = api(label_studio).get(f"{label_studio.url}/api/projects/{run.project_id}/exports", timeout=30)
    assert snapshots.json() == []  # the pull's export snapshot was deleted after download
    project = api(label_studio).get(f"{label_studio.url}/api/projects/{run.project_id}", timeout=30).json()
    assert project["num_tasks_with_annotations"] == len(CHANGES)
    two = dataclasses.replace(run, frames=run.frames[:2])  # 6 annotated tasks > 2 x 2: exported by pages of ids
    assert [(f.clip_id, f.frame) for f in backend.pull(two).frames] == [(f.clip_id, f.frame) for f in two.frames]

    clip_dirs = {clip_id: tmp_path / clip_id.replace("/", "_") for clip_id in CLIP_IDS}
    for clip_id, clip_dir in clip_dirs.items():
        autolabel_frames = [Detections.empty(NAMES)] * CLIP_FRAMES
        for selected in to_review.frames:
            if selected.clip_id == clip_id:
                autolabel_frames[selected.frame] = selected.pre_annotations
        write_next_labels(
            clip_dir,
            LabelFile(clip_id, 0, "autolabel", CLIP_FRAMES, 320, 180, NAMES, tuple(autolabel_frames)),
        )
    written = store_reviewed_labels(pulled.frames, clip_dirs.__getitem__, NAMES, run.run_id)

    assert sorted(written) == sorted(CLIP_IDS)
    for clip_id, stored in written.items():
        path = stored.path
        assert [p.name for p in label_versions(clip_dirs[clip_id])] == ["v0001.json", "v0002.json"]
        review = read_labels(path)
        assert review.kind == "review" and read_labels(clip_dirs[clip_id] / "labels" / "v0001.json").kind == "autolabel"
        for reviewed in pulled.frames:
            if reviewed.clip_id == clip_id:
                np.testing.assert_allclose(review.frames[reviewed.frame].xyxy, reviewed.detections.xyxy, atol=0.01)
                record = review.stats["review"]["frames"][str(reviewed.frame)]
                assert record["annotator"] == "admin@data-engine.local" and record["lead_time_s"] > 10
    again = store_reviewed_labels(pulled.frames, clip_dirs.__getitem__, NAMES, run.run_id)
    assert not any(stored.created for stored in again.values()), "the same review is not written twice"

    metrics = review_metrics(pulled.frames)
    assert (metrics.overall.added, metrics.overall.deleted, metrics.overall.moved, metrics.overall.class_changed) == (
        1,
        1,
        1,
        1,
    )
    assert (metrics.per_trigger["flicker"].frames, metrics.per_trigger["flicker"].changed_frames) == (4, 3)
    assert (metrics.per_trigger["cut"].frames, metrics.per_trigger["cut"].changed_frames) == (2, 1)
    (row,) = metrics.per_annotator_day
    assert row.images == len(CHANGES) and row.day == datetime.now(UTC).date().isoformat()


def test_push_again_creates_no_second_task(
    label_studio: LabelStudioServer, labelstudio_config: LabelStudioConfig, to_review: ReviewRequest
) -> None:
    backend = LabelStudioBackend(labelstudio_config)
    half = dataclasses.replace(to_review, frames=to_review.frames[:4])
    first = backend.push(half, "run-1")
    second = backend.push(to_review, "run-2")

    assert second.project_id == first.project_id
    assert [f.task_id for f in second.frames[:4]] == [f.task_id for f in first.frames]
    tasks = project_tasks(label_studio, second.project_id)
    assert len(tasks) == len(to_review.frames)
    assert len({task["data"]["frame_key"] for task in tasks}) == len(to_review.frames)


def test_wrong_token_is_a_clear_error_and_pushes_nothing(
    label_studio: LabelStudioServer, labelstudio_config: LabelStudioConfig, to_review: ReviewRequest, caplog
) -> None:
    wrong = dataclasses.replace(labelstudio_config, token="not-the-token-12345")
    with caplog.at_level(logging.DEBUG), pytest.raises(AnnotationAuthError, match="refused the API token") as error:
        LabelStudioBackend(wrong).push(to_review, "run-1")

    assert "not-the-token-12345" not in str(error.value) and "not-the-token-12345" not in caplog.text
    assert "not-the-token-12345" not in repr(wrong)
    projects = api(label_studio).get(f"{label_studio.url}/api/projects", params={"page_size": 1000}, timeout=30)
    assert to_review.name not in {p["title"] for p in projects.json()["results"]}
    assert not Path(labelstudio_config.image_dir).exists()


def test_server_gone_mid_push_retries_then_a_rerun_completes_without_duplicates(
    label_studio: LabelStudioServer,
    labelstudio_config: LabelStudioConfig,
    to_review: ReviewRequest,
    tcp_relay: TcpRelay,
    caplog,
) -> None:
    config = dataclasses.replace(labelstudio_config, url=tcp_relay.url, batch_size=3)
    backend = LabelStudioBackend(config)

    def short_outage(done: int, total: int) -> None:
        if done == 3:
            tcp_relay.cut()
            threading.Timer(0.2, tcp_relay.restore).start()

    with caplog.at_level(logging.DEBUG):
        run = backend.push(to_review, "run-1", progress=short_outage)
    assert "retry" in caplog.text
    assert len(project_tasks(label_studio, run.project_id)) == len(to_review.frames)

    longer = dataclasses.replace(to_review, name=to_review.name + "-long")

    def long_outage(done: int, total: int) -> None:
        if done == 3:
            tcp_relay.cut()

    with caplog.at_level(logging.DEBUG), pytest.raises(AnnotationUnavailableError, match="only the missing") as error:
        backend.push(longer, "run-2", progress=long_outage)
    tcp_relay.restore()
    rerun = backend.push(longer, "run-2")

    tasks = project_tasks(label_studio, rerun.project_id)
    assert len(tasks) == len(to_review.frames)
    assert len({task["data"]["frame_key"] for task in tasks}) == len(tasks)
    assert {f.task_id for f in rerun.frames} == {task["id"] for task in tasks}
    token = label_studio.token
    assert token not in caplog.text and token not in str(error.value) and token not in rerun.dumps()
    assert token not in repr(backend) and token not in repr(config)


def test_invalid_boxes_are_rejected_with_a_report_and_the_rest_imported(
    label_studio: LabelStudioServer, labelstudio_config: LabelStudioConfig, to_review: ReviewRequest
) -> None:
    backend = LabelStudioBackend(labelstudio_config)
    run = backend.push(to_review, "run-1")
    task = run.frames[0]
    boxes = Detections(
        [[10, 10, 60, 90], [20, 20, 40, 40], [280, 100, 400, 170], [-64, 10, -14, 90]],
        np.ones(4),
        [0, 2, 1, 0],
        names={**NAMES, 2: "bicycle"},
    )
    annotate(label_studio, task.task_id, as_results(boxes, task.width, task.height), 5.0)

    pulled = backend.pull(run)

    (reviewed,) = pulled.frames
    np.testing.assert_allclose(reviewed.detections.xyxy, [[10, 10, 60, 90]], atol=0.01)
    reasons = sorted(r.reason for r in pulled.rejected)
    assert len(reasons) == 3
    assert any("unknown label 'bicycle'" in reason for reason in reasons)
    assert sum("outside the 320x180 image" in reason for reason in reasons) == 2
    assert all(r.clip_id == task.clip_id and r.frame == task.frame for r in pulled.rejected)


def test_task_deleted_on_the_platform_is_reported_missing(
    label_studio: LabelStudioServer, labelstudio_config: LabelStudioConfig, to_review: ReviewRequest
) -> None:
    backend = LabelStudioBackend(labelstudio_config)
    run = backend.push(to_review, "run-1")
    kept, deleted = run.frames[0], run.frames[1]
    annotate(label_studio, kept.task_id, [], 3.0)
    answer = api(label_studio).delete(f"{label_studio.url}/api/tasks/{deleted.task_id}", timeout=30)
    assert answer.status_code == 204

    pulled = backend.pull(run)

    assert [(f.clip_id, f.frame) for f in pulled.missing] == [(deleted.clip_id, deleted.frame)]
    assert [(f.clip_id, f.frame) for f in pulled.frames] == [(kept.clip_id, kept.frame)]
    assert len(pulled.frames[0].detections) == 0
    status = backend.progress(run)
    assert (status.annotated, status.missing, status.pending) == (1, 1, len(to_review.frames) - 2)


def test_existing_project_with_another_label_schema_is_refused(
    labelstudio_config: LabelStudioConfig, to_review: ReviewRequest
) -> None:
    backend = LabelStudioBackend(labelstudio_config)
    backend.project_for(to_review)
    other = dataclasses.replace(to_review, names={0: "person", 1: "truck"}, frames=())
    with pytest.raises(AnnotationError, match="another label schema"):
        backend.push(other, "run-2")


def test_script_refuses_a_taken_port_and_reports_a_stopped_server(
    label_studio: LabelStudioServer, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        started = subprocess.run(
            [str(SCRIPT), "start", str(tmp_path / "data"), str(port)], capture_output=True, text=True, timeout=60
        )
    assert started.returncode == 1 and f"port {port} is already in use" in started.stderr
    status = subprocess.run([str(SCRIPT), "status", str(tmp_path / "data")], capture_output=True, text=True)
    assert status.returncode == 3 and status.stdout.strip() == "stopped"
    running = subprocess.run([str(SCRIPT), "status", str(label_studio.data_dir)], capture_output=True, text=True)
    assert running.returncode == 0 and label_studio.url in running.stdout


def test_project_deleted_on_the_platform_is_a_clear_error(
    label_studio: LabelStudioServer, labelstudio_config: LabelStudioConfig, to_review: ReviewRequest
) -> None:
    backend = LabelStudioBackend(labelstudio_config)
    run = backend.push(dataclasses.replace(to_review, frames=to_review.frames[:2]), "run-1")
    assert api(label_studio).delete(f"{label_studio.url}/api/projects/{run.project_id}", timeout=30).status_code == 204
    with pytest.raises(AnnotationError, match="no longer exists"):
        backend.pull(run)
