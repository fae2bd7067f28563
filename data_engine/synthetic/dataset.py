"""YOLO-format training sets cut from proving-ground videos, for training tiny test models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2

from data_engine.formats.yolo import to_text
from data_engine.synthetic.generator import SyntheticVideo
from data_engine.video.frames import iter_frames

MIN_LABEL_VISIBILITY = 0.4


def build_yolo_dataset(
    out_dir: str | Path,
    train: Sequence[SyntheticVideo],
    val: Sequence[SyntheticVideo],
    every: int = 1,
    min_visibility: float = MIN_LABEL_VISIBILITY,
) -> Path:
    """Write decoded frames (every `every`-th) as JPEGs with YOLO labels and return the `data.yaml` path.

    Frames come from the encoded videos (compression artefacts included), labels from the truth: objects at
    least `min_visibility` visible."""
    out_dir = Path(out_dir)
    names: dict[int, str] = {}
    for split, videos in (("train", train), ("val", val)):
        image_dir, label_dir = out_dir / "images" / split, out_dir / "labels" / split
        image_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        for video in videos:
            truth = video.truth()
            names = truth.names
            for frame in iter_frames(video.video_path):
                if frame.index % every:
                    continue
                stem = f"{video.video_path.stem}_{frame.index:06d}"
                cv2.imwrite(str(image_dir / f"{stem}.jpg"), frame.image)
                boxes = truth.boxes_at(frame.index, min_visibility=min_visibility)
                (label_dir / f"{stem}.txt").write_text(to_text(boxes, truth.width, truth.height))
    names_yaml = "\n".join(f"  {class_id}: {name}" for class_id, name in sorted(names.items()))
    data_yaml = out_dir / "data.yaml"
    data_yaml.write_text(f"path: {out_dir.resolve()}\ntrain: images/train\nval: images/val\nnames:\n{names_yaml}\n")
    return data_yaml
