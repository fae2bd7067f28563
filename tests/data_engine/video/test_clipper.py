"""Clips tile the video and, decoded one after another, give back exactly the video's frames."""

import itertools
import math
from pathlib import Path

import pytest

from data_engine.video.clipper import (
    ClipSpan,
    ExtractedClip,
    Verify,
    extract_clip,
    extract_clips,
    frame_digests,
    plan_clips,
)
from data_engine.video.probe import VideoProbe, probe_video
from tests.videos import make_test_video

SAMPLES = ["crowd_overhead_720p.avi", "dancer_518x496.avi"]


@pytest.fixture(scope="session")
def sample_probes(sample_videos: Path) -> dict[str, VideoProbe]:
    return {name: probe_video(sample_videos / name) for name in SAMPLES}


@pytest.fixture(scope="session")
def sample_digests(sample_videos: Path) -> dict[str, list[str]]:
    return {name: frame_digests(sample_videos / name) for name in SAMPLES}


def extract_all(src: Path, probe: VideoProbe, folder: Path, clip_seconds: float = 10.0) -> list[ExtractedClip]:
    spans = plan_clips(probe, clip_seconds)
    return extract_clips(src, probe, spans, lambda span: folder / f"{span.ordinal:05d}" / "clip.mkv")


def concatenated_digests(clips: list[ExtractedClip]) -> list[str]:
    return [digest for clip in clips for digest in frame_digests(clip.path)]


def assert_tiles(spans: list[ClipSpan], frames: int) -> None:
    assert [span.ordinal for span in spans] == list(range(len(spans)))
    assert spans[0].first_frame == 0 and spans[-1].last_frame == frames - 1
    for earlier, later in itertools.pairwise(spans):
        assert later.first_frame == earlier.last_frame + 1
        assert later.start_s == pytest.approx(earlier.end_s)


def test_plan_crowd_cuts_at_the_keyframe_after_ten_seconds(sample_probes: dict[str, VideoProbe]) -> None:
    spans = plan_clips(sample_probes["crowd_overhead_720p.avi"])
    assert [(span.first_frame, span.last_frame) for span in spans] == [(0, 255), (256, 340)]
    assert (spans[1].start_s, spans[1].end_s) == (pytest.approx(10.24), pytest.approx(13.64))


@pytest.mark.parametrize("clip_seconds", [0.3, 1.0, 2.5, 10.0, 1000.0])
def test_plan_tiles_every_frame(sample_probes: dict[str, VideoProbe], clip_seconds: float) -> None:
    for probe in sample_probes.values():
        spans = plan_clips(probe, clip_seconds)
        assert_tiles(spans, probe.frames)
        assert all(span.first_frame in probe.cut_frames for span in spans)
        for span in spans[1:]:
            previous_cut = max(cut for cut in probe.cut_frames if cut < span.first_frame)
            multiple = math.floor(span.start_s / clip_seconds + 1e-9) * clip_seconds
            assert previous_cut / probe.fps < multiple <= span.start_s + 1e-9, (
                "not the first cut point after a multiple"
            )


def test_plan_dancer_clips_are_about_ten_seconds(sample_probes: dict[str, VideoProbe]) -> None:
    spans = plan_clips(sample_probes["dancer_518x496.avi"])
    assert [span.first_frame for span in spans] == [0, 252, 504, 756, 1008, 1260, 1500]
    assert all(9.5 <= span.end_s - span.start_s < 10.5 for span in spans[:-1])


def test_plan_rejects_non_positive_length(sample_probes: dict[str, VideoProbe]) -> None:
    with pytest.raises(ValueError, match="clip_seconds must be positive"):
        plan_clips(sample_probes["crowd_overhead_720p.avi"], 0)


@pytest.mark.parametrize("sample", SAMPLES)
def test_sample_clips_are_frame_exact_stream_copies(
    sample_videos: Path,
    sample_probes: dict[str, VideoProbe],
    sample_digests: dict[str, list[str]],
    tmp_path: Path,
    sample: str,
) -> None:
    probe = sample_probes[sample]
    clips = extract_all(sample_videos / sample, probe, tmp_path, clip_seconds=5.0)
    assert {clip.method for clip in clips} == {"copy"}
    assert concatenated_digests(clips) == sample_digests[sample]
    assert sum(clip.frames for clip in clips) == probe.frames
    assert all(clip.size_bytes == clip.path.stat().st_size > 0 for clip in clips)


@pytest.mark.parametrize("verify", ["packets", "auto"])
@pytest.mark.parametrize("name", ["h264", "h264_bframes", "h264_open_gop", "mpeg4_avi", "mpeg4_bframes_avi"])
def test_generated_clips_are_frame_exact(generated: dict[str, Path], tmp_path: Path, name: str, verify: Verify) -> None:
    probe = probe_video(generated[name])
    spans = plan_clips(probe, 1.0)
    clips = extract_clips(generated[name], probe, spans, lambda span: tmp_path / f"{span.ordinal}.mkv", verify=verify)
    assert {clip.method for clip in clips} == {"copy"}
    assert concatenated_digests(clips) == frame_digests(generated[name])


def test_truncated_sample_clips_hold_its_decodable_part(sample_videos: Path, tmp_path: Path) -> None:
    data = (sample_videos / "crowd_overhead_720p.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) * 6 // 10])
    probe = probe_video(cut)
    clips = extract_all(cut, probe, tmp_path / "clips", clip_seconds=4.0)
    digests = concatenated_digests(clips)
    assert len(digests) == probe.frames
    assert digests == frame_digests(cut)


def test_span_not_at_a_cut_point_is_reencoded_losslessly(generated: dict[str, Path], tmp_path: Path) -> None:
    """The open-GOP keyframe at 50 cannot start a copy; FFV1 keeps the frames bit-identical."""
    src = generated["h264_open_gop"]
    probe = probe_video(src)
    spans = [ClipSpan(0, 0, 49, 0.0, 2.0), ClipSpan(1, 50, 99, 2.0, 4.0)]
    clips = extract_clips(src, probe, spans, lambda span: tmp_path / f"{span.ordinal}.mkv")
    assert [clip.method for clip in clips] == ["reencode", "reencode"]
    assert [clip.frames for clip in clips] == [50, 50]
    assert concatenated_digests(clips) == frame_digests(src)


def test_forced_reencode_of_one_clip(generated: dict[str, Path], tmp_path: Path) -> None:
    src = generated["h264_bframes"]
    probe = probe_video(src)
    span = plan_clips(probe, 1.0)[2]
    clip = extract_clip(src, span, tmp_path / "clip.mkv", probe, force_reencode=True)
    assert clip.method == "reencode"
    assert frame_digests(clip.path) == frame_digests(src)[span.first_frame : span.last_frame + 1]


def test_full_verification_and_single_clip(
    sample_videos: Path, sample_probes: dict[str, VideoProbe], tmp_path: Path
) -> None:
    src = sample_videos / "crowd_overhead_720p.avi"
    probe = sample_probes["crowd_overhead_720p.avi"]
    span = plan_clips(probe, 5.0)[1]
    clip = extract_clip(src, span, tmp_path / "one clip ü.mkv", probe, verify="full")
    assert (clip.method, clip.frames, clip.span) == ("copy", 128, span)
    assert len(frame_digests(clip.path)) == 128


def test_clips_appear_atomically_and_are_reported_in_place(generated: dict[str, Path], tmp_path: Path) -> None:
    src = generated["h264_bframes"]
    probe = probe_video(src)
    reported: list[ExtractedClip] = []

    def on_clip(clip: ExtractedClip) -> None:
        assert clip.path.is_file()
        assert not list(clip.path.parent.glob(f".{clip.path.name}.tmp-*"))
        reported.append(clip)

    clips = extract_clips(
        src, probe, plan_clips(probe, 1.0), lambda span: tmp_path / f"{span.ordinal}.mkv", on_clip=on_clip
    )
    assert reported == clips and len(clips) == 4
    assert sorted(path.name for path in tmp_path.iterdir()) == ["0.mkv", "1.mkv", "2.mkv", "3.mkv"]


def test_rerun_keeps_finished_clips_and_redoes_damaged_ones(generated: dict[str, Path], tmp_path: Path) -> None:
    src = generated["mpeg4_avi"]
    probe = probe_video(src)
    spans = plan_clips(probe, 1.0)
    first = extract_clips(src, probe, spans, lambda span: tmp_path / f"{span.ordinal}.mkv")
    stamps = {clip.path: clip.path.stat().st_mtime_ns for clip in first}
    damaged = first[1].path
    damaged.write_bytes(damaged.read_bytes()[:500])
    reported: list[ExtractedClip] = []
    second = extract_clips(src, probe, spans, lambda span: tmp_path / f"{span.ordinal}.mkv", on_clip=reported.append)
    assert second == first == sorted(reported, key=lambda clip: clip.span.ordinal)
    assert all(clip.path.stat().st_mtime_ns == stamps[clip.path] for clip in second if clip.path != damaged)
    assert concatenated_digests(second) == frame_digests(src)


def test_names_with_spaces_and_non_ascii(tmp_path: Path) -> None:
    src = make_test_video(tmp_path / "caméra 1 ü.mp4", frames=60, gop=20)
    probe = probe_video(src)
    clips = extract_all(src, probe, tmp_path / "sortie vidéo", clip_seconds=0.8)
    assert len(clips) == 3
    assert concatenated_digests(clips) == frame_digests(src)
