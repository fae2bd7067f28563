"""YOLO (Ultralytics layout): `images/<name>.jpg` beside `labels/<name>.txt`, one line `class cx cy w h [conf]`
per box normalised to [0, 1], class names by index in `data.yaml` (written with PyYAML) and `classes.txt` (what
Label Studio's YOLO export writes, in its own, alphabetical, order: indices are mapped by name). Splits are image
lists (`train.txt`, `val.txt`), which Ultralytics reads as they are."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from data_engine.detections import Detections
from data_engine.formats import Box, BoxProblem, FormatError, ImageDetections, LabelledImage, LoadedLabels

IMAGES_DIR = "images"
LABELS_DIR = "labels"
CLASSES_FILE = "classes.txt"
DATA_FILE = "data.yaml"
TRAIN_LIST = "train.txt"
VAL_LIST = "val.txt"


def to_text(detections: Detections, width: int, height: int, with_confidence: bool = False) -> str:
    """Label lines of one image, boxes clipped to it (plus the confidence when asked, as Ultralytics' save_conf
    does). The class id is written as is: give detections whose class ids are YOLO indices."""
    if not len(detections):
        return ""
    xyxy = np.clip(detections.xyxy, 0, [width, height, width, height])
    centre_x = (xyxy[:, 0] + xyxy[:, 2]) / 2 / width
    centre_y = (xyxy[:, 1] + xyxy[:, 3]) / 2 / height
    box_w = (xyxy[:, 2] - xyxy[:, 0]) / width
    box_h = (xyxy[:, 3] - xyxy[:, 1]) / height
    lines = []
    for row in range(len(detections)):
        values = [centre_x[row], centre_y[row], box_w[row], box_h[row]]
        if with_confidence:
            values.append(detections.confidence[row])
        lines.append(" ".join([str(int(detections.class_id[row]))] + [f"{value:.6f}" for value in values]))
    return "\n".join(lines) + "\n"


def from_text(
    text: str, width: int, height: int, names: Sequence[str], image: str = ""
) -> tuple[list[Box], list[BoxProblem]]:
    """Boxes of one label file; `names[index]` names the class of index `index`. A malformed line is refused on
    its own with its line number."""
    boxes: list[Box] = []
    problems: list[BoxProblem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) not in (5, 6):
                raise ValueError(f"{len(fields)} fields, expected 'class cx cy w h [conf]'")
            index = int(fields[0])
            cx, cy, w, h = (float(v) for v in fields[1:5])
            score = float(fields[5]) if len(fields) == 6 else 1.0
        except ValueError as error:
            problems.append(BoxProblem(image, f"line {number}: {error}"))
            continue
        label = names[index] if 0 <= index < len(names) else f"class index {index}"
        xyxy = ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)
        boxes.append(Box(label, xyxy, score))
    return boxes, problems


def data_yaml(names: Mapping[int, str], train: str, val: str | None = None) -> str:
    """An Ultralytics dataset file whose paths are relative to its own folder; without `val` there is no
    validation split (Ultralytics then needs one added before it trains)."""
    document: dict[str, Any] = {"train": train}
    if val is not None:
        document["val"] = val
    document["names"] = dict(enumerate(name for _, name in sorted(names.items())))
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def save(images: Sequence[ImageDetections], names: Mapping[int, str], folder: Path, val: Collection[str] = ()) -> Path:
    """`labels/<stem>.txt` for every image, `classes.txt`, image lists `train.txt` and `val.txt` (the images whose
    reference is in `val`; no val list when it is empty) and `data.yaml` over them. Image references are relative
    to `folder` (`images/<name>.jpg`); the images themselves are the caller's."""
    position = {class_id: index for index, class_id in enumerate(sorted(names))}
    (folder / LABELS_DIR).mkdir(parents=True, exist_ok=True)
    (folder / CLASSES_FILE).write_text("".join(f"{name}\n" for _, name in sorted(names.items())), encoding="utf-8")
    lists: dict[str, list[str]] = {TRAIN_LIST: [], VAL_LIST: []}
    for entry in images:
        boxes = entry.detections
        by_index = Detections(boxes.xyxy, boxes.confidence, [position[int(c)] for c in boxes.class_id])
        target = folder / LABELS_DIR / f"{Path(entry.image).stem}.txt"
        target.write_text(to_text(by_index, entry.width, entry.height), encoding="utf-8")
        lists[VAL_LIST if entry.image in val else TRAIN_LIST].append(f"./{entry.image}\n")
    for name, lines in lists.items():
        if lines:
            (folder / name).write_text("".join(lines), encoding="utf-8")
    validation = VAL_LIST if lists[VAL_LIST] else None
    (folder / DATA_FILE).write_text(data_yaml(names, TRAIN_LIST, validation), encoding="utf-8")
    return folder / DATA_FILE


def class_names(folder: Path) -> list[str]:
    """Class names by YOLO index: `classes.txt` when present, else the `names` of `data.yaml`."""
    classes = folder / CLASSES_FILE
    if classes.is_file():
        return [line.strip() for line in classes.read_text(encoding="utf-8").splitlines() if line.strip()]
    try:
        document = yaml.safe_load((folder / DATA_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise FormatError(f"{DATA_FILE} in {folder.name} is not readable YAML ({error})") from None
    names = document.get("names") if isinstance(document, dict) else None
    if isinstance(names, dict):
        try:
            return [str(names[key]) for key in sorted(names, key=int)]
        except (TypeError, ValueError):
            raise FormatError(f"{DATA_FILE} in {folder.name}: class indices must be integers") from None
    if isinstance(names, list) and names:
        return [str(name) for name in names]
    raise FormatError(f"{DATA_FILE} in {folder.name} lists no class names")


def load(folder: Path, sizes: Mapping[str, tuple[int, int]]) -> LoadedLabels:
    """Every label file of `labels/` (not its subfolders) whose stem is in `sizes` (image stem -> width, height):
    YOLO coordinates are relative, so only images of known size can be read. A link among the label files is
    refused (it could point anywhere)."""
    names = class_names(folder)
    labels = folder / LABELS_DIR
    if not labels.is_dir():
        raise FormatError(f"{folder.name} has no {LABELS_DIR}/ folder")
    images: list[LabelledImage] = []
    problems: list[BoxProblem] = []
    for label_file in sorted(labels.glob("*.txt")):
        if label_file.is_symlink():
            raise FormatError(f"refused: {label_file.name} is a link, possibly to a path outside the bundle")
        reference = f"{LABELS_DIR}/{label_file.name}"
        size = sizes.get(label_file.stem)
        if size is None:
            problems.append(BoxProblem(reference, f"image {label_file.stem!r} is not part of this bundle"))
            continue
        boxes, refused = from_text(label_file.read_text(encoding="utf-8"), size[0], size[1], names, reference)
        problems.extend(refused)
        images.append(LabelledImage(reference, size[0], size[1], tuple(boxes), refused=len(refused)))
    return LoadedLabels(tuple(images), tuple(problems))
