"""Exported task bundles: a hand-off package in four formats answered in ONE of them; only frames a person
answered come back; pseudonymous but readable image names; files that refer outside the bundle are refused."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from data_engine.annotation import (
    ANSWER_FORMATS,
    AnnotationRun,
    BundleBackend,
    BundleError,
    FrameAnswer,
    ReviewRequest,
    answer_bundle,
    read_answers,
    review_metrics,
)
from data_engine.annotation.bundle import ANSWER_FILES, LABELING_CONFIG_FILE, README_FILE, REVIEWED_LIST
from data_engine.detections import Detections
from data_engine.formats import yolo
from tests.data_engine.annotation.conftest import NAMES


def push(to_review: ReviewRequest, folder: Path, answer_format: str = "labelstudio") -> AnnotationRun:
    return BundleBackend(folder, answer_format).push(to_review, "b1")


def accept_all(run: AnnotationRun, to_review: ReviewRequest, annotator: str = "anna") -> dict:
    """An annotator who keeps every pre-annotation, in the bundle's answer format."""
    answers = {
        (s.clip_id, s.frame): FrameAnswer(s.pre_annotations, annotator=annotator, lead_time_s=7.5)
        for s in to_review.frames
    }
    answer_bundle(run, answers)
    return answers


def assert_boxes_equal_within_a_pixel(first: Detections, second: Detections) -> None:
    order_a = np.lexsort((first.xyxy[:, 0], first.class_id))
    order_b = np.lexsort((second.xyxy[:, 0], second.class_id))
    np.testing.assert_array_equal(first.class_id[order_a], second.class_id[order_b])
    np.testing.assert_allclose(first.xyxy[order_a], second.xyxy[order_b], atol=1.0)


@pytest.mark.parametrize("answer_format", ANSWER_FORMATS)
def test_round_trip_in_each_answer_format(to_review: ReviewRequest, tmp_path: Path, answer_format: str) -> None:
    run = push(to_review, tmp_path, answer_format)
    assert run.answer_format == answer_format
    accept_all(run, to_review)

    result = read_answers(run, Path(run.project_url))

    assert result.format == answer_format and not result.rejected and not result.pending
    assert Path(result.source).name == ANSWER_FILES[answer_format]
    imported = {(f.clip_id, f.frame): f for f in result.frames}
    assert len(imported) == len(to_review.frames)
    for selected in to_review.frames:
        reviewed = imported[(selected.clip_id, selected.frame)]
        assert_boxes_equal_within_a_pixel(reviewed.detections, selected.pre_annotations)
        assert_boxes_equal_within_a_pixel(reviewed.pre_annotations, selected.pre_annotations)
        assert reviewed.reasons == selected.reasons
    if answer_format == "labelstudio":
        assert {f.annotator for f in result.frames} == {"anna"}
        assert review_metrics(result.frames).per_annotator_day[0].mean_lead_time_s == 7.5
    json.dumps(result.to_json())


@pytest.mark.parametrize("answer_format", ANSWER_FORMATS)
def test_an_untouched_bundle_answers_nothing(to_review: ReviewRequest, tmp_path: Path, answer_format: str) -> None:
    """The pre-annotations are in every file, but nobody answered: no frame is reviewed, in any format."""
    run = push(to_review, tmp_path, answer_format)
    for file_format in ANSWER_FORMATS:
        result = read_answers(run, Path(run.project_url), file_format)
        assert not result.frames and len(result.pending) == len(to_review.frames), file_format
    assert not read_answers(run, Path(run.project_url).with_suffix(".zip")).frames


def test_only_the_answer_file_is_read(to_review: ReviewRequest, tmp_path: Path) -> None:
    """Editing another format's file changes nothing unless that format is asked for."""
    run = push(to_review, tmp_path, "coco")
    root = Path(run.project_url)
    accept_all(run, to_review)
    tasks = json.loads((root / ANSWER_FILES["labelstudio"]).read_text())
    for task in tasks:
        task["annotations"] = [{"id": 1, "result": [], "completed_by": "mallory"}]
    (root / ANSWER_FILES["labelstudio"]).write_text(json.dumps(tasks))

    from_coco = read_answers(run, root)
    from_labelstudio = read_answers(run, root, "labelstudio")

    assert from_coco.format == "coco" and all(len(f.detections) for f in from_coco.frames)
    assert from_labelstudio.format == "labelstudio" and all(not len(f.detections) for f in from_labelstudio.frames)
    assert len(read_answers(run, root / ANSWER_FILES["labelstudio"]).frames) == len(to_review.frames)


def test_frame_with_every_box_refused_stays_unreviewed_and_an_empty_answer_counts(
    to_review: ReviewRequest, tmp_path: Path
) -> None:
    run = push(to_review, tmp_path, "coco")
    root = Path(run.project_url)
    accept_all(run, to_review)
    coco = json.loads((root / ANSWER_FILES["coco"]).read_text())
    coco["categories"].append({"id": 7, "name": "bicycle"})
    refused, emptied = coco["images"][0]["id"], coco["images"][1]["id"]
    coco["annotations"] = [a for a in coco["annotations"] if a["image_id"] not in (refused, emptied)]
    coco["annotations"] += [
        {"id": 900, "image_id": refused, "category_id": 7, "bbox": [5, 5, 20, 20]},
        {"id": 901, "image_id": refused, "category_id": 0, "bbox": [300, 150, 80, 60]},
        {"id": 902, "image_id": refused, "category_id": 0, "bbox": [1, 2, "NaN", 4]},
        {"id": 903, "image_id": 99, "category_id": 0, "bbox": [1, 1, 2, 2]},
    ]
    (root / ANSWER_FILES["coco"]).write_text(json.dumps(coco))

    result = read_answers(run, root)

    first, second = run.frames[0], run.frames[1]
    reviewed = {(f.clip_id, f.frame): f for f in result.frames}
    assert (first.clip_id, first.frame) not in reviewed, "a frame whose every box was refused is no answer"
    assert [(r.clip_id, r.frame) for r in result.rejected_frames] == [(first.clip_id, first.frame)]
    assert "all 3 boxes of the answer were refused" in result.rejected_frames[0].reason
    reasons = " ".join(r.reason for r in result.rejected)
    assert "unknown label 'bicycle'" in reasons and "outside the 320x180 image" in reasons
    assert "unknown image id 99" in reasons
    assert len(reviewed[(second.clip_id, second.frame)].detections) == 0, "reviewed, nothing to label"
    assert len(result.frames) == len(to_review.frames) - 1


def test_yolo_answers_are_the_images_listed_as_reviewed(to_review: ReviewRequest, tmp_path: Path) -> None:
    run = push(to_review, tmp_path, "yolo")
    root = Path(run.project_url)
    first = run.frames[0]
    (root / REVIEWED_LIST).write_text(REVIEWED_LIST_TEXT.format(image=first.image))
    (root / yolo.LABELS_DIR / f"{Path(first.image).stem}.txt").write_text("1 0.5 0.5 0.2 0.2\n")

    result = read_answers(run, root)

    (reviewed,) = result.frames
    assert (reviewed.clip_id, reviewed.frame) == (first.clip_id, first.frame)
    assert reviewed.detections.class_id.tolist() == [1] and len(result.pending) == len(run.frames) - 1


REVIEWED_LIST_TEXT = "# done\nimages/{image}\n"


def test_the_bundle_is_a_hand_off_package(to_review: ReviewRequest, tmp_path: Path) -> None:
    run = push(to_review, tmp_path)
    root = Path(run.project_url)
    readme = (root / README_FILE).read_text()
    assert "tasks.labelstudio.json" in readme and "`person`" in readme and "`car`" in readme
    assert "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT" in readme and "import-annotations" in readme
    assert str(tmp_path) not in readme, "no path of the engine's machine leaves it"
    config = (root / LABELING_CONFIG_FILE).read_text()
    assert '<RectangleLabels name="label" toName="image">' in config and 'value="person"' in config
    names = sorted(path.name for path in (root / "images").iterdir())
    assert names[:2] == ["5ab0c3e1f2d49a07-00000_f000000_t0.000s.jpg", "5ab0c3e1f2d49a07-00000_f000010_t0.400s.jpg"]
    assert names == sorted(f.image for f in run.frames), "clip, frame and time in clip; neighbours sort together"
    tasks = json.loads((root / ANSWER_FILES["labelstudio"]).read_text())
    assert all(task["data"]["image"].startswith("/data/local-files/?d=b1/images/") for task in tasks)
    data = yaml.safe_load((root / yolo.DATA_FILE).read_text())
    assert data["train"] == "train.txt" and data["val"] == "val.txt"
    train = set((root / "train.txt").read_text().split())
    val = set((root / "val.txt").read_text().split())
    assert train and val and not train & val, "separate train and val image lists"
    assert {Path(line).stem.split("_f")[0] for line in val}.isdisjoint(
        {Path(line).stem.split("_f")[0] for line in train}
    )


def test_image_server_urls_when_configured(to_review: ReviewRequest, tmp_path: Path) -> None:
    run = BundleBackend(tmp_path, image_url="http://images.example.org/bundles/").push(to_review, "b2")
    tasks = json.loads((Path(run.project_url) / ANSWER_FILES["labelstudio"]).read_text())
    assert tasks[0]["data"]["image"].startswith("http://images.example.org/bundles/b2/images/")
    assert "http://images.example.org/bundles" in (Path(run.project_url) / README_FILE).read_text()


def test_bundle_carries_no_source_path(to_review: ReviewRequest, tmp_path: Path) -> None:
    sources = tmp_path / "secret-camera-7"
    sources.mkdir()
    frames = []
    for selected in to_review.frames:
        path = sources / f"{selected.frame}-{selected.clip_id.replace('/', '-')}.jpg"
        path.write_bytes(b"\xff\xd8 not decoded")
        frames.append(
            type(selected)(
                selected.clip_id,
                selected.frame,
                selected.width,
                selected.height,
                image_path=path,
                pre_annotations=selected.pre_annotations,
                time_s=selected.time_s,
            )
        )
    request = ReviewRequest(tuple(frames), NAMES, name="n")
    run = BundleBackend(tmp_path / "bundles").push(request, "b3")
    root = Path(run.project_url)
    for path in root.rglob("*"):
        assert "secret-camera" not in path.name
        if path.is_file() and path.suffix in (".json", ".xml", ".txt", ".yaml", ".md"):
            assert "secret-camera" not in path.read_text(), path.name
    with zipfile.ZipFile(root.with_suffix(".zip")) as archive:
        assert all("secret-camera" not in name for name in archive.namelist())


def test_push_again_with_the_same_run_keeps_the_published_bundle(to_review: ReviewRequest, tmp_path: Path) -> None:
    backend = BundleBackend(tmp_path)
    (tmp_path / ".b1.tmp-999").mkdir(parents=True)  # a writer that died before publishing
    first = backend.push(to_review, "b1")
    root = Path(first.project_url)
    marker = root / ANSWER_FILES["labelstudio"]
    stamp = marker.stat().st_mtime_ns
    root.with_suffix(".zip").unlink()

    again = backend.push(to_review, "b1")

    assert again == first and marker.stat().st_mtime_ns == stamp
    assert root.with_suffix(".zip").is_file(), "the zip is re-created when missing"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b1", "b1.zip"]


@pytest.mark.parametrize("answer_format", ["coco", "cvat", "labelstudio"])
def test_truncated_answer_file_is_a_clear_error(to_review: ReviewRequest, tmp_path: Path, answer_format: str) -> None:
    run = push(to_review, tmp_path, answer_format)
    target = Path(run.project_url) / ANSWER_FILES[answer_format]
    target.write_text(target.read_text()[: len(target.read_text()) // 2])
    with pytest.raises(BundleError, match="malformed or truncated"):
        read_answers(run, Path(run.project_url))


def test_not_an_answer_file_is_a_clear_error(to_review: ReviewRequest, tmp_path: Path) -> None:
    run = push(to_review, tmp_path)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(BundleError, match="unknown answer file type"):
        read_answers(run, notes)
    with pytest.raises(BundleError, match="does not exist"):
        read_answers(run, tmp_path / "missing.json")
    broken_zip = tmp_path / "broken.zip"
    broken_zip.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(BundleError, match="not a readable zip"):
        read_answers(run, broken_zip)


@pytest.mark.parametrize("answer_format", ["coco", "cvat", "labelstudio"])
def test_file_referring_outside_the_bundle_is_refused(
    to_review: ReviewRequest, tmp_path: Path, answer_format: str
) -> None:
    run = push(to_review, tmp_path, answer_format)
    target = Path(run.project_url) / ANSWER_FILES[answer_format]
    if answer_format == "labelstudio":
        tasks = json.loads(target.read_text())
        tasks[0]["data"] = {"image": "../../../etc/passwd"}
        target.write_text(json.dumps(tasks))
    else:
        target.write_text(target.read_text().replace(f"images/{run.frames[0].image}", "../../../etc/passwd"))
    with pytest.raises(BundleError, match="outside the bundle"):
        read_answers(run, Path(run.project_url), answer_format)


def test_zip_with_a_member_outside_the_bundle_is_refused(to_review: ReviewRequest, tmp_path: Path) -> None:
    run = push(to_review, tmp_path)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.write(Path(run.project_url) / ANSWER_FILES["coco"], ANSWER_FILES["coco"])
        archive.writestr("../escaped.txt", "x")
    with pytest.raises(BundleError, match="outside the bundle"):
        read_answers(run, evil)
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_yolo_label_link_outside_the_bundle_is_refused(to_review: ReviewRequest, tmp_path: Path) -> None:
    run = push(to_review, tmp_path, "yolo")
    secret = tmp_path / "secret.txt"
    secret.write_text("0 0.5 0.5 0.1 0.1\n")
    label = next((Path(run.project_url) / yolo.LABELS_DIR).glob("*.txt"))
    label.unlink()
    label.symlink_to(secret)
    with pytest.raises(BundleError, match="link"):
        read_answers(run, Path(run.project_url))


def test_answers_returned_in_a_copy_elsewhere(to_review: ReviewRequest, tmp_path: Path) -> None:
    run = push(to_review, tmp_path / "bundles", "cvat")
    accept_all(run, to_review)
    copy = tmp_path / "returned"
    shutil.copytree(run.project_url, copy)
    assert len(read_answers(run, copy).frames) == len(run.frames)
    assert len(read_answers(run, copy / ANSWER_FILES["cvat"]).frames) == len(run.frames)


def test_the_settings_name_every_backend_and_answer_format_the_engine_has() -> None:
    """The CLI offers the names from settings (cheap to import); they must be exactly the implemented ones."""
    from data_engine.annotation import BACKENDS
    from data_engine.annotation.bundle import ANSWER_FILES
    from data_engine.settings import ANNOTATION_BACKENDS, BUNDLE_ANSWER_FORMATS

    assert set(BACKENDS) == set(ANNOTATION_BACKENDS)
    assert set(ANSWER_FILES) == set(BUNDLE_ANSWER_FORMATS)
