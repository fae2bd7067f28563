"""A video shown turned (a display matrix, or an old-style `rotate` tag) is probed with its rotation recorded on the
video, and every image the engine writes (annotators' task images, the bundle's, the batch page's, the dataset's)
is upright: the displayed picture's size, with what is shown at its top at the top of the image."""

import json
import os
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from data_engine.catalog import Catalog
from data_engine.cli import main
from data_engine.video.clipper import extract_clip, plan_clips
from data_engine.video.frames import iter_frames
from data_engine.video.probe import probe_video
from tests.answers import answer_every_frame
from tests.conftest import isolated_home

WIDTH, HEIGHT = 320, 240
STRIPE = 24


def _turned_video(
    path: Path, counter_clockwise: float | None = None, rotate_tag: str | None = None, seed: int = 0
) -> Path:
    """H.264, coded WIDTH x HEIGHT, a moving square (so frames differ) and a white stripe along the coded picture's
    right edge; shown turned `counter_clockwise` degrees (FFmpeg's `-display_rotation`) or by a `rotate` tag."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"preset": "veryfast", "x264-params": "keyint=25"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if counter_clockwise is not None:
            stream.set_display_rotation(counter_clockwise)
        if rotate_tag is not None:
            stream.metadata["rotate"] = rotate_tag
        rng = np.random.default_rng(seed)
        for index in range(75):
            if index % 15 == 0:  # a new scene every 15 frames, so every clip has frames worth selecting
                coarse = rng.integers(10, 130, (4, 5, 3), dtype=np.uint8)  # each scene its own look (no near-copies)
                background = cv2.resize(coarse, (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
                speed = int(rng.integers(2, 9))
            image = background.copy()
            x = 20 + (index * speed) % 200
            image[80:140, x : x + 60] = (0, 0, 200)
            image[:, WIDTH - STRIPE :] = 255
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    os.utime(path, (time.time() - 60, time.time() - 60))
    return path


def _assert_upright(image: np.ndarray, what: str) -> None:
    """Shown turned 90 degrees counter-clockwise, the coded picture's right edge (the stripe) is the top."""
    height, width = image.shape[:2]
    assert width < height, f"{what}: {width}x{height} is the coded picture's shape, not the displayed one"
    assert abs(width / height - HEIGHT / WIDTH) < 0.02, f"{what}: {width}x{height}"
    band = max(2, round(STRIPE * height / WIDTH) - 3)
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert gray[:band].mean() > 200, f"{what}: the stripe shown at the top is not at the top of the image"
    assert gray[-band:].mean() < 120 and gray[:, :band].mean() < 200, f"{what}: the stripe is elsewhere too"


@pytest.mark.parametrize(
    ("counter_clockwise", "rotate_tag", "suffix", "rotation"),
    [
        (90, None, ".mp4", 270),
        (-90, None, ".mp4", 90),
        (180, None, ".mp4", 180),
        (None, "90", ".mkv", 90),
        (None, None, ".mp4", 0),
    ],
)
def test_the_probe_records_the_clockwise_turn_of_a_display_matrix_or_a_rotate_tag(
    tmp_path: Path, counter_clockwise: float | None, rotate_tag: str | None, suffix: str, rotation: int
) -> None:
    video = _turned_video(tmp_path / f"v{suffix}", counter_clockwise, rotate_tag)
    probe = probe_video(video)
    assert probe.rotation == rotation
    assert (probe.width, probe.height) == (WIDTH, HEIGHT), "the coded picture's size"


def test_decoded_frames_are_turned_upright(tmp_path: Path) -> None:
    video = _turned_video(tmp_path / "v.mp4", 90)
    first = next(iter_frames(video))
    _assert_upright(first.image, "decoded BGR frame")
    _assert_upright(next(iter_frames(video, pixel_format="gray")).image, "decoded luma plane")


@pytest.fixture
def turned_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return isolated_home(tmp_path, monkeypatch)


def test_run_records_the_rotation_and_writes_every_image_upright(turned_home: Path, tmp_path: Path) -> None:
    home = turned_home
    inbox = tmp_path / "phone"
    inbox.mkdir()
    for seed in range(3):  # a dataset splits by video: three fill train, val and test
        _turned_video(inbox / f"phone-{seed}.mp4", 90, seed=seed)
    result = CliRunner().invoke(main, ["run", str(inbox)], catch_exceptions=False)
    assert result.exit_code == 0, result.output

    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    recorded = catalog.videos()
    assert len(recorded) == 3
    for video in recorded:
        assert video.rotation == 270 and (video.width, video.height) == (WIDTH, HEIGHT)
        probe = json.loads((home / "store" / "videos" / video.id / "probe.json").read_text())
        assert probe["rotation"] == 270
    catalog.dispose()

    run = answer_every_frame(home)
    assert run.frames, "frames were pushed"
    assert {(frame.width, frame.height) for frame in run.frames} == {(HEIGHT, WIDTH)}, "tasks say the shown size"
    bundle_images = sorted((Path(run.project_url) / "images").glob("*.jpg"))
    task_images = sorted((home / "store").rglob("annotation*/**/*.jpg"))
    page_images = [p for p in (home / "store").rglob("reports/batches/*/images/*.jpg")]
    assert bundle_images and task_images and page_images
    for path in [*bundle_images, *task_images, *page_images]:
        image = cv2.imread(str(path))
        assert image is not None, path
        _assert_upright(image, str(path.relative_to(home)))

    imported = CliRunner().invoke(main, ["import-annotations", run.project_url], catch_exceptions=False)
    assert imported.exit_code == 0, imported.output
    built = CliRunner().invoke(main, ["dataset", "build"], catch_exceptions=False)
    assert built.exit_code == 0, (built.output, str(home))
    assert "left out" not in built.output, built.output
    dataset_images = sorted((home / "store").rglob("datasets/**/images/**/*.jpg"))
    assert dataset_images, built.output
    for path in dataset_images:
        image = cv2.imread(str(path))
        assert image is not None, path
        _assert_upright(image, str(path.relative_to(home)))


@pytest.mark.parametrize("force_reencode", [False, True])
@pytest.mark.parametrize(("counter_clockwise", "rotate_tag", "suffix"), [(90, None, ".mp4"), (None, "270", ".mkv")])
def test_every_clip_states_the_videos_rotation_in_its_display_matrix(
    tmp_path: Path, counter_clockwise: float | None, rotate_tag: str | None, suffix: str, force_reencode: bool
) -> None:
    """Copied or re-encoded, from a matrix or a tag: a clip decodes upright, as its video is shown."""
    video = _turned_video(tmp_path / f"v{suffix}", counter_clockwise, rotate_tag)
    probe = probe_video(video)
    assert probe.rotation == 270
    span = plan_clips(probe, clip_seconds=2.0)[0]
    clip = extract_clip(video, span, tmp_path / "clip.mkv", probe, force_reencode=force_reencode)
    assert clip.method == ("reencode" if force_reencode else "copy")
    assert probe_video(clip.path).rotation == 270
    _assert_upright(next(iter_frames(clip.path)).image, f"{clip.method} clip")
