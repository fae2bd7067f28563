"""Exported task bundles: round trips in all four formats, pseudonymous ids, validation reports, and refusing
malformed files and paths outside the bundle."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from data_engine.annotation import (
    AnnotationRun,
    BundleError,
    ImportReport,
    Selection,
    export_bundle,
    import_annotations,
    review_metrics,
)
from data_engine.annotation.bundle import COCO_FILE, CVAT_FILE, LABELSTUDIO_FILE, YOLO_CLASSES_FILE, YOLO_LABELS_DIR
from data_engine.detections import Detections

FORMAT_FILES = {"labelstudio": LABELSTUDIO_FILE, "coco": COCO_FILE, "cvat": CVAT_FILE, "yolo": YOLO_CLASSES_FILE}


@pytest.fixture
def bundle(selection: Selection, tmp_path: Path) -> tuple[AnnotationRun, Path]:
    run = export_bundle(selection, tmp_path / "bundles", make_zip=True)
    return run, Path(run.project_url)


def accept_predictions(tasks_file: Path) -> None:
    """What an annotator does in Label Studio who accepts every pre-annotation: predictions become annotations."""
    tasks = json.loads(tasks_file.read_text())
    for task in tasks:
        task["annotations"] = [
            {
                "id": 1,
                "result": task["predictions"][0]["result"],
                "completed_by": {"email": "anna@example.org"},
                "lead_time": 7.5,
                "created_at": "2026-01-02T10:00:00Z",
                "updated_at": "2026-01-02T10:00:07Z",
            }
        ]
    tasks_file.write_text(json.dumps(tasks))


def assert_boxes_equal_within_a_pixel(first: Detections, second: Detections) -> None:
    order_a = np.lexsort((first.xyxy[:, 0], first.class_id))
    order_b = np.lexsort((second.xyxy[:, 0], second.class_id))
    np.testing.assert_array_equal(first.class_id[order_a], second.class_id[order_b])
    np.testing.assert_allclose(first.xyxy[order_a], second.xyxy[order_b], atol=1.0)


@pytest.mark.parametrize("file_format", sorted(FORMAT_FILES))
def test_round_trip_in_each_format(bundle: tuple[AnnotationRun, Path], selection: Selection, file_format: str) -> None:
    run, root = bundle
    if file_format == "labelstudio":
        accept_predictions(root / LABELSTUDIO_FILE)

    report = import_annotations(root / FORMAT_FILES[file_format], run)

    (file_report,) = report.files
    assert report.ok and file_report.format == file_format and not file_report.rejected
    assert file_report.frames == len(selection.frames)
    imported = {(f.clip_id, f.frame): f for f in report.frames}
    for selected in selection.frames:
        reviewed = imported[(selected.clip_id, selected.frame)]
        assert_boxes_equal_within_a_pixel(reviewed.detections, selected.pre_annotations)
        assert_boxes_equal_within_a_pixel(reviewed.pre_annotations, selected.pre_annotations)
        assert reviewed.reasons == selected.reasons
    if file_format == "labelstudio":
        assert {f.annotator for f in report.frames} == {"anna@example.org"}
        assert review_metrics(report.frames).per_annotator_day[0].mean_lead_time_s == 7.5
    json.dumps(report.to_json())


def test_zip_bundle_imports_every_format_it_holds(bundle: tuple[AnnotationRun, Path], selection: Selection) -> None:
    run, root = bundle
    report = import_annotations(root.with_suffix(".zip"), run)

    assert report.ok
    assert sorted(r.format for r in report.files) == ["coco", "cvat", "labelstudio", "yolo"]
    assert sum(r.frames for r in report.files) == 3 * len(selection.frames)  # the Label Studio tasks are unreviewed
    assert len(report.frames) == len(selection.frames)


def test_bundle_carries_pseudonymous_ids_only(bundle: tuple[AnnotationRun, Path], selection: Selection) -> None:
    run, root = bundle
    files = [path for path in root.rglob("*") if path.is_file()]
    keys = {selected.key for selected in selection.frames}
    assert {path.stem for path in (root / "images").iterdir()} == keys
    for path in files:
        assert "crowd" not in path.name
        if path.suffix in (".json", ".xml", ".txt", ".yaml"):
            text = path.read_text()
            assert "crowd_overhead" not in text and "/work" not in text and str(root) not in text, path.name
    with zipfile.ZipFile(root.with_suffix(".zip")) as archive:
        assert all("crowd" not in name for name in archive.namelist())
    assert "crowd_overhead_720p/0000" in run.dumps()  # the map back to our ids stays in the engine's run record


def test_invalid_boxes_are_reported_and_the_rest_imported(bundle: tuple[AnnotationRun, Path]) -> None:
    run, root = bundle
    coco = json.loads((root / COCO_FILE).read_text())
    first_image = coco["images"][0]
    coco["categories"].append({"id": 7, "name": "bicycle"})
    coco["annotations"] += [
        {"id": 900, "image_id": first_image["id"], "category_id": 7, "bbox": [5, 5, 20, 20]},
        {"id": 901, "image_id": first_image["id"], "category_id": 0, "bbox": [300, 150, 80, 60]},
        {"id": 902, "image_id": 99, "category_id": 0, "bbox": [1, 1, 2, 2]},
    ]
    (root / COCO_FILE).write_text(json.dumps(coco))

    report = import_annotations(root / COCO_FILE, run)

    (file_report,) = report.files
    reasons = [r.reason for r in file_report.rejected]
    assert len(reasons) == 3
    assert any("unknown label 'bicycle'" in reason for reason in reasons)
    assert any("outside the 320x180 image" in reason for reason in reasons)
    assert any("unknown image id 99" in reason for reason in reasons)
    assert file_report.boxes == len(coco["annotations"]) - 3


def test_yolo_classes_in_label_studio_order_map_by_name(
    bundle: tuple[AnnotationRun, Path], selection: Selection
) -> None:
    """Label Studio's YOLO export orders classes alphabetically: the indices follow classes.txt, not ours."""
    run, root = bundle
    (root / YOLO_CLASSES_FILE).write_text("car\nperson\n")
    for label_file in (root / YOLO_LABELS_DIR).glob("*.txt"):
        lines = [line.split() for line in label_file.read_text().splitlines() if line.strip()]
        label_file.write_text("".join(" ".join([str(1 - int(f[0])), *f[1:]]) + "\n" for f in lines))
    (label_file := root / YOLO_LABELS_DIR / f"{selection.frames[0].key}.txt").write_text(
        label_file.read_text() + "0 0.5 0.5\n"
    )

    report = import_annotations(root / YOLO_CLASSES_FILE, run)

    imported = {(f.clip_id, f.frame): f for f in report.frames}
    for selected in selection.frames:
        assert_boxes_equal_within_a_pixel(
            imported[(selected.clip_id, selected.frame)].detections, selected.pre_annotations
        )
    (rejection,) = report.files[0].rejected
    assert "line" in rejection.reason and "3 fields" in rejection.reason


@pytest.mark.parametrize("file_name", [COCO_FILE, CVAT_FILE, LABELSTUDIO_FILE])
def test_truncated_file_is_a_clear_error_for_that_file(
    bundle: tuple[AnnotationRun, Path], selection: Selection, file_name: str
) -> None:
    run, root = bundle
    text = (root / file_name).read_text()
    (root / file_name).write_text(text[: len(text) // 2])

    report = import_annotations(root, run)

    broken = next(r for r in report.files if Path(r.path).name == file_name)
    assert broken.error and "malformed or truncated" in broken.error and broken.frames == 0
    others = [r for r in report.files if r is not broken]
    assert others and all(r.error is None for r in others)
    assert len(report.frames) == len(selection.frames)
    assert not report.ok


def test_not_a_bundle_file_is_a_clear_error(bundle: tuple[AnnotationRun, Path], tmp_path: Path) -> None:
    run, _ = bundle
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(BundleError, match="unknown annotation file type"):
        import_annotations(notes, run)
    with pytest.raises(BundleError, match="does not exist"):
        import_annotations(tmp_path / "missing.json", run)
    broken_zip = tmp_path / "broken.zip"
    broken_zip.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(BundleError, match="not a readable zip"):
        import_annotations(broken_zip, run)


def refer_outside(root: Path, file_name: str) -> None:
    outside = "../../../etc/passwd"
    if file_name == COCO_FILE:
        coco = json.loads((root / COCO_FILE).read_text())
        coco["images"][1]["file_name"] = outside
        (root / COCO_FILE).write_text(json.dumps(coco))
    elif file_name == CVAT_FILE:
        text = (root / CVAT_FILE).read_text()
        first = text.index('name="images/')
        end = text.index('"', first + 6)
        (root / CVAT_FILE).write_text(text[:first] + 'name="/etc/passwd' + text[end:])
    else:
        tasks = json.loads((root / LABELSTUDIO_FILE).read_text())
        tasks[0]["data"]["image"] = outside
        (root / LABELSTUDIO_FILE).write_text(json.dumps(tasks))


@pytest.mark.parametrize("file_name", [COCO_FILE, CVAT_FILE, LABELSTUDIO_FILE])
def test_file_referring_outside_the_bundle_is_refused(bundle: tuple[AnnotationRun, Path], file_name: str) -> None:
    run, root = bundle
    refer_outside(root, file_name)

    report = import_annotations(root / file_name, run)

    (file_report,) = report.files
    assert file_report.error and "outside the bundle" in file_report.error
    assert file_report.frames == 0 and not report.frames


def test_zip_with_a_member_outside_the_bundle_is_refused(bundle: tuple[AnnotationRun, Path], tmp_path: Path) -> None:
    run, root = bundle
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.write(root / COCO_FILE, COCO_FILE)
        archive.writestr("../escaped.txt", "x")
    with pytest.raises(BundleError, match="outside the bundle"):
        import_annotations(evil, run)
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_yolo_label_link_outside_the_bundle_is_refused(bundle: tuple[AnnotationRun, Path], tmp_path: Path) -> None:
    run, root = bundle
    secret = tmp_path / "secret.txt"
    secret.write_text("0 0.5 0.5 0.1 0.1\n")
    label = next((root / YOLO_LABELS_DIR).glob("*.txt"))
    label.unlink()
    label.symlink_to(secret)

    report = import_annotations(root / YOLO_CLASSES_FILE, run)

    assert "outside the bundle" in (report.files[0].error or "")


def test_import_of_a_bundle_copy_in_another_folder(bundle: tuple[AnnotationRun, Path], tmp_path: Path) -> None:
    """Annotators send the folder back from elsewhere: only paths inside the copy count."""
    run, root = bundle
    copy = tmp_path / "returned"
    shutil.copytree(root, copy)
    report = import_annotations(copy / COCO_FILE, run)
    assert report.ok and report.files[0].frames == len(run.frames)


def test_import_report_is_json(bundle: tuple[AnnotationRun, Path]) -> None:
    run, root = bundle
    report = import_annotations(root, run)
    assert isinstance(report, ImportReport)
    assert json.loads(json.dumps(report.to_json()))["frames"] == len(run.frames)
