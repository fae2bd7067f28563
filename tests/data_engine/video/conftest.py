"""Generated videos shared by the video tests (written once per session)."""

from pathlib import Path

import pytest

from tests.videos import make_test_video


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small real videos covering the codec/GOP structures the clipper must handle, 100 frames at 25 fps each."""
    folder = tmp_path_factory.mktemp("videos")
    return {
        "h264": make_test_video(folder / "h264.mp4", frames=100, gop=25),
        "h264_bframes": make_test_video(folder / "h264_bframes.mp4", frames=100, gop=25, bframes=3, audio=True),
        "h264_open_gop": make_test_video(folder / "h264_open_gop.mp4", frames=100, gop=25, bframes=3, open_gop=True),
        "mpeg4_avi": make_test_video(folder / "mpeg4.avi", frames=100, codec="mpeg4", gop=12, audio=True),
        "mpeg4_bframes_avi": make_test_video(folder / "mpeg4_b.avi", frames=100, codec="mpeg4", gop=12, bframes=2),
    }
