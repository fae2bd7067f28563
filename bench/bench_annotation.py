"""Label Studio push and pull of N tasks against the platform's own floor: one raw bulk import / export call.

Push: `LabelStudioBackend.push` of N frames with three pre-annotated boxes each (checks the token, creates the
project and its local-files storage, links the N images into the image folder, lists existing tasks, imports in
batches of 1,000 with predictions) versus ONE `POST /api/projects/<id>/import` of the same N task JSONs into a fresh
project. Pull: `LabelStudioBackend.pull` of a project whose N tasks all carry an annotation (paginated listings,
conversion to Detections, validation) versus ONE `GET /api/projects/<id>/export?exportType=JSON` of the same
project. Alternating runs, best of the repeats; a real server started from the test suite's cached data dir.

    python -m bench.bench_annotation [--tasks 5000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import requests

from data_engine.annotation import FrameToReview, LabelStudioBackend, LabelStudioConfig, ReviewRequest
from data_engine.detections import Detections
from data_engine.formats.labelstudio import labeling_config
from tests.labelstudio_fixtures import LabelStudioServer, running_label_studio

NAMES = {0: "person", 1: "car"}
WIDTH, HEIGHT = 320, 240


def make_request(count: int, image: Path, name: str) -> ReviewRequest:
    rng = np.random.default_rng(0)
    frames = []
    for index in range(count):
        x1, y1 = rng.uniform(0, 200, 3), rng.uniform(0, 150, 3)
        boxes = Detections(
            np.column_stack([x1, y1, x1 + 40, y1 + 60]), rng.uniform(0.3, 0.9, 3), [0, 1, 0], names=NAMES
        )
        frames.append(
            FrameToReview(
                f"bench-{index // 100:05d}", index % 100, WIDTH, HEIGHT, image_path=image, pre_annotations=boxes
            )
        )
    return ReviewRequest(tuple(frames), NAMES, name=name, model_version="bench")


def session(server: LabelStudioServer) -> requests.Session:
    http = requests.Session()
    http.headers["Authorization"] = f"Token {server.token}"
    return http


def new_project(server: LabelStudioServer, title: str) -> int:
    answer = session(server).post(
        f"{server.url}/api/projects", json={"title": title, "label_config": labeling_config(NAMES)}, timeout=60
    )
    answer.raise_for_status()
    return int(answer.json()["id"])


def raw_import(server: LabelStudioServer, project_id: int, tasks: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    answer = session(server).post(f"{server.url}/api/projects/{project_id}/import", json=tasks, timeout=600)
    answer.raise_for_status()
    return time.perf_counter() - started


def raw_export(server: LabelStudioServer, project_id: int) -> tuple[int, float]:
    started = time.perf_counter()
    answer = session(server).get(
        f"{server.url}/api/projects/{project_id}/export", params={"exportType": "JSON"}, timeout=600
    )
    answer.raise_for_status()
    return len(answer.json()), time.perf_counter() - started


def annotated_tasks(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The push's tasks with each prediction submitted as an annotation (an annotator accepting it)."""
    return [
        {**task, "annotations": [{"result": task["predictions"][0]["result"], "lead_time": 12.0}]} for task in tasks
    ]


def run(count: int, repeats: int) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="bench-annotation-") as scratch,
        running_label_studio(Path(scratch)) as server,
    ):
        image = server.document_root / "source.jpg"
        cv2.imwrite(str(image), np.full((HEIGHT, WIDTH, 3), 127, np.uint8))
        push_times, raw_push_times, pull_times, raw_pull_times = [], [], [], []
        for repeat in range(repeats):
            config = LabelStudioConfig(
                server.url, server.token, server.document_root / f"images-{repeat}", server.document_root
            )
            backend = LabelStudioBackend(config)
            selection = make_request(count, image, f"bench-push-{repeat}-{uuid.uuid4().hex[:6]}")
            started = time.perf_counter()
            pushed = backend.push(selection, f"bench-{repeat}")
            push_times.append(time.perf_counter() - started)

            tasks = [backend.task_json(s, backend.image_url(s), selection) for s in selection.frames]
            raw_push_times.append(raw_import(server, new_project(server, f"bench-raw-{repeat}"), tasks))

            annotated_project = new_project(server, f"bench-annotated-{repeat}")
            raw_import(server, annotated_project, annotated_tasks(tasks))
            task_ids = backend.existing_tasks(annotated_project)
            annotated_run = dataclasses.replace(
                pushed,
                project_id=str(annotated_project),
                frames=tuple(dataclasses.replace(f, task_id=task_ids[f.key]) for f in pushed.frames),
            )
            exported, raw_seconds = raw_export(server, annotated_project)
            started = time.perf_counter()
            pulled = backend.pull(annotated_run)
            pull_times.append(time.perf_counter() - started)
            raw_pull_times.append(raw_seconds)
            assert len(pulled.frames) == exported == count and not pulled.rejected
            backend.close()
        print_table(count, min(push_times), min(raw_push_times), min(pull_times), min(raw_pull_times))


def print_table(count: int, push: float, raw_push: float, pull: float, raw_pull: float) -> None:
    print("| operation | tasks | ours s | raw API call s | ours / raw | goal |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(f"| push | {count} | {push:.2f} | {raw_push:.2f} | {push / raw_push:.2f}x | <= 1.5x |")
    print(f"| pull | {count} | {pull:.2f} | {raw_pull:.2f} | {pull / raw_pull:.2f}x | <= 1.5x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=2)
    arguments = parser.parse_args()
    run(arguments.tasks, arguments.repeats)


if __name__ == "__main__":
    main()
