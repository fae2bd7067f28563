"""Exported task bundles: the "annotators via files" backend (Label Studio without a server connection, CVAT,
Encord, or any tool that reads COCO or YOLO).

A bundle is a folder (and a zip of it) per push, a hand-off package an annotator can open:

    README.md                   what to label, the classes, how to answer and how to send it back
    labeling-config.xml         the Label Studio labeling config
    tasks.labelstudio.json      Label Studio tasks, importable as they are (images through local-files storage, or
                                the absolute URLs of a configured image server)
    annotations.coco.json       COCO, with a per-image `reviewed` mark (false until answered)
    annotations.cvat.xml        CVAT for images 1.1, with a `reviewed` tag label
    data.yaml, classes.txt,     YOLO (Ultralytics): labels/ beside images/, train.txt and val.txt split by clip
    labels/, train.txt, val.txt
    reviewed.txt                the list of answered images, for COCO, YOLO and CVAT answers
    images/<clip>_f<frame>_t<seconds>s.jpg
    manifest.json               bundle id, answer format, label schema, frames and their pre-annotations

Every format carries the pre-annotations, but the bundle names ONE answer format (chosen at push); an import reads
that file only, unless another is asked for. A frame counts as answered only where the file says a person answered
it: a Label Studio annotation (never a prediction), or a `reviewed` mark (COCO field, CVAT tag) or a line in
`reviewed.txt`. Image names carry the clip id (pseudonymous), the frame and its time in the clip; no source path,
file name or camera name is written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Self
from urllib.parse import quote

from data_engine.annotation.base import (
    FRAME_KEY_FIELD,
    AnnotationBackend,
    AnnotationError,
    AnnotationRun,
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
from data_engine.detections import Detections, DetectionsError
from data_engine.faults import crash_point
from data_engine.formats import (
    FormatError,
    ImageDetections,
    LabelledImage,
    coco,
    cvat,
    image_stem,
    labelstudio,
    read_json,
    write_json,
    yolo,
)
from data_engine.layout import ANNOTATION_BUNDLES
from data_engine.progress import StepProgress
from data_engine.settings import BUNDLE_ANSWER_FORMATS, Settings
from data_engine.store import Store, temporary_path

BUNDLE_SCHEMA = "data-engine/annotation-bundle"
IMAGES_DIR = "images"
README_FILE = "README.md"
LABELING_CONFIG_FILE = "labeling-config.xml"
MANIFEST_FILE = "manifest.json"
REVIEWED_LIST = "reviewed.txt"
ANSWER_FILES = {
    "labelstudio": "tasks.labelstudio.json",
    "coco": "annotations.coco.json",
    "cvat": "annotations.cvat.xml",
    "yolo": yolo.DATA_FILE,
}
ANSWER_FORMATS = BUNDLE_ANSWER_FORMATS
VAL_EVERY_CLIPS = 5
DEFAULT_ANNOTATOR = "bundle"


class BundleError(AnnotationError):
    """A bundle or answer file that cannot be read; the message names the file and the problem."""


class BundleBackend(AnnotationBackend):
    """Task bundles written under `folder`, answered in `answer_format`. Task images are addressed for Label
    Studio through its local-files storage, relative to `document_root` (default: `folder`), or as
    `<image_url>/<bundle id>/images/<name>` when an image server serves `folder`."""

    name = "bundle"
    polled = False

    def __init__(
        self,
        folder: Path,
        answer_format: str = "labelstudio",
        image_url: str | None = None,
        document_root: Path | None = None,
        make_zip: bool = True,
    ) -> None:
        if answer_format not in ANSWER_FILES:
            raise AnnotationError(
                f"unknown answer format {answer_format!r} for bundles; use one of {', '.join(ANSWER_FORMATS)}"
            )
        self.folder = Path(folder)
        self.answer_format = answer_format
        self.image_url = image_url.rstrip("/") if image_url else None
        self.document_root = Path(document_root) if document_root else None
        self.make_zip = make_zip

    @classmethod
    def from_settings(cls, settings: Settings, store: Store) -> Self:
        document_root = settings.label_studio_document_root
        return cls(
            store.local_path(ANNOTATION_BUNDLES),
            answer_format=settings.bundle_answer_format,
            image_url=settings.bundle_image_url or None,
            document_root=Path(document_root) if document_root else None,
        )

    @property
    def platform(self) -> str:
        return "bundle"

    # ---- push --------------------------------------------------------------------------------------------------

    def repair(self, run: AnnotationRun) -> bool:
        """The zip of a published bundle, when it went missing."""
        root = Path(run.project_url)
        if not self.make_zip or not root.is_dir() or root.with_suffix(".zip").is_file():
            return False
        _zip_folder(root, root.with_suffix(".zip"))
        return True

    def push(self, request: ReviewRequest, run_id: str, progress: StepProgress | None = None) -> AnnotationRun:
        """Write bundle `run_id` under a temporary name and publish it by renaming (a reader never sees half a
        bundle); a bundle already published is kept as it is, so a push repeated after a crash only finishes it
        (the zip beside it is re-created when missing)."""
        root = self.folder / run_id
        if not root.is_dir():
            self._write(request, run_id, progress)
        manifest = _manifest(root)
        run = AnnotationRun(
            run_id=run_id,
            backend=self.name,
            project_id=run_id,
            project_url=str(root.resolve()),
            names=dict(request.names),
            frames=tuple(
                RunFrame(s.clip_id, s.frame, s.key, s.width, s.height, None, s.reasons, s.image_name)
                for s in request.frames
            ),
            created_at=str(manifest.get("created_at") or now_iso()),
            model_version=request.model_version,
            answer_format=str(manifest.get("answer_format") or self.answer_format),
        )
        self.repair(run)
        return run

    def _write(self, request: ReviewRequest, run_id: str, progress: StepProgress | None) -> None:
        root = self.folder / run_id
        for stale in self.folder.glob(f".{run_id}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        temporary = temporary_path(root)
        try:
            names = dict(request.names)
            for done, selected in enumerate(request.frames, start=1):
                materialise_image(selected, temporary / IMAGES_DIR)
                if progress:
                    progress(done, len(request.frames))
            entries = [
                ImageDetections(
                    f"{IMAGES_DIR}/{s.image_name}",
                    s.width,
                    s.height,
                    Detections.empty(names) if s.pre_annotations is None else s.pre_annotations.with_names(names),
                    reviewed=False,
                )
                for s in request.frames
            ]
            manifest = {
                "schema": BUNDLE_SCHEMA,
                "bundle_id": run_id,
                "created_at": now_iso(),
                "answer_format": self.answer_format,
                "answer_file": ANSWER_FILES[self.answer_format],
                "model_version": request.model_version,
                "names": {str(k): v for k, v in names.items()},
                "frames": [
                    {
                        "key": s.key,
                        "image": entry.image,
                        "width": s.width,
                        "height": s.height,
                        "pre_annotations": None if s.pre_annotations is None else entry.detections.to_dicts(),
                    }
                    for s, entry in zip(request.frames, entries, strict=True)
                ],
            }
            tasks = [
                labelstudio.to_task(
                    self._task_image_url(run_id, entry.image),
                    {FRAME_KEY_FIELD: s.key},
                    None if s.pre_annotations is None else entry.detections,
                    s.width,
                    s.height,
                    request.model_version,
                )
                for s, entry in zip(request.frames, entries, strict=True)
            ]
            labelstudio.save(tasks, temporary / ANSWER_FILES["labelstudio"])
            coco.save(entries, names, temporary / ANSWER_FILES["coco"])
            cvat.save(entries, names, temporary / ANSWER_FILES["cvat"], run_id)
            yolo.save(entries, names, temporary, val=_val_images(request, entries))
            (temporary / LABELING_CONFIG_FILE).write_text(labelstudio.labeling_config(names), encoding="utf-8")
            (temporary / REVIEWED_LIST).write_text(REVIEWED_LIST_HEADER, encoding="utf-8")
            (temporary / README_FILE).write_text(self._readme(run_id, request), encoding="utf-8")
            write_json(temporary / MANIFEST_FILE, manifest)
            crash_point("bundle.written")
            try:
                os.rename(temporary, root)
            except OSError:
                if not root.is_dir():
                    raise
        finally:
            shutil.rmtree(temporary, ignore_errors=True)

    def _task_image_url(self, run_id: str, image: str) -> str:
        """What Label Studio loads a task's image from: the image server's URL, or its local-files URL relative to
        the document root."""
        if self.image_url is not None:
            return f"{self.image_url}/{quote(run_id)}/{quote(image)}"
        return f"/data/local-files/?d={quote((self._served_path(run_id) / image).as_posix())}"

    def _served_path(self, run_id: str) -> Path:
        """The bundle folder relative to Label Studio's document root: the configured one when it holds the
        bundles, else the bundles folder itself (so an unpacked bundle works from any folder)."""
        root = self.folder.resolve()
        if self.document_root is not None and root.is_relative_to(self.document_root.resolve()):
            return root.relative_to(self.document_root.resolve()) / run_id
        return Path(run_id)

    def _readme(self, run_id: str, request: ReviewRequest) -> str:
        """The annotator's instructions; no absolute path of this machine goes into them."""
        if self.image_url is not None:
            serving = (
                f"Task images are addressed as `{self.image_url}/{run_id}/images/<name>`: the image server that "
                f"answers `{self.image_url}` must serve the folder that holds this bundle folder."
            )
        else:
            served = self._served_path(run_id).as_posix()
            serving = (
                "Task images are addressed through Label Studio's local-files storage. Start Label Studio with\n"
                "`LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true` and `LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT` set to\n"
                f"the folder in which `{served}` is this bundle folder; then, in the project, add a source storage of\n"
                "type *Local files* whose absolute path is this bundle's `images` folder (do not sync it: the tasks\n"
                "come from the task file)."
            )
        return README_TEMPLATE.format(
            bundle=run_id,
            frames=len(request.frames),
            clips=len({frame.clip_id for frame in request.frames}),
            classes="\n".join(f"- `{name}`" for _, name in sorted(request.names.items())),
            pre="pre-annotated by the model" if request.model_version != "none" else "not pre-annotated (cold start)",
            answer_format=self.answer_format,
            answer_file=ANSWER_FILES[self.answer_format],
            how=ANSWER_INSTRUCTIONS[self.answer_format],
            serving=serving,
        )

    # ---- answers -----------------------------------------------------------------------------------------------

    def pull(self, run: AnnotationRun) -> PullResult:
        """The answers in the bundle's own answer file, where the bundle was written."""
        return read_answers(run, Path(run.project_url))

    def progress(self, run: AnnotationRun) -> RunProgress:
        result = self.pull(run)
        return RunProgress(len(run.frames), len(result.frames), len(result.pending), 0)


def read_answers(
    run: AnnotationRun, path: Path, file_format: str | None = None, scratch: Path | None = None
) -> PullResult:
    """The answers of a bundle: a bundle folder or its zip (its answer file, or the file of `file_format`), or one
    answer file given explicitly (its format from `file_format`, else from its name and content). Only answered
    frames come back; every box is validated against the run's label schema and image sizes. A zip is unpacked in
    `scratch` (see `_unpacked`)."""
    if not path.exists():
        raise BundleError(f"{path} does not exist")
    if file_format is not None and file_format not in ANSWER_FILES:
        raise BundleError(f"unknown format {file_format!r}; use one of {', '.join(ANSWER_FORMATS)}")
    with _unpacked(path, scratch) as unpacked:
        target, chosen = _answer_file(unpacked, run.answer_format, file_format)
        try:
            result = _read(run, target, chosen)
        except FormatError as error:
            raise BundleError(f"{target.name}: {error}") from None
    shown = f"{path}!{target.relative_to(unpacked)}" if unpacked != path else str(target)
    return PullResult(result.frames, result.rejected, result.pending, (), shown, chosen)


ARCHIVE_LIMIT_BYTES = 1 << 30
"""The most an archive import unpacks: the uncompressed bytes of the members it reads (answer files, manifest,
YOLO labels; never the images), counted as they stream, so a zip bomb is refused before it fills a disk."""
_NEEDED_MEMBERS = {MANIFEST_FILE, REVIEWED_LIST, *ANSWER_FILES.values(), yolo.CLASSES_FILE, yolo.DATA_FILE}


def _needed(member: str) -> bool:
    """Whether an import reads this member of a bundle's zip (at its top, or in its one top folder)."""
    parts = PurePosixPath(member).parts
    if member.endswith("/") or not parts:
        return False
    if len(parts) <= 2 and parts[-1] in _NEEDED_MEMBERS:
        return True
    return len(parts) in (2, 3) and parts[-2] == yolo.LABELS_DIR and parts[-1].endswith(".txt")


@contextmanager
def _unpacked(path: Path, scratch: Path | None = None) -> Iterator[Path]:
    """A zip is read from a scratch folder holding only the members an import reads, streamed under
    `ARCHIVE_LIMIT_BYTES` (refusing members that would land outside it). The folder, a temporary name in
    `scratch` (the store's, so that the sweep of the next command removes what a killed import left; default the
    system's temporary folder), is removed on every way out."""
    if not (path.is_file() and path.suffix.lower() == ".zip"):
        yield path
        return
    target = temporary_path((scratch or Path(tempfile.gettempdir())) / "import")
    target.mkdir(parents=True)
    try:
        try:
            with zipfile.ZipFile(path) as archive:
                members = archive.infolist()
                for member in members:
                    destination = (target / member.filename).resolve()
                    if Path(member.filename).is_absolute() or not destination.is_relative_to(target.resolve()):
                        raise BundleError(f"{path}: refused, member {member.filename!r} points outside the bundle")
                left = ARCHIVE_LIMIT_BYTES
                for member in members:
                    if member.is_dir() or not _needed(member.filename):
                        continue
                    left = _stream_member(archive, member, target / member.filename, left, path)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as error:
            raise BundleError(f"{path} is not a readable zip file ({error}); export it again") from None
        inner = [child for child in target.iterdir() if child.is_dir()]
        root = target
        if not (target / MANIFEST_FILE).is_file() and len(inner) == 1 and (inner[0] / MANIFEST_FILE).is_file():
            root = inner[0]
        yield root
    finally:
        shutil.rmtree(target, ignore_errors=True)


def _stream_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, destination: Path, left: int, path: Path) -> int:
    """Copy one member out of the archive, counting its bytes against what is `left` of the limit."""
    too_big = BundleError(
        f"{path}: refused, its answer files unpack to more than {ARCHIVE_LIMIT_BYTES / 1e6:g} MB (the limit of an "
        f"archive import; {member.filename!r} alone says {member.file_size / 1e6:g} MB)"
    )
    if member.file_size > left:
        raise too_big
    destination.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(member) as source, open(destination, "wb") as out:
        while chunk := source.read(1 << 20):
            left -= len(chunk)
            if left < 0:
                raise too_big  # the member lied about its size
            out.write(chunk)
    return left


def _answer_file(path: Path, answer_format: str, file_format: str | None) -> tuple[Path, str]:
    """Which file to read, and in which format: in a bundle folder the file of `file_format`, else of the
    bundle's answer format; a file in the format asked for, else in the one its name and content say."""
    if path.is_dir():
        chosen = file_format or answer_format or _manifest(path).get("answer_format") or "labelstudio"
        target = path / ANSWER_FILES[str(chosen)]
        if not target.is_file():
            raise BundleError(f"{path} holds no {target.name}, the {chosen} answer file of this bundle")
        return target, str(chosen)
    if file_format is not None:
        return path, file_format
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return path, "cvat"
    if suffix == ".json" and path.name != MANIFEST_FILE:
        with open(path, "rb") as handle:
            head = handle.read(4096).lstrip()
        return path, "labelstudio" if head.startswith(b"[") else "coco"
    if path.name in (yolo.CLASSES_FILE, yolo.DATA_FILE):
        return path, "yolo"
    raise BundleError(
        f"{path}: unknown answer file type (expected a bundle folder or zip, .json, .xml, or a YOLO data.yaml)"
    )


def peek_references(path: Path, file_format: str | None = None, scratch: Path | None = None) -> set[str]:
    """The image stems and frame keys an answer file (or bundle) names, to find the run it answers."""
    with _unpacked(path, scratch) as unpacked:
        target, chosen = _answer_file(unpacked, "", file_format)
        try:
            if chosen == "yolo":
                return {label.stem for label in (target.parent / yolo.LABELS_DIR).glob("*.txt")}
            loaded = {"labelstudio": labelstudio.load, "coco": coco.load, "cvat": cvat.load}[chosen](target)
        except FormatError as error:
            raise BundleError(f"{target.name}: {error}") from None
    keys = {str(image.data.get(FRAME_KEY_FIELD)) for image in loaded.images if image.data.get(FRAME_KEY_FIELD)}
    return {image_stem(image.image) for image in loaded.images} | keys


def _read(run: AnnotationRun, target: Path, file_format: str) -> PullResult:
    """Read one answer file: its answered images become reviewed frames, everything else is reported."""
    root = target.parent
    by_stem = {Path(f.image).stem: f for f in run.frames if f.image}
    by_key = run.by_key()
    sizes = {stem: (f.width, f.height) for stem, f in by_stem.items()}
    if file_format == "labelstudio":
        loaded = labelstudio.load(target, sizes)
    elif file_format == "coco":
        loaded = coco.load(target)
    elif file_format == "cvat":
        loaded = cvat.load(target)
    else:
        loaded = yolo.load(root, sizes)
    listed = _reviewed_list(root) if file_format != "labelstudio" else set()
    pre_annotations = _manifest_pre_annotations(root, run)
    source = str(target)
    answered_at = datetime.fromtimestamp(target.stat().st_mtime, UTC).isoformat(timespec="seconds")
    frames: dict[str, ReviewedFrame] = {}
    rejected = [
        Rejection(None, None, problem.reason, problem.label, problem.box, source) for problem in loaded.problems
    ]
    for image in loaded.images:
        run_frame = _frame_of(image, root, by_stem, by_key)
        if run_frame is None:
            rejected.append(Rejection(None, None, f"image {image.image!r} is not part of this bundle", source=source))
            continue
        if not (image.reviewed or Path(image.image).stem in listed or image_stem(image.image) in listed):
            continue
        pre = pre_annotations.get(run_frame.key)
        reviewed, problems = reviewed_frame(run, run_frame, image, pre, source, DEFAULT_ANNOTATOR, answered_at)
        rejected.extend(problems)
        if reviewed is not None:
            frames[run_frame.key] = reviewed
    answered = set(frames)
    refused = {(r.clip_id, r.frame) for r in rejected if r.frame is not None}
    pending = tuple(f for f in run.frames if f.key not in answered and (f.clip_id, f.frame) not in refused)
    return PullResult(tuple(frames.values()), tuple(rejected), pending, (), source, file_format)


def _frame_of(
    image: LabelledImage, root: Path, by_stem: Mapping[str, RunFrame], by_key: Mapping[str, RunFrame]
) -> RunFrame | None:
    """The run frame an image entry names: by the frame key of a Label Studio task, else by its file name. A
    local path that leaves the bundle refuses the whole file; a URL is matched by its file name."""
    reference = image.image
    if "://" not in reference and "?" not in reference:
        resolved = (root / reference).resolve()
        if Path(reference).is_absolute() or not resolved.is_relative_to(root.resolve()):
            raise BundleError(f"refused: the file refers to {reference!r}, a path outside the bundle")
    key = image.data.get(FRAME_KEY_FIELD)
    if isinstance(key, str) and key in by_key:
        return by_key[key]
    stem = image_stem(reference)
    return by_stem.get(stem) or by_key.get(stem)


def _reviewed_list(root: Path) -> set[str]:
    """Image stems listed in `reviewed.txt` (file names or stems, one a line; `#` starts a comment)."""
    listed = root / REVIEWED_LIST
    if not listed.is_file():
        return set()
    names = (line.split("#", 1)[0].strip() for line in listed.read_text(encoding="utf-8").splitlines())
    return {image_stem(name) for name in names if name}


def _manifest(root: Path) -> dict[str, Any]:
    path = root / MANIFEST_FILE
    if not path.is_file():
        return {}
    try:
        data = read_json(path)
    except FormatError as error:
        raise BundleError(f"{path}: {error}; restore it from the exported bundle") from None
    if not isinstance(data, dict):
        raise BundleError(f"{path} is not a bundle manifest; restore it from the exported bundle")
    return data


def _manifest_pre_annotations(root: Path, run: AnnotationRun) -> dict[str, Detections | None]:
    """Pre-annotations by frame key from the bundle's manifest (none when the manifest is absent)."""
    manifest = _manifest(root)
    if manifest.get("bundle_id") not in (None, run.run_id):
        raise BundleError(f"{root / MANIFEST_FILE} belongs to bundle {manifest.get('bundle_id')}, not {run.run_id}")
    try:
        return {
            str(entry["key"]): None
            if entry.get("pre_annotations") is None
            else Detections.from_dicts(entry["pre_annotations"], run.names)
            for entry in manifest.get("frames", [])
        }
    except (KeyError, TypeError, AttributeError, DetectionsError) as error:
        raise BundleError(f"{root / MANIFEST_FILE} is malformed ({error}); restore it from the bundle") from None


def _val_images(request: ReviewRequest, entries: Sequence[ImageDetections]) -> set[str]:
    """Every fifth clip (whole clips, so neighbouring frames never straddle train and val) goes to YOLO's val
    split; a bundle of one clip has no val split."""
    clips = sorted({frame.clip_id for frame in request.frames})
    if len(clips) < 2:
        return set()
    val_clips = {clip for index, clip in enumerate(clips) if index % VAL_EVERY_CLIPS == VAL_EVERY_CLIPS - 1}
    val_clips = val_clips or {clips[-1]}
    return {entry.image for entry, s in zip(entries, request.frames, strict=True) if s.clip_id in val_clips}


def _zip_folder(folder: Path, target: Path) -> None:
    temporary = temporary_path(target)
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(folder).as_posix())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


# ---- a simulated annotator -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameAnswer:
    """What an annotator gives one frame: its boxes (an empty set: "reviewed, nothing to label")."""

    detections: Detections
    annotator: str = "simulated-annotator"
    lead_time_s: float = 1.0


def answer_bundle(run: AnnotationRun, answers: Mapping[tuple[str, int], FrameAnswer]) -> Path:
    """Write answers into bundle `run`'s answer file in its answer format, as an annotator using that format's
    tool would leave them (for demos, tests and the proving ground's simulated annotator). Frames without an
    answer stay unanswered. Returns the answer file."""
    root = Path(run.project_url)
    file_format = run.answer_format or "labelstudio"
    target = root / ANSWER_FILES[file_format]
    by_key = run.by_key()
    keyed = {
        frame.key: answers[(frame.clip_id, frame.frame)]
        for frame in run.frames
        if (frame.clip_id, frame.frame) in answers
    }
    if file_format == "labelstudio":
        tasks = read_json(target)
        for number, task in enumerate(tasks, start=1):
            key = str(task["data"][FRAME_KEY_FIELD])
            if key in keyed:
                frame, answer = by_key[key], keyed[key]
                results = labelstudio.to_results(
                    answer.detections.with_names(run.names), frame.width, frame.height, with_scores=False
                )
                task["annotations"] = [
                    {
                        "id": number,
                        "result": results,
                        "completed_by": answer.annotator,
                        "lead_time": answer.lead_time_s,
                        "created_at": now_iso(),
                        "updated_at": now_iso(),
                    }
                ]
        labelstudio.save(tasks, target)
        return target
    pre = _manifest_pre_annotations(root, run)
    entries = [
        ImageDetections(
            f"{IMAGES_DIR}/{frame.image}",
            frame.width,
            frame.height,
            (
                keyed[frame.key].detections if frame.key in keyed else pre.get(frame.key) or Detections.empty(run.names)
            ).with_names(run.names),
            reviewed=frame.key in keyed,
        )
        for frame in run.frames
    ]
    if file_format == "coco":
        coco.save(entries, run.names, target)
    elif file_format == "cvat":
        cvat.save(entries, run.names, target, run.run_id)
    else:
        yolo.save(entries, run.names, root, val=set())
        listed = "".join(f"{entry.image}\n" for entry in entries if entry.reviewed)
        (root / REVIEWED_LIST).write_text(REVIEWED_LIST_HEADER + listed, encoding="utf-8")
    return target


REVIEWED_LIST_HEADER = """\
# The images you have finished, one file name a line (e.g. images/<name>.jpg). Only listed images (or images
# marked reviewed in the COCO file or tagged "reviewed" in CVAT) are imported; an image listed with no boxes
# means "reviewed, nothing to label".
"""

ANSWER_INSTRUCTIONS = {
    "labelstudio": """\
1. In Label Studio, create a project and paste `labeling-config.xml` as its labeling interface (Settings >
   Labeling Interface > Code).
2. Make the images reachable (see "Images" below), then import `tasks.labelstudio.json` (Import > Upload Files).
   The model's boxes appear as predictions: accept, move, relabel or delete them, add what is missing, and
   Submit each task. A task without a submitted annotation counts as not reviewed; a submitted task with no boxes
   means "reviewed, nothing to label". Skipped tasks count as not reviewed.
3. Export the project as JSON (Export > JSON) and send that file back.""",
    "coco": """\
1. Open `annotations.coco.json` with the images in your tool (the model's boxes are in it).
2. Correct the boxes of each image, then set that image's `"reviewed": true` (or list its file name in
   `reviewed.txt` if your tool drops the field). Images not marked reviewed are not imported, whatever boxes
   they hold; a reviewed image with no boxes means "reviewed, nothing to label".
3. Send back `annotations.coco.json` (and `reviewed.txt`).""",
    "cvat": """\
1. Create a CVAT task with the images and upload `annotations.cvat.xml` (format "CVAT for images 1.1").
2. Correct the boxes of each image and add the image tag `reviewed` to every image you finished. Images without
   the tag are not imported; a tagged image with no boxes means "reviewed, nothing to label".
3. Export the task as "CVAT for images 1.1" and send the XML back.""",
    "yolo": """\
1. Open the folder as a YOLO dataset (`data.yaml`, `classes.txt`, labels/ beside images/).
2. Correct `labels/<name>.txt` of each image and list each image you finished in `reviewed.txt`. Unlisted
   images are not imported; a listed image with an empty label file means "reviewed, nothing to label".
3. Send back `labels/`, `classes.txt` and `reviewed.txt` (the whole folder is fine).""",
}

README_TEMPLATE = """\
# Annotation bundle {bundle}

{frames} frames from {clips} clips to review, {pre}. Draw a tight box around every object of these classes:

{classes}

Image names say where a frame comes from: `<clip>_f<frame>_t<seconds>s.jpg` is frame `<frame>` of clip `<clip>`,
`<seconds>` into the clip, so neighbouring frames of one clip sort together. Nothing else about the source is
included.

## How to answer

This bundle is answered in **{answer_format}**: `{answer_file}` is the file that is read back. The other formats in
the folder are exports of the same tasks for other tools and are not read unless the engine is told to
(`data-engine import-annotations --format FORMAT`).

{how}

## Images

{serving}

## Returning the answers

Send the answer file back (or the whole folder, or a zip of it). The engine imports it with
`data-engine import-annotations PATH` (`--dry-run` first shows what would change) and can undo an import with
`data-engine import-annotations --undo IMPORT_ID`.
"""
