"""CVAT for images 1.1 (XML): `<image name width height>` with `<box label xtl ytl xbr ybr>` in pixels (a
pre-annotation's score as its `score` attribute). An image is marked answered by a `reviewed` tag (`<tag
label="reviewed"/>`): the label is declared in the file's label list, so CVAT keeps it through its import and
export, and an annotator adds it to each image they finished."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping, Sequence
from pathlib import Path

from data_engine.formats import Box, BoxProblem, FormatError, ImageDetections, LabelledImage, LoadedLabels, number

REVIEWED_TAG = "reviewed"


def save(images: Sequence[ImageDetections], names: Mapping[int, str], path: Path, task_name: str) -> Path:
    root = ElementTree.Element("annotations")
    ElementTree.SubElement(root, "version").text = "1.1"
    task = ElementTree.SubElement(ElementTree.SubElement(root, "meta"), "task")
    ElementTree.SubElement(task, "name").text = task_name
    ElementTree.SubElement(task, "size").text = str(len(images))
    ElementTree.SubElement(task, "mode").text = "annotation"
    labels = ElementTree.SubElement(task, "labels")
    for name, kind in [(name, "rectangle") for _, name in sorted(names.items())] + [(REVIEWED_TAG, "tag")]:
        label = ElementTree.SubElement(labels, "label")
        ElementTree.SubElement(label, "name").text = name
        ElementTree.SubElement(label, "type").text = kind
        ElementTree.SubElement(label, "attributes")
    for image_id, entry in enumerate(images):
        element = ElementTree.SubElement(
            root, "image", id=str(image_id), name=entry.image, width=str(entry.width), height=str(entry.height)
        )
        boxes = entry.detections
        for row in range(len(boxes)):
            x1, y1, x2, y2 = (f"{float(v):.2f}" for v in boxes.xyxy[row])
            box = ElementTree.SubElement(
                element,
                "box",
                label=names[int(boxes.class_id[row])],
                source="auto",
                occluded="0",
                xtl=x1,
                ytl=y1,
                xbr=x2,
                ybr=y2,
                z_order="0",
            )
            ElementTree.SubElement(box, "attribute", name="score").text = f"{float(boxes.confidence[row]):.4f}"
        if entry.reviewed:
            ElementTree.SubElement(element, "tag", label=REVIEWED_TAG, source="manual")
    ElementTree.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path


def load(path: Path) -> LoadedLabels:
    """Images with their boxes and reviewed tags; a box with a coordinate or score that is not a number is
    refused on its own."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise FormatError(f"{path.name} is malformed or truncated XML ({error}); export it again") from None
    if root.tag != "annotations":
        raise FormatError(f"{path.name} is not a CVAT for images 1.1 file (root <{root.tag}>)")
    images: list[LabelledImage] = []
    problems: list[BoxProblem] = []
    for image in root.iter("image"):
        reference = image.get("name", "")
        boxes: list[Box] = []
        for box in image.iter("box"):
            label = box.get("label", "")
            score = next((a.text or "1" for a in box.iter("attribute") if a.get("name") == "score"), "1")
            try:
                x1, y1, x2, y2 = (number(box.get(name), name) for name in ("xtl", "ytl", "xbr", "ybr"))
                boxes.append(Box(label, (x1, y1, x2, y2), number(score, "score")))
            except ValueError as error:
                problems.append(BoxProblem(reference, f"malformed box: {error}", label))
        reviewed = any(tag.get("label") == REVIEWED_TAG for tag in image.iter("tag"))
        width, height = _size(image.get("width")), _size(image.get("height"))
        refused = sum(1 for problem in problems if problem.image == reference)
        images.append(LabelledImage(reference, width, height, tuple(boxes), reviewed, refused=refused))
    return LoadedLabels(tuple(images), tuple(problems))


def _size(value: str | None) -> int:
    try:
        return int(float(value or 0))
    except ValueError:
        return 0
