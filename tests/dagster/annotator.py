"""A simulated annotator: answers the engine's Label Studio tasks through the platform's REST API, as a person
submitting the labeling form would, with the boxes the synthetic videos' ground truth has at each task's frame."""

from collections.abc import Callable
from pathlib import Path

import requests

from data_engine.annotation import AnnotationRun
from data_engine.catalog import Catalog
from data_engine.formats import labelstudio
from data_engine.synthetic.dataset import MIN_LABEL_VISIBILITY
from data_engine.synthetic.truth import GroundTruth, load_truth


class Annotator:
    """Answers each task once; the truth of a video is found by its file name in `truth_dir`."""

    def __init__(self, url: str, token: str, truth_dir: Path) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.truth_of: Callable[[str], GroundTruth] = lambda source: load_truth(
            truth_dir / f"{Path(source).stem}.truth.json"
        )
        self.answered: set[int] = set()

    def answer(self, catalog: Catalog, run: AnnotationRun, limit: int | None = None) -> int:
        """Submit an annotation for up to `limit` not yet answered tasks of `run`; returns how many."""
        done = 0
        for frame in run.frames:
            if frame.task_id is None or frame.task_id in self.answered or (limit is not None and done >= limit):
                continue
            clip = catalog.get_clip(frame.clip_id)
            video = catalog.get_video(clip.video_id) if clip is not None else None
            assert clip is not None and video is not None, f"task {frame.task_id}: clip {frame.clip_id} unknown"
            truth = self.truth_of(video.source_uri)
            boxes = truth.boxes_at(clip.first_frame + frame.frame, min_visibility=MIN_LABEL_VISIBILITY)
            results = labelstudio.to_results(boxes, frame.width, frame.height, with_scores=False)
            response = self.session.post(
                f"{self.url}/api/tasks/{frame.task_id}/annotations",
                json={"result": results, "lead_time": 4.0},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            self.answered.add(frame.task_id)
            done += 1
        return done

    def project_tasks(self, project_id: str) -> int:
        """How many tasks the project holds on the platform."""
        response = self.session.get(
            f"{self.url}/api/tasks", params={"project": project_id, "page_size": 1000, "fields": "all"}, timeout=30
        )
        response.raise_for_status()
        return len(response.json()["tasks"])

    def close(self) -> None:
        self.session.close()
