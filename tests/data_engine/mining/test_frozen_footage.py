"""`frozen` on real footage through the real mining path (`data-engine ingest` then `mine`, cold start): the two
sample videos are live everywhere and get no `frozen` hit; a freeze of 25 duplicated frames injected into real
footage (re-encoded with H.264, frames 100-124 all equal to frame 100) is found where it is. The listings say
which frame numbers are the clip's and which the video's."""

import json
from fractions import Fraction
from pathlib import Path

import av
import pytest

from data_engine.video.frames import iter_frames
from tests.cli import run_cli

FREEZE = (100, 124)


def inject_freeze(source: Path, target: Path, first: int, last: int, frames: int = 250) -> Path:
    """Re-encode the first `frames` frames of `source` (H.264, 25 fps) with frames first..last all equal to
    frame `first`: a stuck camera in the middle of real footage."""
    images = [frame.image for frame, _ in zip(iter_frames(source), range(frames), strict=False)]
    height, width = (size - size % 2 for size in images[0].shape[:2])
    with av.open(str(target), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        for index, image in enumerate(images):
            shown = images[first] if first <= index <= last else image
            frame = av.VideoFrame.from_ndarray(shown[:height, :width].copy(), format="bgr24")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return target


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    for name in ("DATA_ENGINE_CATALOG_URL", "DATA_ENGINE_DETECTORS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    monkeypatch.setenv("DATA_ENGINE_SETTLE_SECONDS", "0")
    return run_cli


def test_no_frozen_hit_on_the_live_sample_videos(cli, sample_videos: Path) -> None:
    cli("ingest", str(sample_videos))
    mined = cli("mine")
    assert "clips featured" in mined and "failed" not in mined
    hits = json.loads(cli("triggers", "--json"))
    assert [hit for hit in hits if hit["trigger"] == "frozen"] == []
    clips = {clip["id"]: clip for clip in json.loads(cli("clips", "--json"))}
    selected = json.loads(cli("selection", "--json"))
    assert selected, "a cold start still samples frames for annotation"
    for frame in selected:
        assert frame["video_frame"] == clips[frame["clip_id"]]["first_video_frame"] + frame["clip_frame"]


def test_an_injected_freeze_in_real_footage_is_found(cli, sample_videos: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox-frozen"
    inbox.mkdir()
    inject_freeze(sample_videos / "dancer_518x496.avi", inbox / "dancer_stuck.mp4", *FREEZE)
    cli("ingest", str(inbox))
    cli("mine")
    (frozen,) = [hit for hit in json.loads(cli("triggers", "--json")) if hit["trigger"] == "frozen"]
    assert (frozen["first_video_frame"], frozen["last_video_frame"]) == FREEZE
    (clip,) = [clip for clip in json.loads(cli("clips", "--json")) if clip["id"] == frozen["clip_id"]]
    assert frozen["first_clip_frame"] == FREEZE[0] - clip["first_video_frame"]
    text = cli("triggers")
    assert f"(video {FREEZE[0]}-{FREEZE[1]})" in text and "clip frames" in text
