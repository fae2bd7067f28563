"""Probing decodes the real stream: true counts and rates, lying headers ignored, bad files rejected with a reason."""

from fractions import Fraction
from pathlib import Path

import pytest

from data_engine.video.probe import VideoError, probe_video
from tests.videos import make_audio_file, make_test_video


def test_crowd_sample_header_lies_about_rate_and_count(sample_videos: Path) -> None:
    probe = probe_video(sample_videos / "crowd_overhead_720p.avi")
    assert (probe.container, probe.codec, probe.width, probe.height) == ("avi", "h264", 1280, 720)
    assert (probe.frames, probe.fps, probe.duration_s) == (341, 25.0, pytest.approx(13.64))
    assert (probe.header_frames, probe.header_fps) == (682, 50.0)
    assert probe.has_audio and not probe.truncated and probe.decode_error is None
    assert probe.keyframes == (0, 128, 256)
    assert probe.cut_frames == (0, 128, 256)


def test_dancer_sample_last_frame_never_decodes(sample_videos: Path) -> None:
    probe = probe_video(sample_videos / "dancer_518x496.avi")
    assert (probe.codec, probe.width, probe.height) == ("mpeg4", 518, 496)
    assert (probe.frames, probe.fps, probe.header_frames) == (1571, 25.0, 1572)
    # Its timestamps skip 0.04 s (no packet there: a dropped frame), so its 1571 frames end at 62.88 s, not 62.84.
    assert probe.duration_s == pytest.approx(62.88)
    assert probe.cut_times[:2] == (0.0, pytest.approx(0.52)), "frame 12 is shown at 13 / 25 s"
    assert probe.keyframes[:4] == (0, 12, 24, 36) and len(probe.keyframes) == 131
    assert not probe.truncated


def test_generated_h264_with_b_frames(generated: dict[str, Path]) -> None:
    probe = probe_video(generated["h264_bframes"])
    assert (probe.frames, probe.fps, probe.codec, probe.has_audio) == (100, 25.0, "h264", True)
    assert probe.keyframes == probe.cut_frames == (0, 25, 50, 75)
    assert probe.packet_end == 100


@pytest.mark.parametrize("name", ["h264_open_gop", "mpeg4_bframes_avi"])
def test_open_gop_keyframes_are_not_cut_points(generated: dict[str, Path], name: str) -> None:
    """Leading B-frames after these keyframes need the previous GOP: a copy cut there would lose frames."""
    probe = probe_video(generated[name])
    assert probe.frames == 100
    assert len(probe.keyframes) > 1
    assert probe.cut_frames == (0,)


def test_ntsc_rate_from_millisecond_timestamps(tmp_path: Path) -> None:
    probe = probe_video(make_test_video(tmp_path / "ntsc.mkv", frames=60, fps=Fraction(30000, 1001)))
    assert probe.fps == 29.97
    assert probe.header_frames is None


def test_file_name_with_spaces_and_non_ascii(tmp_path: Path) -> None:
    probe = probe_video(make_test_video(tmp_path / "caméra 1 ü.mp4", frames=30))
    assert probe.frames == 30


@pytest.mark.parametrize("sample", ["dancer_518x496.avi", "crowd_overhead_720p.avi"])
def test_truncated_sample_keeps_its_decodable_part(sample_videos: Path, tmp_path: Path, sample: str) -> None:
    data = (sample_videos / sample).read_bytes()
    cut = tmp_path / sample
    cut.write_bytes(data[: len(data) * 6 // 10])
    probe = probe_video(cut)
    full = probe_video(sample_videos / sample)
    assert probe.truncated and "truncated" in probe.decode_error
    assert full.frames * 0.5 < probe.frames < full.frames * 0.7
    assert probe.packet_end == probe.frames


def test_truncated_mp4_with_index_first(generated: dict[str, Path], tmp_path: Path) -> None:
    data = generated["h264_bframes"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    probe = probe_video(cut)
    assert probe.truncated and 0 < probe.frames < 100


def test_truncated_mp4_with_index_last_is_rejected(tmp_path: Path) -> None:
    data = make_test_video(tmp_path / "full.mp4", frames=50, faststart=False).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    with pytest.raises(VideoError, match=r"not a media file.*index"):
        probe_video(cut)


def test_zero_byte_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(VideoError, match=r"empty file \(0 bytes\)"):
        probe_video(empty)


def test_text_file_named_mp4(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(VideoError, match="not a media file"):
        probe_video(text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="file not found"):
        probe_video(tmp_path / "nowhere.mp4")


@pytest.mark.parametrize(("name", "codec"), [("tone.m4a", "aac"), ("tone.mka", "flac"), ("tone.mp3", "mp3")])
def test_audio_only_file(tmp_path: Path, name: str, codec: str) -> None:
    with pytest.raises(VideoError, match=r"not a video: no video stream \(audio only\)"):
        probe_video(make_audio_file(tmp_path / name, codec=codec))


def test_video_stream_without_decodable_frames(generated: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(generated["h264"].read_bytes())
    payload = data.find(b"mdat") + 4
    data[payload:] = bytes(len(data) - payload)
    zeroed = tmp_path / "zeroed.mp4"
    zeroed.write_bytes(data)
    with pytest.raises(VideoError, match="no decodable frames"):
        probe_video(zeroed)
