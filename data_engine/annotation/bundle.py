"""Exported task bundles: the "annotators via exported files" path (Encord, CVAT, or any tool).

A bundle is a folder (optionally zipped) per push with the frame images and the same tasks in four formats, all
carrying the pre-annotations:

    images/<key>.jpg            frame images, named by the pseudonymous frame key (no clip ids, paths or cameras)
    tasks.labelstudio.json      Label Studio tasks (`data.image` relative, `data.frame_key`, `predictions`)
    annotations.coco.json       COCO detection (`file_name` = images/<key>.jpg, `score` per box)
    data.yaml, classes.txt,     YOLO (Ultralytics layout: labels/ beside images/)
    labels/<key>.txt
    annotations.cvat.xml        CVAT for images 1.1
    manifest.json               bundle id, label schema, frame keys, sizes and pre-annotations

`import_annotations` reads completed files back in any of the four formats, validates every box and reports per
file what was imported and what was rejected and why. A file that refers to a path outside its bundle is refused.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
import xml.etree.ElementTree as ElementTree
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from data_engine.annotation.base import (
    AnnotationError,
    AnnotationRun,
    RawBox,
    Rejection,
    ReviewedFrame,
    RunFrame,
    Selection,
    now_iso,
    validate_boxes,
)
from data_engine.annotation.images import materialise_image
from data_engine.annotation.labelstudio import FRAME_KEY_FIELD, FROM_NAME, TO_NAME, results_to_raw
from data_engine.detections import Detections, DetectionsError, to_coco, to_label_studio, to_yolo
from data_engine.store import temporary_path

BUNDLE_SCHEMA = "data-engine/annotation-bundle"
IMAGES_DIR = "images"
LABELSTUDIO_FILE = "tasks.labelstudio.json"
COCO_FILE = "annotations.coco.json"
CVAT_FILE = "annotations.cvat.xml"
YOLO_LABELS_DIR = "labels"
YOLO_CLASSES_FILE = "classes.txt"
YOLO_DATA_FILE = "data.yaml"
MANIFEST_FILE = "manifest.json"


class BundleError(AnnotationError):
    """A bundle or completed file that cannot be read; the message names the file and the problem."""


# ---- export ---------------------------------------------------------------------------------------------------


def export_bundle(selection: Selection, out_dir: str | Path, make_zip: bool = False) -> AnnotationRun:
    """Write the bundle folder `out_dir/<bundle id>` (and `<bundle id>.zip` beside it when asked); returns the run
    record (backend "bundle", `project_url` = the bundle folder). The map back to clip ids stays in the record."""
    bundle_id = uuid.uuid4().hex[:16]
    root = Path(out_dir) / bundle_id
    temporary = temporary_path(root)
    images = temporary / IMAGES_DIR
    names = dict(selection.names)
    image_names = [f"{IMAGES_DIR}/{materialise_image(s, images).name}" for s in selection.frames]
    pre = [
        (s.pre_annotations if s.pre_annotations is not None else Detections.empty(names)).with_names(names)
        for s in selection.frames
    ]
    _write_json(temporary / LABELSTUDIO_FILE, _labelstudio_tasks(selection, image_names, pre))
    _write_json(temporary / COCO_FILE, _coco(selection, image_names, pre))
    _write_yolo(temporary, selection, pre)
    _write_cvat(temporary / CVAT_FILE, selection, image_names, pre, bundle_id)
    created_at = now_iso()
    _write_json(
        temporary / MANIFEST_FILE,
        {
            "schema": BUNDLE_SCHEMA,
            "bundle_id": bundle_id,
            "created_at": created_at,
            "model_version": selection.model_version,
            "names": {str(k): v for k, v in names.items()},
            "frames": [
                {
                    "key": s.key,
                    "image": image,
                    "width": s.width,
                    "height": s.height,
                    "pre_annotations": None if s.pre_annotations is None else boxes.to_dicts(),
                }
                for s, image, boxes in zip(selection.frames, image_names, pre, strict=True)
            ],
        },
    )
    os.replace(temporary, root)
    if make_zip:
        _zip_folder(root, root.with_suffix(".zip"))
    return AnnotationRun(
        run_id=bundle_id,
        backend="bundle",
        project_id=bundle_id,
        project_url=str(root.resolve()),
        names=names,
        frames=tuple(RunFrame(s.clip_id, s.frame, s.key, s.width, s.height, None, s.reasons) for s in selection.frames),
        created_at=created_at,
        model_version=selection.model_version,
    )


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def _labelstudio_tasks(selection: Selection, image_names: Sequence[str], pre: Sequence[Detections]) -> list[dict]:
    tasks = []
    for selected, image, boxes in zip(selection.frames, image_names, pre, strict=True):
        task: dict[str, Any] = {"data": {"image": image, FRAME_KEY_FIELD: selected.key}}
        if selected.pre_annotations is not None:
            prediction = to_label_studio(boxes, selected.width, selected.height, FROM_NAME, TO_NAME)
            task["predictions"] = [{**prediction, "model_version": selection.model_version}]
        tasks.append(task)
    return tasks


def _coco(selection: Selection, image_names: Sequence[str], pre: Sequence[Detections]) -> dict[str, Any]:
    """One COCO dict over frames of possibly different sizes (image id = position in the bundle)."""
    images, annotations = [], []
    for image_id, (selected, image, boxes) in enumerate(zip(selection.frames, image_names, pre, strict=True)):
        part = to_coco([boxes], selected.width, selected.height, [image], selection.names)
        images.append({**part["images"][0], "id": image_id})
        for annotation in part["annotations"]:
            annotations.append({**annotation, "id": len(annotations) + 1, "image_id": image_id})
    categories = [{"id": class_id, "name": name} for class_id, name in sorted(selection.names.items())]
    return {"images": images, "annotations": annotations, "categories": categories}


def _write_yolo(root: Path, selection: Selection, pre: Sequence[Detections]) -> None:
    ordered = [selection.names[class_id] for class_id in sorted(selection.names)]
    (root / YOLO_CLASSES_FILE).write_text("\n".join(ordered) + "\n")
    yaml_names = "\n".join(f"  {index}: {json.dumps(name)}" for index, name in enumerate(ordered))
    (root / YOLO_DATA_FILE).write_text(f"path: .\ntrain: {IMAGES_DIR}\nval: {IMAGES_DIR}\nnames:\n{yaml_names}\n")
    position = {class_id: index for index, class_id in enumerate(sorted(selection.names))}
    labels = root / YOLO_LABELS_DIR
    labels.mkdir(parents=True, exist_ok=True)
    for selected, boxes in zip(selection.frames, pre, strict=True):
        by_position = Detections(boxes.xyxy, boxes.confidence, [position[int(c)] for c in boxes.class_id])
        (labels / f"{selected.key}.txt").write_text(to_yolo(by_position, selected.width, selected.height))


def _write_cvat(
    path: Path, selection: Selection, image_names: Sequence[str], pre: Sequence[Detections], bundle_id: str
) -> None:
    root = ElementTree.Element("annotations")
    ElementTree.SubElement(root, "version").text = "1.1"
    task = ElementTree.SubElement(ElementTree.SubElement(root, "meta"), "task")
    ElementTree.SubElement(task, "name").text = bundle_id
    ElementTree.SubElement(task, "size").text = str(len(selection.frames))
    ElementTree.SubElement(task, "mode").text = "annotation"
    labels = ElementTree.SubElement(task, "labels")
    for _, name in sorted(selection.names.items()):
        label = ElementTree.SubElement(labels, "label")
        ElementTree.SubElement(label, "name").text = name
        ElementTree.SubElement(label, "type").text = "rectangle"
        ElementTree.SubElement(label, "attributes")
    for image_id, (selected, image, boxes) in enumerate(zip(selection.frames, image_names, pre, strict=True)):
        element = ElementTree.SubElement(
            root, "image", id=str(image_id), name=image, width=str(selected.width), height=str(selected.height)
        )
        for row in range(len(boxes)):
            x1, y1, x2, y2 = (f"{float(v):.2f}" for v in boxes.xyxy[row])
            box = ElementTree.SubElement(
                element,
                "box",
                label=selection.names[int(boxes.class_id[row])],
                source="auto",
                occluded="0",
                xtl=x1,
                ytl=y1,
                xbr=x2,
                ybr=y2,
                z_order="0",
            )
            ElementTree.SubElement(box, "attribute", name="score").text = f"{float(boxes.confidence[row]):.4f}"
    ElementTree.indent(root)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _zip_folder(folder: Path, target: Path) -> None:
    temporary = temporary_path(target)
    with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    os.replace(temporary, target)


# ---- import ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileReport:
    """What one completed file gave: its format, frames and boxes imported, rejections, or the error that
    stopped it (then nothing of it was imported)."""

    path: str
    format: str
    frames: int = 0
    boxes: int = 0
    rejected: tuple[Rejection, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "frames": self.frames,
            "boxes": self.boxes,
            "error": self.error,
            "rejected": [
                {"clip_id": r.clip_id, "frame": r.frame, "label": r.label, "box": r.box, "reason": r.reason}
                for r in self.rejected
            ],
        }


@dataclass(frozen=True)
class ImportReport:
    """Per-file reports and the reviewed frames imported (a frame found in several files: the last file wins)."""

    files: tuple[FileReport, ...]
    frames: tuple[ReviewedFrame, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return all(report.error is None for report in self.files)

    def to_json(self) -> dict[str, Any]:
        return {"frames": len(self.frames), "files": [report.to_json() for report in self.files]}


class _FileRefused(Exception):
    """A file that must not be imported at all (malformed, or referring outside the bundle)."""


@dataclass(frozen=True)
class _Context:
    """What the readers need: the bundle root the file lives in and the run's frames by key."""

    root: Path
    by_key: Mapping[str, RunFrame]


def import_annotations(path: str | Path, run: AnnotationRun, annotator: str = "bundle") -> ImportReport:
    """Read completed annotation files back: one file (`*.json` Label Studio or COCO, `*.xml` CVAT), a YOLO
    folder (with `classes.txt` or `data.yaml` and `labels/`), a bundle folder (every format file in it) or a zip of
    one. Every box is validated against the run's label schema and image sizes."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"{path} does not exist")
    if path.is_file() and path.suffix.lower() == ".zip":
        with tempfile.TemporaryDirectory(prefix="data-engine-import-") as scratch:
            _safe_extract(path, Path(scratch))
            inner = import_annotations(Path(scratch), run, annotator)
            return ImportReport(
                tuple(
                    FileReport(
                        f"{path}!{Path(r.path).relative_to(scratch)}", r.format, r.frames, r.boxes, r.rejected, r.error
                    )
                    for r in inner.files
                ),
                inner.frames,
            )
    root = path if path.is_dir() else path.parent
    targets = _targets(path)
    if not targets:
        raise BundleError(
            f"{path} holds no annotation file (expected {LABELSTUDIO_FILE}, {COCO_FILE}, {CVAT_FILE} or a YOLO "
            f"{YOLO_LABELS_DIR}/ folder with {YOLO_CLASSES_FILE})"
        )
    pre_annotations = _manifest_pre_annotations(root, run)
    reports: list[FileReport] = []
    frames: dict[tuple[str, int], ReviewedFrame] = {}
    context = _Context(root.resolve(), run.by_key())
    for target, file_format in targets:
        updated = datetime.fromtimestamp(target.stat().st_mtime, UTC).isoformat(timespec="seconds")
        try:
            raw_frames, problems = _READERS[file_format](target, context)
        except _FileRefused as error:
            reports.append(FileReport(str(target), file_format, error=str(error)))
            continue
        rejected = list(problems)
        imported: list[ReviewedFrame] = []
        for raw in raw_frames:
            run_frame = raw.run_frame
            validation = validate_boxes(
                raw.boxes,
                run.names,
                run_frame.width,
                run_frame.height,
                run_frame.clip_id,
                run_frame.frame,
                str(target),
            )
            rejected.extend(validation.rejected)
            imported.append(
                ReviewedFrame(
                    clip_id=run_frame.clip_id,
                    frame=run_frame.frame,
                    detections=validation.detections,
                    pre_annotations=pre_annotations.get(run_frame.key),
                    annotator=raw.annotator or annotator,
                    created_at=raw.created_at or updated,
                    updated_at=raw.updated_at or updated,
                    lead_time_s=raw.lead_time_s,
                    reasons=run_frame.reasons,
                    annotation_id=raw.annotation_id,
                )
            )
        for reviewed in imported:
            frames[(reviewed.clip_id, reviewed.frame)] = reviewed
        reports.append(
            FileReport(
                str(target),
                file_format,
                frames=len(imported),
                boxes=sum(len(r.detections) for r in imported),
                rejected=tuple(rejected),
            )
        )
    return ImportReport(tuple(reports), tuple(frames.values()))


def _targets(path: Path) -> list[tuple[Path, str]]:
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".xml":
            return [(path, "cvat")]
        if suffix == ".json" and path.name != MANIFEST_FILE:
            return [(path, _json_format(path))]
        if path.name in (YOLO_CLASSES_FILE, YOLO_DATA_FILE):
            return [(path.parent, "yolo")]
        raise BundleError(f"{path}: unknown annotation file type (expected .json, .xml, a YOLO folder or a .zip)")
    found = []
    for child in sorted(path.iterdir()):
        if child.is_file() and child.suffix.lower() == ".json" and child.name != MANIFEST_FILE:
            found.append((child, _json_format(child)))
        elif child.is_file() and child.suffix.lower() == ".xml":
            found.append((child, "cvat"))
    if (path / YOLO_LABELS_DIR).is_dir() and (
        (path / YOLO_CLASSES_FILE).is_file() or (path / YOLO_DATA_FILE).is_file()
    ):
        found.append((path, "yolo"))
    return found


def _json_format(path: Path) -> str:
    """Label Studio (a list of tasks) or COCO (a dict with images); decided by a cheap look at the first byte."""
    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip()
    return "labelstudio" if head.startswith(b"[") else "coco"


def _safe_extract(archive_path: Path, target: Path) -> None:
    """Extract a zip, refusing members with absolute paths or `..` that would land outside `target`."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for member in archive.namelist():
                destination = (target / member).resolve()
                if Path(member).is_absolute() or not destination.is_relative_to(target.resolve()):
                    raise BundleError(f"{archive_path}: refused, member {member!r} points outside the bundle")
            archive.extractall(target)
    except zipfile.BadZipFile as error:
        raise BundleError(f"{archive_path} is not a readable zip file ({error}); export it again") from error


def _manifest_pre_annotations(root: Path, run: AnnotationRun) -> dict[str, Detections | None]:
    """Pre-annotations by frame key from the bundle's manifest (empty when the manifest is absent)."""
    manifest = root / MANIFEST_FILE
    if not manifest.is_file():
        return {}
    try:
        data = json.loads(manifest.read_text())
        if data.get("bundle_id") not in (None, run.run_id):
            raise BundleError(f"{manifest} belongs to bundle {data.get('bundle_id')}, not to run {run.run_id}")
        return {
            str(entry["key"]): None
            if entry.get("pre_annotations") is None
            else Detections.from_dicts(entry["pre_annotations"], run.names)
            for entry in data.get("frames", [])
        }
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, DetectionsError) as error:
        raise BundleError(f"{manifest} is malformed ({error}); restore it from the exported bundle") from error


@dataclass(frozen=True)
class _RawFrame:
    run_frame: RunFrame
    boxes: list[RawBox]
    annotator: str = ""
    created_at: str = ""
    updated_at: str = ""
    lead_time_s: float | None = None
    annotation_id: str = ""


def _frame_for(reference: str, context: _Context, source: Path) -> RunFrame | None:
    """The run frame an image reference names (by the key in its file name). A local path that leaves the
    bundle refuses the whole file; a URL (as a platform rewrites it) is matched by its last path element."""
    if "://" in reference or "?" in reference:
        stem = Path(reference.rsplit("=", 1)[-1].rsplit("/", 1)[-1]).stem
    else:
        resolved = (context.root / reference).resolve()
        if Path(reference).is_absolute() or not resolved.is_relative_to(context.root):
            raise _FileRefused(f"refused: {source.name} refers to {reference!r}, a path outside the bundle")
        stem = Path(reference).stem
    return context.by_key.get(stem)


def _unknown_image(reference: str, source: Path) -> Rejection:
    return Rejection(None, None, f"image {reference!r} is not part of this bundle's run", source=str(source))


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _FileRefused(f"{path.name} is malformed or truncated JSON ({error}); export it again") from error


def _read_labelstudio(path: Path, context: _Context) -> tuple[list[_RawFrame], list[Rejection]]:
    tasks = _load_json(path)
    if not isinstance(tasks, list):
        raise _FileRefused(f"{path.name} is not a Label Studio task list")
    frames, rejected = [], []
    for task in tasks:
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("image"), str):
            raise _FileRefused(f"{path.name}: a task lacks data.image; this is not a Label Studio export")
        run_frame = _frame_for(data["image"], context, path)
        key = data.get(FRAME_KEY_FIELD)
        if run_frame is None and key is not None:
            run_frame = context.by_key.get(str(key))
        if run_frame is None:
            rejected.append(_unknown_image(data["image"], path))
            continue
        annotations = [a for a in task.get("annotations") or [] if isinstance(a, dict) and not a.get("was_cancelled")]
        if not annotations:
            continue
        annotation = max(annotations, key=lambda a: str(a.get("updated_at") or ""))
        boxes, problems = results_to_raw(annotation.get("result") or [], run_frame, str(path))
        rejected.extend(problems)
        completed_by = annotation.get("completed_by")
        if isinstance(completed_by, dict):
            completed_by = completed_by.get("email") or completed_by.get("id")
        lead_time = annotation.get("lead_time")
        frames.append(
            _RawFrame(
                run_frame,
                boxes,
                annotator="" if completed_by is None else str(completed_by),
                created_at=str(annotation.get("created_at") or ""),
                updated_at=str(annotation.get("updated_at") or ""),
                lead_time_s=None if lead_time is None else float(lead_time),
                annotation_id=str(annotation.get("id", "")),
            )
        )
    return frames, rejected


def _read_coco(path: Path, context: _Context) -> tuple[list[_RawFrame], list[Rejection]]:
    coco = _load_json(path)
    try:
        categories = {int(c["id"]): str(c["name"]) for c in coco.get("categories", [])}
        images = {int(image["id"]): str(image["file_name"]) for image in coco["images"]}
        annotations = list(coco.get("annotations", []))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise _FileRefused(f"{path.name} is not a COCO detection file (missing or malformed {error})") from error
    frames: dict[int, _RawFrame] = {}
    rejected = []
    for image_id, file_name in images.items():
        run_frame = _frame_for(file_name, context, path)
        if run_frame is None:
            rejected.append(_unknown_image(file_name, path))
            continue
        frames[image_id] = _RawFrame(run_frame, [])
    for annotation in annotations:
        try:
            image_id = int(annotation["image_id"])
            x, y, w, h = (float(v) for v in annotation["bbox"])
            category = int(annotation["category_id"])
        except (KeyError, TypeError, ValueError) as error:
            raise _FileRefused(f"{path.name}: annotation {annotation!r:.80} is malformed ({error})") from error
        if image_id not in frames:
            if image_id not in images:
                rejected.append(
                    Rejection(None, None, f"annotation refers to unknown image id {image_id}", source=str(path))
                )
            continue
        label = categories.get(category, f"category {category}")
        frames[image_id].boxes.append(RawBox(label, (x, y, x + w, y + h), float(annotation.get("score", 1.0))))
    return list(frames.values()), rejected


def _read_yolo(folder: Path, context: _Context) -> tuple[list[_RawFrame], list[Rejection]]:
    names = _yolo_names(folder)
    labels = folder / YOLO_LABELS_DIR
    if not labels.resolve().is_relative_to(context.root):
        raise _FileRefused(f"refused: {labels} lies outside the bundle")
    frames, rejected = [], []
    for label_file in sorted(labels.glob("*.txt")):
        if label_file.is_symlink():
            raise _FileRefused(f"refused: {label_file.name} is a link, possibly to a path outside the bundle")
        run_frame = context.by_key.get(label_file.stem)
        if run_frame is None:
            rejected.append(_unknown_image(label_file.name, folder))
            continue
        boxes, problems = _yolo_boxes(label_file, names, run_frame)
        rejected.extend(problems)
        frames.append(_RawFrame(run_frame, boxes))
    return frames, rejected


def _yolo_names(folder: Path) -> list[str]:
    """Class names by YOLO index: `classes.txt` (what Label Studio's YOLO export writes, alphabetical) or the
    `names` of `data.yaml`."""
    classes = folder / YOLO_CLASSES_FILE
    if classes.is_file():
        return [line.strip() for line in classes.read_text().splitlines() if line.strip()]
    names: list[str] = []
    in_names = False
    for line in (folder / YOLO_DATA_FILE).read_text().splitlines():
        if line.startswith("path:"):
            reference = line.split(":", 1)[1].strip()
            if reference and not (folder / reference).resolve().is_relative_to(folder.resolve()):
                raise _FileRefused(f"refused: {YOLO_DATA_FILE} points at {reference!r}, outside the bundle")
        if line.startswith("names:"):
            in_names = True
            continue
        if in_names and line.startswith(" ") and ":" in line:
            names.append(json.loads(line.split(":", 1)[1].strip()) if '"' in line else line.split(":", 1)[1].strip())
        elif in_names:
            in_names = False
    if not names:
        raise _FileRefused(f"{YOLO_DATA_FILE} in {folder} lists no class names")
    return names


def _yolo_boxes(label_file: Path, names: Sequence[str], run_frame: RunFrame) -> tuple[list[RawBox], list[Rejection]]:
    boxes, rejected = [], []
    for number, line in enumerate(label_file.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) not in (5, 6):
                raise ValueError(f"{len(fields)} fields, expected 'class cx cy w h [conf]'")
            index = int(fields[0])
            cx, cy, w, h = (float(v) for v in fields[1:5])
        except ValueError as error:
            rejected.append(
                Rejection(
                    run_frame.clip_id,
                    run_frame.frame,
                    f"{label_file.name} line {number}: {error}",
                    source=str(label_file),
                )
            )
            continue
        label = names[index] if 0 <= index < len(names) else f"class index {index}"
        width, height = run_frame.width, run_frame.height
        xyxy = ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)
        boxes.append(RawBox(label, xyxy, float(fields[5]) if len(fields) == 6 else 1.0))
    return boxes, rejected


def _read_cvat(path: Path, context: _Context) -> tuple[list[_RawFrame], list[Rejection]]:
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise _FileRefused(f"{path.name} is malformed or truncated XML ({error}); export it again") from error
    if root.tag != "annotations":
        raise _FileRefused(f"{path.name} is not a CVAT for images 1.1 file (root <{root.tag}>)")
    frames, rejected = [], []
    for image in root.iter("image"):
        reference = image.get("name", "")
        run_frame = _frame_for(reference, context, path)
        if run_frame is None:
            rejected.append(_unknown_image(reference, path))
            continue
        boxes = []
        for box in image.iter("box"):
            try:
                xyxy = tuple(float(box.get(name, "nan")) for name in ("xtl", "ytl", "xbr", "ybr"))
            except ValueError as error:
                rejected.append(
                    Rejection(
                        run_frame.clip_id,
                        run_frame.frame,
                        f"malformed box: {error}",
                        box.get("label"),
                        source=str(path),
                    )
                )
                continue
            score = next((a.text or "1" for a in box.iter("attribute") if a.get("name") == "score"), "1")
            try:
                boxes.append(RawBox(box.get("label", ""), xyxy, float(score)))
            except ValueError:
                rejected.append(
                    Rejection(
                        run_frame.clip_id,
                        run_frame.frame,
                        f"score {score!r} is not a number",
                        box.get("label"),
                        source=str(path),
                    )
                )
        frames.append(_RawFrame(run_frame, boxes))
    return frames, rejected


_READERS = {"labelstudio": _read_labelstudio, "coco": _read_coco, "yolo": _read_yolo, "cvat": _read_cvat}
