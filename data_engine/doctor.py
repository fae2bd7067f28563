"""`data-engine doctor`: check what the engine needs and say what is wrong in plain words."""

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np
import requests

from data_engine.annotation.base import AnnotationRun
from data_engine.catalog import Catalog
from data_engine.catalog.revisions import HEAD_REVISION
from data_engine.detectors import DetectorError
from data_engine.detectors.loading import load_detectors
from data_engine.registry import ModelRegistry, RegistryError
from data_engine.settings import Settings
from data_engine.store import Store

MIN_FREE_GB = 5.0


@dataclass(frozen=True)
class Finding:
    """One check: what was checked, whether it is fine, and a sentence for a person."""

    check: str
    ok: bool
    message: str


def diagnose(settings: Settings) -> list[Finding]:
    """Run every check; none raises, each says what to do when it fails."""
    checks: list[Callable[[Settings], list[Finding]]] = [
        _decoder,
        _catalog,
        _store,
        _detectors,
        _annotation_platform,
        _disk,
    ]
    return [finding for check in checks for finding in check(settings)]


def _decoder(_settings: Settings) -> list[Finding]:
    missing = [codec for codec in ("h264", "mpeg4", "hevc") if codec not in av.codecs_available]
    if missing:
        return [Finding("video decoder", False, f"PyAV's FFmpeg lacks decoders for {', '.join(missing)}")]
    return [Finding("video decoder", True, f"PyAV {av.__version__} with FFmpeg decoders for H.264, HEVC, MPEG-4")]


def _catalog(settings: Settings) -> list[Finding]:
    try:
        catalog = Catalog(settings.catalog_url, migrate=False)
        revision = catalog.schema_revision()
        catalog.dispose()
    except Exception as error:  # CatalogError or any driver error: the same thing to a person
        return [
            Finding(
                "catalog",
                False,
                f"cannot connect to {settings.catalog_url!r}: {_first_line(error)} (check DATA_ENGINE_CATALOG_URL)",
            )
        ]
    head = HEAD_REVISION
    if revision is None:
        return [Finding("catalog", True, f"{catalog.url} is new: the first data-engine command creates its tables")]
    if revision != head:
        return [
            Finding(
                "catalog",
                False,
                f"reachable but at revision {revision}, code expects {head}: any data-engine command "
                "migrates it (e.g. `data-engine status`)",
            )
        ]
    return [Finding("catalog", True, f"{catalog.url} at schema revision {revision}")]


def _store(settings: Settings) -> list[Finding]:
    try:
        store = Store(settings.store)
        store.write_text(".doctor/probe.txt", "ok")
        if not store.exists(".doctor/probe.txt"):
            raise OSError("a file just written is not there")
    except Exception as error:  # a store may fail in many ways (permissions, credentials, network)
        return [
            Finding(
                "store", False, f"cannot write to {settings.store!r}: {_first_line(error)} (check DATA_ENGINE_STORE)"
            )
        ]
    return [Finding("store", True, f"{store.root} is writable")]


def _detectors(settings: Settings) -> list[Finding]:
    """Each configured model loaded and run on one frame, as mining and autolabelling would run it."""
    if not settings.detectors:
        return [_champion(settings)]
    findings = []
    for entry in settings.detectors:
        try:
            (detector,) = load_detectors(replace(settings, detectors=(entry,)))
            boxes = detector.predict([np.zeros((64, 64, 3), np.uint8)])
        except DetectorError as error:
            findings.append(Finding(f"detector {entry}", False, str(error)))
            continue
        classes = ", ".join(detector.names.values())
        findings.append(
            Finding(
                f"detector {entry}",
                True,
                f"{detector.model_id} loaded, one frame run ({len(boxes[0])} boxes); keeps {classes}",
            )
        )
    return findings


def _champion(settings: Settings) -> Finding:
    """With no detector configured, autolabelling and mining use the registry's champion: say which, with its
    weights checked, or that the engine is in cold start."""
    cold_start = Finding(
        "detectors",
        True,
        "none configured and no champion in the registry: cold start (image-level triggers and a diversity "
        "sample; the first trained model that passes the gate takes over)",
    )
    try:
        catalog = Catalog(settings.catalog_url, migrate=False)
        try:
            if catalog.schema_revision() != HEAD_REVISION:
                return cold_start
            registry = ModelRegistry(catalog, Store(settings.store))
            champion = registry.champion()
            if champion is None:
                return cold_start
            registry.weights_path(champion.id)
        finally:
            catalog.dispose()
    except RegistryError as error:
        return Finding("detectors", False, f"the registry's champion cannot be used: {error}")
    except Exception:  # an unreachable catalog or store is reported by their own checks
        return Finding("detectors", True, "none configured; the registry could not be read (see catalog, store)")
    quality = f"mAP50 {champion.map50:.3f} on {champion.dataset_id}" if champion.map50 is not None else "no test score"
    return Finding("detectors", True, f"the registry's champion {champion.id} ({quality}), weights verified: in use")


def _annotation_platform(settings: Settings) -> list[Finding]:
    if not settings.label_studio_url:
        return [
            Finding("annotation platform", True, "task bundles (set DATA_ENGINE_LABEL_STUDIO_URL for Label Studio)")
        ]
    url = settings.label_studio_url.rstrip("/")
    try:
        response = requests.get(
            f"{url}/api/current-user/whoami",
            headers={"Authorization": f"Token {settings.label_studio_token}"},
            timeout=5,
        )
    except requests.RequestException:
        return [
            Finding(
                "annotation platform",
                False,
                f"Label Studio at {url} is unreachable (is it running? check DATA_ENGINE_LABEL_STUDIO_URL)",
            )
        ]
    if response.status_code in (401, 403):
        return [
            Finding(
                "annotation platform",
                False,
                f"Label Studio at {url} rejects the token (check DATA_ENGINE_LABEL_STUDIO_TOKEN)",
            )
        ]
    if not response.ok:
        return [Finding("annotation platform", False, f"Label Studio at {url} answered HTTP {response.status_code}")]
    return [Finding("annotation platform", True, f"Label Studio at {url}, token accepted"), _pushed_image(settings)]


def _pushed_image(settings: Settings) -> Finding:
    """Fetch the image of one task the engine pushed, through Label Studio, as an annotator's browser would: a
    404 means the server's local-files document root is not the engine's (the tasks address images under
    DATA_ENGINE_LABEL_STUDIO_DOCUMENT_ROOT)."""
    url = settings.label_studio_url.rstrip("/")
    headers = {"Authorization": f"Token {settings.label_studio_token}"}
    try:
        run = _newest_label_studio_run(settings)
    except Exception:  # an unreachable catalog is reported by its own check
        run = None
    task_id = next((frame.task_id for frame in run.frames if frame.task_id is not None), None) if run else None
    if run is None or task_id is None:
        return Finding("pushed images", True, "nothing pushed to Label Studio yet: no image to fetch")
    root = settings.label_studio_document_root or settings.store
    fix = (
        f"start it with `scripts/labelstudio.sh start` from this directory, which serves the engine's root {root}, "
        "or set DATA_ENGINE_LABEL_STUDIO_DOCUMENT_ROOT to the server's LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT "
        '(README.md, "Annotating in Label Studio"); then `data-engine push` again'
    )
    try:
        task = requests.get(f"{url}/api/tasks/{task_id}", headers=headers, timeout=10)
        if task.status_code == 404:
            return Finding(
                "pushed images",
                False,
                f"task {task_id} of run {run.run_id} is gone from Label Studio (project {run.project_id} deleted?): "
                "its frames are no longer on the platform; `data-engine push` pushes a deleted project's frames "
                f"again, `data-engine push --again {run.run_id}` those of deleted tasks",
            )
        task.raise_for_status()
        image = str(task.json().get("data", {}).get("image", ""))
        image_url = image if "://" in image else f"{url}{image}"
        response = requests.get(image_url, headers=headers, timeout=10)
    except (requests.RequestException, ValueError) as error:
        return Finding("pushed images", False, f"cannot fetch the image of task {task_id}: {_first_line(error)}")
    if response.status_code == 404:
        return Finding(
            "pushed images",
            False,
            f"Label Studio answers 404 for the image of task {task_id} ({image}): its local-files document root "
            f"is not the engine's; {fix}",
        )
    if not response.ok:
        return Finding(
            "pushed images", False, f"Label Studio answers HTTP {response.status_code} for the image of task {task_id}"
        )
    return Finding("pushed images", True, f"the image of task {task_id} (run {run.run_id}) loads through Label Studio")


def _newest_label_studio_run(settings: Settings) -> AnnotationRun | None:
    catalog = Catalog(settings.catalog_url, migrate=False)
    try:
        if catalog.schema_revision() != HEAD_REVISION:
            return None
        records = [record for record in catalog.annotation_runs() if record.backend == "labelstudio"]
        records = [record for record in records if record.status not in ("pushing", "replaced")]
        return AnnotationRun.from_json(records[-1].record) if records else None
    finally:
        catalog.dispose()


def _disk(settings: Settings) -> list[Finding]:
    folder = Path(settings.home)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free_gb = shutil.disk_usage(folder if folder.exists() else tempfile.gettempdir()).free / 1e9
    if free_gb < MIN_FREE_GB:
        return [
            Finding(
                "free disk",
                False,
                f"only {free_gb:.1f} GB free under {folder}; clips and frames need at least {MIN_FREE_GB:.0f} GB",
            )
        ]
    return [Finding("free disk", True, f"{free_gb:.0f} GB free under {folder}")]


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
