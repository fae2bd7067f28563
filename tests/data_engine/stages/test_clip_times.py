"""Clip times come from the frames' presentation timestamps: 30 fps stays 30 (a 60 s video ends at 60 s, not
60.06), 24 stays 24, and a variable-rate video is cut by time and records its rate range."""

import json
import os
import time
from fractions import Fraction
from pathlib import Path

import av
import pytest

from tests.cli import run_cli
from tests.videos import make_test_video


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATA_ENGINE_CATALOG_URL", raising=False)
    monkeypatch.delenv("DATA_ENGINE_CLIP_SECONDS", raising=False)
    return run_cli


def _aged(path: Path) -> Path:
    os.utime(path, (time.time() - 60, time.time() - 60))
    return path


def _variable_rate_video(path: Path) -> Path:
    """10 s at 10 fps, then 10 s at 50 fps (H.264, a keyframe every 10 frames)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(
            "libx264", rate=50, options={"x264-params": "keyint=10:min-keyint=10:scenecut=0:bframes=0"}
        )
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        ticks = [5 * index for index in range(100)] + [500 + index for index in range(500)]
        for index, tick in enumerate(ticks):
            frame = av.VideoFrame.from_ndarray(_gray(index), format="gray")
            frame.pts, frame.time_base = tick, Fraction(1, 50)
            container.mux(stream.encode(frame.reformat(format="yuv420p")))
        container.mux(stream.encode(None))
    return _aged(path)


def _gray(index: int):
    import numpy as np

    image = np.zeros((48, 64), dtype=np.uint8)
    image[:, index % 64] = 255
    image[0, 0] = index % 256
    return image


@pytest.mark.parametrize(("fps", "seconds"), [(30, 60), (24, 60)])
def test_an_integer_rate_is_kept_exact_and_the_last_clip_ends_with_the_video(
    engine, tmp_path: Path, fps: int, seconds: int
) -> None:
    video = _aged(make_test_video(tmp_path / f"{fps}fps.mp4", frames=fps * seconds, size=(64, 48), fps=fps, gop=fps))
    engine("ingest", str(video))
    clips = json.loads(engine("clips", "--json"))
    assert clips[-1]["end_s"] == seconds
    assert [(clip["start_s"], clip["end_s"]) for clip in clips] == [(10.0 * k, 10.0 * (k + 1)) for k in range(6)]
    (listed,) = json.loads(engine("videos", "--json"))
    assert (listed["fps"], listed["duration_s"]) == (fps, seconds), "not snapped to NTSC"
    assert (listed["fps_min"], listed["fps_max"]) == (fps, fps)


def test_a_variable_rate_video_is_cut_by_time_and_records_its_rate_range(engine, tmp_path: Path) -> None:
    video = _variable_rate_video(tmp_path / "vfr.mp4")
    engine("ingest", str(video))
    clips = json.loads(engine("clips", "--json"))
    spans = [(clip["first_video_frame"], clip["last_video_frame"], clip["start_s"], clip["end_s"]) for clip in clips]
    assert spans == [(0, 99, 0.0, 10.0), (100, 599, 10.0, pytest.approx(20.0))], "clip 0 covers 0-10 s, as labelled"
    (listed,) = json.loads(engine("videos", "--json"))
    assert listed["duration_s"] == pytest.approx(20.0)
    assert (listed["fps_min"], listed["fps_max"], listed["frames"]) == (10.0, 50.0, 600)
