"""Frames of a real sample video, small (320 px wide), with hand-made autolabels as pre-annotations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_engine.annotation import FrameToReview, ReviewRequest
from data_engine.detections import Detections, Provenance, provenance_array
from data_engine.video.frames import iter_frames

NAMES = {0: "person", 1: "car"}
CLIP_IDS = ("5ab0c3e1f2d49a07-00000", "5ab0c3e1f2d49a07-00001")  # pseudonymous, as the catalog makes them
FRAMES_PER_CLIP = 4
FRAME_STEP = 10


@pytest.fixture(scope="session")
def sample_images(sample_videos: Path) -> list[np.ndarray]:
    """Eight decoded frames of the crowd video at 320x180 (every 10th frame)."""
    wanted = FRAMES_PER_CLIP * len(CLIP_IDS)
    images = []
    for frame in iter_frames(sample_videos / "crowd_overhead_720p.avi", width=320):
        if frame.index % FRAME_STEP == 0:
            images.append(frame.image)
        if len(images) == wanted:
            break
    return images


def autolabels(seed: int, width: int, height: int) -> Detections:
    """Two or three plausible boxes with scores, as an autolabeller would give."""
    rng = np.random.default_rng(seed)
    count = 2 + seed % 2
    x1 = rng.uniform(0, width * 0.6, count)
    y1 = rng.uniform(0, height * 0.6, count)
    w = rng.uniform(20, width * 0.3, count)
    h = rng.uniform(20, height * 0.3, count)
    return Detections(
        xyxy=np.column_stack([x1, y1, x1 + w, y1 + h]),
        confidence=rng.uniform(0.3, 0.95, count),
        class_id=np.arange(count) % 2,
        provenance=provenance_array(count, Provenance("fused", ("tiny-a", "tiny-b"), 2)),
        names=NAMES,
    )


def make_request(images: list[np.ndarray], name: str, cold_start: bool = False) -> ReviewRequest:
    """Two clips of four frames each; clip 0 selected by the 'flicker' trigger, clip 1 by 'cut'."""
    frames = []
    for position, image in enumerate(images):
        clip = position // FRAMES_PER_CLIP
        height, width = image.shape[:2]
        frames.append(
            FrameToReview(
                clip_id=CLIP_IDS[clip],
                frame=(position % FRAMES_PER_CLIP) * FRAME_STEP,
                width=width,
                height=height,
                image=image,
                pre_annotations=None if cold_start else autolabels(position, width, height),
                reasons=("flicker",) if clip == 0 else ("cut",),
                time_s=(position % FRAMES_PER_CLIP) * FRAME_STEP / 25.0,
            )
        )
    return ReviewRequest(tuple(frames), NAMES, name=name, model_version="hindsight-test")


@pytest.fixture
def to_review(sample_images: list[np.ndarray], request: pytest.FixtureRequest) -> ReviewRequest:
    return make_request(sample_images, f"test-{request.node.name[:40]}")
