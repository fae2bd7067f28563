"""Label Studio backend over its REST API with `requests` (no SDK).

Push: a project per selection name (labeling config generated from the class names, reused when it exists), a
local-files storage over the image folder (or a configured URL prefix), tasks imported in batches with the
autolabels as `predictions`. Each task carries our pseudonymous frame key, and a push first lists the tasks the
project already has, so pushing again (also after a crash half-way) imports only what is missing.

Pull: the project's annotated tasks, page by page, converted back to canonical `Detections` and validated
(known labels, boxes inside the image): Label Studio validates neither.

Retries: connection failures and 502/503/504 are retried with exponential backoff; a POST is re-sent only when
the failed attempt never reached the server (connection refused), so an import is never sent twice. The API
token lives only in the session's header: never in logs, exceptions, or the run record.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from data_engine.annotation.base import (
    FRAME_KEY_FIELD,
    AnnotationAuthError,
    AnnotationBackend,
    AnnotationError,
    AnnotationRun,
    AnnotationRunLostError,
    AnnotationUnavailableError,
    FrameToReview,
    PullResult,
    Rejection,
    ReviewedFrame,
    ReviewRequest,
    RunFrame,
    RunProgress,
    now_iso,
    reviewed_frame,
)
from data_engine.annotation.images import materialise_image
from data_engine.formats import labelstudio, to_detections
from data_engine.layout import ANNOTATION_IMAGES
from data_engine.progress import StepProgress
from data_engine.settings import Settings
from data_engine.store import Store

log = logging.getLogger(__name__)


RETRY_STATUSES = frozenset({502, 503, 504})
EXPORT_PAGE = 500
SINGLE_EXPORT_LIMIT = 20_000


@dataclass(frozen=True)
class LabelStudioConfig:
    """Where the server is and how to reach it. `image_dir` must lie under the server's local-files document
    root (`document_root`) unless `url_prefix` says where the images are served from instead."""

    url: str
    token: str = field(repr=False)
    image_dir: Path
    document_root: Path = Path("/")
    url_prefix: str | None = None
    batch_size: int = 1000
    page_size: int = 1000
    timeout_s: float = 120.0
    retries: int = 5
    backoff_s: float = 0.5

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise AnnotationError(f"Label Studio URL {self.url!r} must start with http:// or https://")
        if not self.token:
            raise AnnotationError("no Label Studio API token given (Account & Settings > Access Token)")
        if self.url_prefix is None and not _is_within(Path(self.image_dir), Path(self.document_root)):
            raise AnnotationError(
                f"image folder {self.image_dir} is not under the local-files document root {self.document_root}; "
                "move it there or set url_prefix"
            )


def _is_within(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


class LabelStudioClient:
    """A thin REST client: token header, timeouts, retries with backoff, errors that say what to do."""

    def __init__(self, config: LabelStudioConfig) -> None:
        self.config = config
        self.base = config.url.rstrip("/")
        self._session = requests.Session()
        self._session.headers["Authorization"] = f"Token {config.token}"

    def __repr__(self) -> str:
        return f"LabelStudioClient({self.base!r})"

    def close(self) -> None:
        self._session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        ok_statuses: Sequence[int] = (),
    ) -> requests.Response:
        """One API call. Idempotent methods are retried on any connection failure or 502/503/504; POST only when
        the server never got the request. Statuses in `ok_statuses` are returned instead of raising."""
        url = f"{self.base}{path}"
        idempotent = method in ("GET", "HEAD", "PUT", "DELETE", "PATCH")
        attempt = 0
        while True:
            try:
                response = self._session.request(
                    method, url, params=params, json=body, timeout=(10.0, self.config.timeout_s)
                )
            except requests.RequestException as error:
                retryable = idempotent or _never_sent(error)
                if not retryable or attempt >= self.config.retries:
                    raise AnnotationUnavailableError(
                        f"Label Studio at {self.base} did not answer {method} {path} after {attempt + 1} attempts "
                        f"({type(error).__name__}); check that it is running, then run again"
                    ) from None
                reason = type(error).__name__
            else:
                if response.status_code in (401, 403):
                    raise AnnotationAuthError(
                        f"Label Studio at {self.base} refused the API token ({response.status_code} on {method} "
                        f"{path}); check the token (Account & Settings > Access Token; legacy tokens must be "
                        "enabled on the server)"
                    )
                if response.status_code < 400 or response.status_code in ok_statuses:
                    return response
                if response.status_code not in RETRY_STATUSES or attempt >= self.config.retries:
                    raise AnnotationError(
                        f"Label Studio answered {response.status_code} to {method} {path}: {_detail(response)}"
                    )
                reason = f"HTTP {response.status_code}"
            delay = self.config.backoff_s * 2**attempt
            attempt += 1
            log.warning("Label Studio %s %s failed (%s); retry %d in %.2f s", method, path, reason, attempt, delay)
            time.sleep(delay)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def post_json(self, path: str, body: Any, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("POST", path, params=params, body=body).json()

    def pages(self, path: str, params: Mapping[str, Any], items_key: str, page_size: int) -> Iterator[dict]:
        """Every item of a paginated listing; a page past the end answers 404."""
        page = 1
        while True:
            past_the_end = (404,) if page > 1 else ()
            response = self.request(
                "GET", path, params={**params, "page": page, "page_size": page_size}, ok_statuses=past_the_end
            )
            if response.status_code == 404:
                return
            data = response.json()
            items = data if isinstance(data, list) else data.get(items_key, [])
            yield from items
            if len(items) < page_size:
                return
            page += 1


def _never_sent(error: requests.RequestException) -> bool:
    """True when the request failed before reaching the server (safe to re-send even a POST)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _detail(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason
    if isinstance(data, dict):
        return str(data.get("validation_errors") or data.get("detail") or data)[:500]
    return str(data)[:500]


class LabelStudioBackend(AnnotationBackend):
    """The `AnnotationBackend` for Label Studio."""

    name = "labelstudio"
    polled = True

    def __init__(self, config: LabelStudioConfig) -> None:
        self.config = config
        self.client = LabelStudioClient(config)

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> Self:
        """The server of DATA_ENGINE_LABEL_STUDIO_URL; images are served from the store through its local-files
        storage (the store must lie under DATA_ENGINE_LABEL_STUDIO_DOCUMENT_ROOT, by default the store itself)."""
        if not settings.label_studio_url:
            raise AnnotationError(
                "set DATA_ENGINE_LABEL_STUDIO_URL (and DATA_ENGINE_LABEL_STUDIO_TOKEN) to use Label Studio"
            )
        return cls(
            LabelStudioConfig(
                url=settings.label_studio_url,
                token=settings.label_studio_token,
                image_dir=store.local_path(ANNOTATION_IMAGES),
                document_root=Path(settings.label_studio_document_root or store.root),
            )
        )

    @property
    def platform(self) -> str:
        return f"labelstudio {self.client.base}"

    def __repr__(self) -> str:
        return f"LabelStudioBackend({self.client.base!r})"

    def close(self) -> None:
        self.client.close()

    # ---- push --------------------------------------------------------------------------------------------------

    def push(self, request: ReviewRequest, run_id: str, progress: StepProgress | None = None) -> AnnotationRun:
        """Send the frames; returns the run record. Safe to repeat: tasks already on the platform (found by their
        frame key) are kept, so a push again after a crash imports only the missing ones."""
        self.client.get_json("/api/current-user/whoami")
        project = self.project_for(request)
        project_id = int(project["id"])
        if self.config.url_prefix is None:
            self._ensure_storage(project_id)
        image_urls = {selected.key: self.image_url(selected) for selected in request.frames}
        task_ids = self.existing_tasks(project_id)
        missing = [selected for selected in request.frames if selected.key not in task_ids]
        done = len(request.frames) - len(missing)
        if progress:
            progress(done, len(request.frames))
        for start in range(0, len(missing), self.config.batch_size):
            batch = missing[start : start + self.config.batch_size]
            tasks = [self.task_json(selected, image_urls[selected.key], request) for selected in batch]
            try:
                answer = self.client.post_json(
                    f"/api/projects/{project_id}/import", tasks, params={"return_task_ids": "true"}
                )
            except AnnotationUnavailableError as error:
                raise AnnotationUnavailableError(
                    f"{error}. {done} of {len(request.frames)} frames are on the platform; pushing again imports "
                    "only the missing ones"
                ) from None
            ids = answer.get("task_ids") or []
            if len(ids) != len(batch):
                raise AnnotationError(f"Label Studio created {len(ids)} tasks for a batch of {len(batch)}")
            task_ids.update({selected.key: int(task_id) for selected, task_id in zip(batch, ids, strict=True)})
            done += len(batch)
            if progress:
                progress(done, len(request.frames))
        log.info("pushed %d frames to Label Studio project %d (%d new)", done, project_id, len(missing))
        return AnnotationRun(
            run_id=run_id,
            backend=self.name,
            project_id=str(project_id),
            project_url=f"{self.client.base}/projects/{project_id}/data",
            names=dict(request.names),
            frames=tuple(
                RunFrame(s.clip_id, s.frame, s.key, s.width, s.height, task_ids[s.key], s.reasons, s.image_name)
                for s in request.frames
            ),
            created_at=now_iso(),
            model_version=request.model_version,
        )

    def project_for(self, request: ReviewRequest) -> dict[str, Any]:
        """The project titled `request.name`, created with a labeling config from the class names when absent.
        An existing project with another label schema is an error (its annotations would not fit)."""
        config = labelstudio.labeling_config(request.names)
        title = request.name if len(request.name) >= 3 else f"{request.name}-project"  # its minimum is 3
        for project in self.client.pages("/api/projects", {}, "results", 100):
            if project.get("title") == title:
                if project.get("label_config", "").strip() != config:
                    raise AnnotationError(
                        f"Label Studio project {title!r} (id {project['id']}) has another label schema; "
                        "push under another name or give the same class names"
                    )
                return project
        created: dict[str, Any] = self.client.post_json("/api/projects", {"title": title, "label_config": config})
        return created

    def _ensure_storage(self, project_id: int) -> None:
        path = str(Path(self.config.image_dir).resolve())
        Path(path).mkdir(parents=True, exist_ok=True)
        storages = self.client.get_json("/api/storages/localfiles", {"project": project_id})
        if any(storage.get("path") == path for storage in storages):
            return
        self.client.post_json(
            "/api/storages/localfiles",
            {"project": project_id, "path": path, "title": "data-engine frames", "use_blob_urls": False},
        )

    def image_url(self, selected: FrameToReview) -> str:
        """The URL Label Studio loads the frame's image from (the image is written first if needed)."""
        written = materialise_image(selected, Path(self.config.image_dir))
        if self.config.url_prefix is not None:
            return f"{self.config.url_prefix.rstrip('/')}/{written.name}"
        relative = written.resolve().relative_to(Path(self.config.document_root).resolve())
        return f"/data/local-files/?d={quote(relative.as_posix())}"

    def task_json(self, selected: FrameToReview, image_url: str, request: ReviewRequest) -> dict[str, Any]:
        """The Label Studio task of one frame: image URL, frame key, pre-annotations as a prediction."""
        pre = None if selected.pre_annotations is None else selected.pre_annotations.with_names(request.names)
        data = {FRAME_KEY_FIELD: selected.key}
        return labelstudio.to_task(image_url, data, pre, selected.width, selected.height, request.model_version)

    def existing_tasks(self, project_id: int) -> dict[str, int]:
        """Frame key -> task id of the project's tasks that carry one of our frame keys."""
        found: dict[str, int] = {}
        params = {"project": project_id, "include": "id,data"}
        for task in self.client.pages("/api/tasks", params, "tasks", self.config.page_size):
            key = (task.get("data") or {}).get(FRAME_KEY_FIELD)
            if key:
                found.setdefault(str(key), int(task["id"]))
        return found

    # ---- pull --------------------------------------------------------------------------------------------------

    def pull(self, run: AnnotationRun) -> PullResult:
        """The run's reviewed frames (the latest submitted annotation of each task), validated.

        Annotated tasks come from the platform's exports, its fastest way out (the paginated task listing was 4x
        slower): when the run holds at least half of the project's annotated tasks, one export snapshot of them
        with their predictions (deleted again after download); otherwise the JSON export by pages of the run's
        task ids (a page stays under Django's 1,000-field request limit) with the predictions, which that export
        gives only as ids, fetched on a second connection meanwhile. Only the tasks without a review are then
        looked up, to tell waiting tasks from deleted ones."""
        project = self._require_project(run)
        project_id = int(project["id"])
        by_task = run.by_task()
        users = self._users()
        annotated_in_project = int(project.get("num_tasks_with_annotations") or 0)
        if annotated_in_project <= min(2 * len(by_task), SINGLE_EXPORT_LIMIT):
            exported = [task for task in self._snapshot(project_id) if task.get("id") in by_task]
            predictions = {int(task["id"]): task.get("predictions") or [] for task in exported}
        else:
            with ThreadPoolExecutor(max_workers=1) as pool:
                predictions_later = pool.submit(self._predictions, project_id)
                exported = list(self._exported_pages(project_id, sorted(by_task)))
                predictions = predictions_later.result()
        frames: list[ReviewedFrame] = []
        rejected: list[Rejection] = []
        for task in exported:
            run_frame = by_task.get(int(task["id"]))
            if run_frame is None or labelstudio.answered(task) is None:
                continue
            reviewed, problems = self._reviewed(run, run_frame, task, predictions.get(int(task["id"]), []), users)
            rejected.extend(problems)
            if reviewed is not None:
                frames.append(reviewed)
        answered = {(f.clip_id, f.frame) for f in frames}  # a refused answer keeps its frame waiting for a fix
        waiting = [f for f in run.frames if (f.clip_id, f.frame) not in answered]
        present = self._present(project_id, [f.task_id for f in waiting if f.task_id is not None])
        missing = tuple(f for f in waiting if f.task_id not in present)
        for gone in missing:
            log.warning("task %s (clip %s frame %d) is gone from the platform", gone.task_id, gone.clip_id, gone.frame)
        pending = tuple(f for f in waiting if f.task_id in present)
        return PullResult(tuple(frames), tuple(rejected), pending, missing, run.project_url, self.name)

    def _reviewed(
        self,
        run: AnnotationRun,
        run_frame: RunFrame,
        task: Mapping[str, Any],
        predictions: Sequence[Any],
        users: Mapping[int, str],
    ) -> tuple[ReviewedFrame | None, list[Rejection]]:
        """One answered task as a reviewed frame; the prediction of the run's model version (else the first one)
        is the pre-annotation it started from."""
        ours = [p for p in predictions if isinstance(p, Mapping) and p.get("model_version") == run.model_version]
        task = {**task, "predictions": ours or list(predictions)}
        source = f"task {run_frame.task_id}"
        image, problems = labelstudio.from_task(task, (run_frame.width, run_frame.height), users)
        pre = None
        if image.predictions is not None:
            pre, _ = to_detections(image.predictions, run.names, run_frame.width, run_frame.height)
        reviewed, rejected = reviewed_frame(run, run_frame, image, pre, source)
        parse_problems = [
            Rejection(run_frame.clip_id, run_frame.frame, problem.reason, problem.label, problem.box, source)
            for problem in problems
        ]
        return reviewed, parse_problems + rejected

    def progress(self, run: AnnotationRun) -> RunProgress:
        """How many of the run's tasks are annotated, waiting, or gone."""
        project_id = int(self._require_project(run)["id"])
        present = self._task_ids(project_id)
        annotated = self._task_ids(project_id, annotated_only=True)
        task_ids = [f.task_id for f in run.frames]
        missing = sum(1 for task_id in task_ids if task_id not in present)
        done = sum(1 for task_id in task_ids if task_id in annotated)
        return RunProgress(total=len(task_ids), annotated=done, pending=len(task_ids) - done - missing, missing=missing)

    def _task_ids(self, project_id: int, annotated_only: bool = False) -> set[int]:
        """Ids of the project's tasks (those with at least one annotation, when asked)."""
        params: dict[str, Any] = {"project": project_id, "include": "id"}
        if annotated_only:
            condition = {
                "filter": "filter:tasks:total_annotations",
                "operator": "greater",
                "type": "Number",
                "value": 0,
            }
            params["query"] = json.dumps({"filters": {"conjunction": "and", "items": [condition]}})
        return {int(task["id"]) for task in self.client.pages("/api/tasks", params, "tasks", self.config.page_size)}

    def _require_project(self, run: AnnotationRun) -> dict[str, Any]:
        """The run's project, after checking that it still exists."""
        project = self._project(run)
        if project is None:
            raise AnnotationRunLostError(run.run_id, self._gone(run))
        return project

    def _project(self, run: AnnotationRun) -> dict[str, Any] | None:
        response = self.client.request("GET", f"/api/projects/{int(run.project_id)}", ok_statuses=(404,))
        if response.status_code == 404:
            return None
        project: dict[str, Any] = response.json()
        return project

    def _gone(self, run: AnnotationRun) -> str:
        return f"Label Studio project {run.project_id} of run {run.run_id} no longer exists on {self.client.base}"

    def lost(self, run: AnnotationRun) -> str | None:
        """The run's project was deleted (a GET of it answers 404)."""
        return self._gone(run) if self._project(run) is None else None

    def retire(self, run: AnnotationRun) -> None:
        """Delete the run's tasks that are still in its project and have no annotation (an answered one stays:
        the new push adopts it by its frame key and its answer is pulled)."""
        if self._project(run) is None:
            return
        project_id = int(run.project_id)
        present = self._present(project_id, [f.task_id for f in run.frames if f.task_id is not None])
        answered = self._task_ids(project_id, annotated_only=True)
        stale = sorted(present - answered)
        for task_id in stale:
            self.client.request("DELETE", f"/api/tasks/{task_id}", ok_statuses=(404,))
        log.info("removed %d unanswered tasks of run %s from project %d", len(stale), run.run_id, project_id)

    def _present(self, project_id: int, task_ids: Sequence[int]) -> set[int]:
        """Which of `task_ids` still exist on the platform."""
        if not task_ids:
            return set()
        query = json.dumps({"selectedItems": {"all": False, "included": list(task_ids)}})
        params = {"project": project_id, "include": "id", "query": query}
        return {int(task["id"]) for task in self.client.pages("/api/tasks", params, "tasks", self.config.page_size)}

    def _snapshot(self, project_id: int) -> list[dict[str, Any]]:
        """The project's annotated tasks with full predictions, through an export snapshot that is deleted after
        download (the plain export leaves a file on the server per call)."""
        created = self.client.post_json(
            f"/api/projects/{project_id}/exports",
            {
                "task_filter_options": {"annotated": "only"},
                "serialization_options": {"predictions": {"only_id": False}, "drafts": {"only_id": True}},
            },
        )
        snapshot = f"/api/projects/{project_id}/exports/{int(created['id'])}"
        try:
            status, deadline = created.get("status"), time.monotonic() + self.config.timeout_s
            while status != "completed":
                if status == "failed" or time.monotonic() > deadline:
                    raise AnnotationError(f"Label Studio export snapshot {snapshot} ended {status!r}; pull again")
                time.sleep(0.5)
                status = self.client.get_json(snapshot).get("status")
            return _task_list(self.client.get_json(f"{snapshot}/download", {"exportType": "JSON"}))
        finally:
            self.client.request("DELETE", snapshot, ok_statuses=(404,))

    def _exported_pages(self, project_id: int, task_ids: Sequence[int]) -> Iterator[dict[str, Any]]:
        """The annotated tasks among `task_ids`, from the JSON export, a page of ids at a time."""
        for start in range(0, len(task_ids), EXPORT_PAGE):
            page = task_ids[start : start + EXPORT_PAGE]
            yield from _task_list(
                self.client.get_json(
                    f"/api/projects/{project_id}/export", {"exportType": "JSON", "ids[]": [str(i) for i in page]}
                )
            )

    def _predictions(self, project_id: int) -> dict[int, list[Any]]:
        """The project's predictions by task id, over a connection of its own (it runs beside the export)."""
        client = LabelStudioClient(self.config)
        try:
            listed = client.get_json("/api/predictions", {"project": project_id})
        finally:
            client.close()
        by_task: dict[int, list[Any]] = {}
        for prediction in listed:
            by_task.setdefault(int(prediction["task"]), []).append(prediction)
        return by_task

    def _users(self) -> dict[int, str]:
        users = self.client.get_json("/api/users")
        items = users if isinstance(users, list) else users.get("results", [])
        return {int(user["id"]): str(user.get("email") or user.get("username") or user["id"]) for user in items}


def _task_list(exported: Any) -> list[dict[str, Any]]:
    """The tasks of an export answer; anything else means the server answered with something unexpected."""
    if not isinstance(exported, list):
        raise AnnotationError(f"Label Studio's export is not a task list: {str(exported)[:200]}")
    return [task for task in exported if isinstance(task, dict) and isinstance(task.get("id"), int)]
