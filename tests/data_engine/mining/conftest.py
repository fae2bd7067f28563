"""Fixtures of the mining tests: a small H.264 clip with known injected events, encoded once per session."""

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.data_engine.mining.clips import encode

WIDTH, HEIGHT = 192, 128


@dataclass(frozen=True)
class EventClip:
    """A clip of slowly panning texture with a lighting flicker, a freeze, a cut and a corrupted frame."""

    path: Path
    frame_count: int
    flicker: tuple[int, int]
    frozen: tuple[int, int]
    cut: int
    glitch: int


def _texture(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    blurred = cv2.GaussianBlur(noise, (0, 0), 4)
    return cv2.normalize(blurred, None, 40, 200, cv2.NORM_MINMAX)


@pytest.fixture(scope="session")
def event_clip(tmp_path_factory: pytest.TempPathFactory) -> EventClip:
    rng = np.random.default_rng(7)
    first_scene, second_scene = _texture(rng, WIDTH + 200, HEIGHT), _texture(rng, WIDTH + 200, HEIGHT)
    clip = EventClip(
        path=tmp_path_factory.mktemp("mining") / "events.mp4",
        frame_count=150,
        flicker=(30, 33),
        frozen=(60, 79),
        cut=100,
        glitch=125,
    )
    frames = []
    for index in range(clip.frame_count):
        scene = first_scene if index < clip.cut else second_scene
        offset = min(index, clip.frozen[0]) if index <= clip.frozen[1] else index - (clip.frozen[1] - clip.frozen[0])
        image = scene[:, offset : offset + WIDTH].copy()
        if clip.flicker[0] <= index <= clip.flicker[1]:
            image = cv2.add(image, np.full_like(image, 45))
        if index == clip.glitch:
            image = rng.integers(0, 256, image.shape, dtype=np.uint8)
        frames.append(image)
    encode(clip.path, frames)
    return clip
