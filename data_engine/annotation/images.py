"""Task images: each frame to review as a file named by its clip, frame and time, written once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2

from data_engine.annotation.base import AnnotationError, FrameToReview
from data_engine.store import temporary_path

JPEG_QUALITY = 90


def materialise_image(selected: FrameToReview, directory: Path) -> Path:
    """The frame's image as `directory/<image_name>`: encoded from the array, or hard-linked (copied across
    file systems) from its file. An existing file is kept, so re-pushing writes nothing."""
    target = directory / selected.image_name
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(target)
    try:
        if selected.image is not None:
            ok, encoded = cv2.imencode(".jpg", selected.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise AnnotationError(f"frame {selected.frame} of clip {selected.clip_id}: JPEG encoding failed")
            temporary.write_bytes(encoded.tobytes())
        elif selected.image_path is not None:
            source = Path(selected.image_path)
            if not source.is_file():
                raise AnnotationError(f"frame {selected.frame} of clip {selected.clip_id}: image {source} not found")
            try:
                os.link(source, temporary)
            except OSError:
                shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target
