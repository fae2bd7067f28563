"""Cut a probed video into clips at keyframes, frame-exactly: stream copy into Matroska, lossless re-encode fallback.

Frame exactness: decoding all clips of a video one after another gives exactly the video's decodable frames, none
lost or doubled. Clips start only at the probe's `cut_frames` (keyframes with no open-GOP leading pictures), so a
stream copy of the packets between two cut points decodes to the same frames. Audio is dropped: clips feed vision
models, and the sample AVIs' timestamps are too wrong to keep audio in sync anyway.

Files appear atomically: each clip is written to a hidden temporary name of its own in its folder (the store's
convention, `store.temporary_path`), fsynced, checked, then renamed, so a clip file that exists is complete and
two processes cutting the same clip never touch each other's half-written file.

Clip times come from the frames' presentation timestamps (`VideoProbe.cut_times`), so a clip of a variable-rate
video covers the seconds it says it covers.
"""

import contextlib
import errno
import hashlib
import math
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av

from data_engine.store import temporary_path
from data_engine.video.frames import DecodeOutcome, decode_video, video_packets
from data_engine.video.probe import VideoError, VideoProbe, first_video_stream

Method = Literal["copy", "reencode"]
Verify = Literal["packets", "auto", "full"]

FINISHERS = 2
"""Threads checking and publishing written clips while the next ones are copied: opening a clip (FFmpeg decodes
its first picture to learn the stream) and decoding its head take ~40 ms a 1080p clip, several times its copy, and
FFmpeg's decoding releases the GIL, so two overlap on two cores."""
REENCODE_CODEC = "ffv1"
"""Lossless, so a re-encoded clip decodes to the same pixels as the source."""


@dataclass(frozen=True)
class ClipSpan:
    """Frames `first_frame`..`last_frame` (inclusive, presentation order) of a video, and their time range."""

    ordinal: int
    first_frame: int
    last_frame: int
    start_s: float
    end_s: float

    @property
    def frames(self) -> int:
        return self.last_frame - self.first_frame + 1


@dataclass(frozen=True)
class ExtractedClip:
    """A clip file on disk: how it was made and how many frames it decodes to."""

    span: ClipSpan
    path: Path
    method: Method
    size_bytes: int
    frames: int


def plan_clips(probe: VideoProbe, clip_seconds: float = 10.0) -> list[ClipSpan]:
    """Split the video at the first cut point shown at or after each multiple of `clip_seconds`.

    Clips are about `clip_seconds` long; longer where cut points are sparse (a multiple with no cut point before
    the next one is skipped). The spans tile frames 0..probe.frames-1 exactly; their times are the presentation
    times of their first frame and of the end of their last (a probe stored before times were kept falls back
    to frame / fps).
    """
    if not (clip_seconds > 0 and math.isfinite(clip_seconds)):
        raise ValueError(f"clip_seconds must be positive, got {clip_seconds}")
    if len(probe.cut_times) == len(probe.cut_frames):
        cut_times = dict(zip(probe.cut_frames, probe.cut_times, strict=True))
    else:
        cut_times = {cut: cut / probe.fps for cut in probe.cut_frames}
    starts = [0]
    next_multiple = 1
    for cut in probe.cut_frames[1:]:
        if cut_times[cut] >= next_multiple * clip_seconds - 1e-6:
            starts.append(cut)
            next_multiple = math.floor(cut_times[cut] / clip_seconds + 1e-6) + 1
    ends = [start - 1 for start in starts[1:]] + [probe.frames - 1]
    end_times = [cut_times[start] for start in starts[1:]] + [probe.duration_s]
    return [
        ClipSpan(ordinal, first, last, cut_times[first], end)
        for ordinal, (first, last, end) in enumerate(zip(starts, ends, end_times, strict=True))
    ]


def extract_clip(
    src: str | Path,
    span: ClipSpan,
    dest: Path,
    probe: VideoProbe,
    *,
    verify: Verify = "auto",
    force_reencode: bool = False,
) -> ExtractedClip:
    """Write one clip to `dest` (a .mkv path), by stream copy when the span starts and ends at cut points.

    See `extract_clips` for the verification policy; `force_reencode` skips the copy (lossless FFV1 instead).
    """
    if force_reencode:
        return _reencode(src, span, Path(dest), probe)
    return extract_clips(src, probe, [span], lambda _: Path(dest), verify=verify)[0]


def extract_clips(
    src: str | Path,
    probe: VideoProbe,
    spans: Sequence[ClipSpan],
    dest_for: Callable[[ClipSpan], Path],
    *,
    verify: Verify = "auto",
    on_clip: Callable[[ExtractedClip], None] | None = None,
) -> list[ExtractedClip]:
    """Write the clips for `spans` (e.g. `plan_clips(probe)`, or the ones still missing) reading `src` once.

    Each clip goes to `dest_for(span)` (a .mkv path; folders are created); `on_clip` is called as soon as its
    file is in place, so the caller can record it right away. A span whose file already exists and holds the
    expected number of packets is not rewritten (its clip is still reported): re-running is cheap and safe.

    Checking and publishing written clips runs on `FINISHERS` worker threads while the next ones are copied
    (decoding and fsync release the GIL); `on_clip` is always called from the calling thread, in order.

    Verification: the probe already proved that no frame crosses a cut point. After writing, "packets" demuxes the
    clip to check that every packet landed; "auto" (default) also decodes until its first frame comes out, which
    must be the cut keyframe (the decoder starts cleanly at the cut; a few frames per clip); "full" decodes the
    whole clip and counts its frames (as slow as decoding the video). A clip that fails, or whose span does
    not start and end at cut points, or that Matroska cannot hold, is re-encoded losslessly (method "reencode").
    """
    jobs = sorted((_plan_job(probe, span, Path(dest_for(span))) for span in spans), key=lambda job: job.packet_start)
    done: dict[int, ExtractedClip] = {}
    copy_jobs = []
    for job in jobs:
        existing = _existing_clip(job)
        if existing is not None:
            done[job.span.ordinal] = _report(existing, on_clip)
        elif job.copyable:
            copy_jobs.append(job)
    finishing: deque[tuple[_Job, Future[ExtractedClip | None]]] = deque()

    def report_finished(wait: bool) -> None:
        while finishing and (wait or finishing[0][1].done()):
            job, copied = finishing.popleft()
            done[job.span.ordinal] = _report(copied.result() or _reencode(src, job.span, job.dest, probe), on_clip)

    with ThreadPoolExecutor(max_workers=FINISHERS) as finisher:
        for job, packets_written in _copy_all(src, copy_jobs, probe.rotation):
            finishing.append((job, finisher.submit(_finish_copy, job, packets_written, verify)))
            report_finished(wait=False)
        report_finished(wait=True)
    for job in jobs:
        if job.span.ordinal not in done:
            done[job.span.ordinal] = _report(_reencode(src, job.span, job.dest, probe), on_clip)
    return [done[span.ordinal] for span in spans]


def frame_digests(path: str | Path) -> list[str]:
    """MD5 of each decoded frame's pixels (all planes, without row padding), in presentation order."""
    with av.open(str(path)) as container:
        stream = first_video_stream(container)
        stream.thread_type = "AUTO"
        return [
            hashlib.md5(decoded.frame.to_ndarray().tobytes()).hexdigest() for decoded in decode_video(container, stream)
        ]


@dataclass(frozen=True)
class _Job:
    """One clip to write: its span, destination, the packet range a stream copy takes (if it can), and the
    temporary file this writer fills."""

    span: ClipSpan
    dest: Path
    packet_start: int
    packet_end: int
    temp: Path

    @property
    def copyable(self) -> bool:
        return self.packet_end > self.packet_start


def _plan_job(probe: VideoProbe, span: ClipSpan, dest: Path) -> _Job:
    """The packets of a span when it starts and ends at cut points; an empty range (re-encode) otherwise."""
    if not 0 <= span.first_frame <= span.last_frame < probe.frames:
        raise ValueError(f"clip {span.ordinal} (frames {span.first_frame}-{span.last_frame}) is outside the video")
    cut_packet = dict(zip(probe.cut_frames, probe.cut_packets, strict=True))
    start = cut_packet.get(span.first_frame)
    end = probe.packet_end if span.last_frame == probe.frames - 1 else cut_packet.get(span.last_frame + 1)
    if start is None or end is None:
        return _Job(span, dest, 0, 0, temporary_path(dest))
    return _Job(span, dest, start, end, temporary_path(dest))


def _existing_clip(job: _Job) -> ExtractedClip | None:
    """The clip already at `job.dest` if it opens and has the packets a copy or a re-encode would have written."""
    if not job.dest.is_file():
        return None
    try:
        with av.open(str(job.dest)) as container:
            stream = first_video_stream(container)
            packets = sum(1 for packet in container.demux(stream) if packet.size)
            method: Method = "reencode" if stream.codec_context.name == REENCODE_CODEC else "copy"
    except (av.error.FFmpegError, VideoError):
        return None
    expected = job.span.frames if method == "reencode" else job.packet_end - job.packet_start
    if packets != expected:
        return None
    return ExtractedClip(job.span, job.dest, method, job.dest.stat().st_size, job.span.frames)


def _report(clip: ExtractedClip, on_clip: Callable[[ExtractedClip], None] | None) -> ExtractedClip:
    if on_clip is not None:
        on_clip(clip)
    return clip


def _copy_all(src: str | Path, jobs: list[_Job], rotation: int = 0) -> Iterator[tuple[_Job, int]]:
    """Demux `src` once and stream-copy each job's packet range to its temporary file, yielding each when written.

    Yields (job, packets written); a job whose copy failed (e.g. a codec Matroska cannot hold) yields 0 packets.
    Packets are numbered by `video_packets`, as the probe numbered them. Each clip's display matrix states the
    video's `rotation` (clockwise), whether the source said it by a matrix or a `rotate` tag.
    """
    if not jobs:
        return
    pending = iter(jobs)
    job = next(pending, None)
    writer: _ClipWriter | None = None
    try:
        with av.open(str(src)) as container:
            stream = first_video_stream(container)
            for index, packet in enumerate(video_packets(container, stream)):
                while job is not None and index >= job.packet_end:
                    yield job, writer.close() if writer is not None else 0
                    writer = None
                    job = next(pending, None)
                if job is None:
                    break
                if index < job.packet_start:
                    continue
                if writer is None:
                    writer = _ClipWriter(job.temp, stream, rotation)
                writer.write(packet)
        if job is not None:
            yield job, writer.close() if writer is not None else 0
    except BaseException:
        if writer is not None:
            writer.abandon()
        raise
    for job in pending:
        yield job, 0


class _ClipWriter:
    """Stream-copies packets into a Matroska file, timestamps shifted so the clip starts at zero."""

    def __init__(self, path: Path, template: av.VideoStream, rotation: int = 0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.output = av.open(str(path), "w", format="matroska")
        self.stream = self.output.add_stream_from_template(template)
        if rotation:
            self.stream.set_display_rotation(-rotation)  # PyAV's angle is counter-clockwise
        self.packets = 0
        self.failed = False
        self.shift: int | None = None
        self.last_dts: int | None = None

    def write(self, packet: av.Packet) -> None:
        if self.failed:
            return
        self._fix_timestamps(packet)
        packet.stream = self.stream
        try:
            self.output.mux(packet)
        except av.error.FFmpegError as error:
            if _world_fault(error):
                self.abandon()
                raise
            self.failed = True
            return
        self.packets += 1

    def close(self) -> int:
        """Finish the file; the number of packets written, 0 if muxing failed (the file is then removed).

        A full disk, a read-only or vanished folder is raised (the world's fault, retried later), not taken for
        a stream Matroska cannot hold.
        """
        try:
            self.output.close()
        except av.error.FFmpegError as error:
            if _world_fault(error):
                self.path.unlink(missing_ok=True)
                raise
            self.failed = True
        if self.failed:
            self.path.unlink(missing_ok=True)
            return 0
        return self.packets

    def abandon(self) -> None:
        """Give up on the file (an error elsewhere): close what can be closed and remove it."""
        with contextlib.suppress(av.error.FFmpegError):
            self.output.close()
        self.path.unlink(missing_ok=True)

    def _fix_timestamps(self, packet: av.Packet) -> None:
        """Shift to start at 0; fill in missing or non-increasing decode timestamps, which a muxer refuses."""
        dts = packet.dts if packet.dts is not None else packet.pts
        if dts is None or (self.last_dts is not None and dts <= self.last_dts):
            dts = 0 if self.last_dts is None else self.last_dts + max(1, packet.duration or 1)
        pts = packet.pts if packet.pts is not None and packet.pts >= dts else dts
        if self.shift is None:
            self.shift = dts
        self.last_dts = dts
        packet.dts, packet.pts = dts - self.shift, pts - self.shift


def _finish_copy(job: _Job, packets_written: int, verify: Verify) -> ExtractedClip | None:
    """Check the temporary copy and move it into place; None (temp removed) when it is not frame-exact."""
    expected = job.packet_end - job.packet_start
    if packets_written == expected and _copy_is_exact(job.temp, expected, job.span.frames, verify):
        return _publish(job.temp, job.dest, job.span, "copy")
    job.temp.unlink(missing_ok=True)
    return None


def _copy_is_exact(path: Path, packets: int, frames: int, verify: Verify) -> bool:
    """All packets read back, the first decoded frame is the clip's first packet, and ("full") the frame count."""
    try:
        with av.open(str(path)) as container:
            stream = first_video_stream(container)
            if verify == "full":
                stream.thread_type = "AUTO"
                outcome = DecodeOutcome()
                sources = [decoded.packet_index for decoded in decode_video(container, stream, outcome)]
                return sources[:1] == [0] and len(sources) == frames and outcome.packets == packets
            return _starts_cleanly(container, stream, packets, decode_head=verify == "auto")
    except (av.error.FFmpegError, VideoError):
        return False


def _starts_cleanly(
    container: av.container.InputContainer, stream: av.VideoStream, packets: int, decode_head: bool
) -> bool:
    """All `packets` read back and (`decode_head`) the first frame out of the decoder is the first packet's (the cut
    keyframe): the decoder starts cleanly at the cut. Only the packets up to that first frame are decoded."""
    first_is_keyframe: bool | None = None if decode_head else True
    count = 0
    for packet in video_packets(container, stream):
        if first_is_keyframe is None:
            packet.pts = packet.dts = count
            decoded = stream.decode(packet)
            if decoded:
                first_is_keyframe = decoded[0].pts == 0
        count += 1
    if first_is_keyframe is None:
        flushed = stream.decode(None)
        first_is_keyframe = bool(flushed) and flushed[0].pts == 0
    return first_is_keyframe and count == packets


def _reencode(src: str | Path, span: ClipSpan, dest: Path, probe: VideoProbe) -> ExtractedClip:
    """Decode the span's frames from the source and encode them losslessly (FFV1) so they decode identically."""
    temp = temporary_path(dest)
    temp.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(probe.fps).limit_denominator(1001)
    written = 0
    try:
        with av.open(str(src)) as source, av.open(str(temp), "w", format="matroska") as output:
            stream = first_video_stream(source)
            stream.thread_type = "AUTO"
            encoder = output.add_stream(REENCODE_CODEC, rate=rate)
            assert isinstance(encoder, av.VideoStream)
            encoder.width, encoder.height, encoder.pix_fmt = probe.width, probe.height, probe.pixel_format
            if probe.rotation:
                encoder.set_display_rotation(-probe.rotation)  # PyAV's angle is counter-clockwise
            for index, decoded in enumerate(decode_video(source, stream)):
                if index > span.last_frame:
                    break
                if index >= span.first_frame:
                    frame = decoded.frame
                    frame.pts, frame.time_base = written, 1 / rate
                    output.mux(encoder.encode(frame))
                    written += 1
            output.mux(encoder.encode(None))
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if written != span.frames:
        temp.unlink(missing_ok=True)
        raise VideoError(f"clip {span.ordinal}: only {written} of its {span.frames} frames could be decoded")
    return _publish(temp, dest, span, "reencode")


def _publish(temp: Path, dest: Path, span: ClipSpan, method: Method) -> ExtractedClip:
    """fsync the finished temporary file, rename it to `dest` atomically, and fsync the folder entry."""
    _fsync(temp)
    os.replace(temp, dest)
    _fsync(dest.parent)
    return ExtractedClip(span, dest, method, dest.stat().st_size, span.frames)


_WORLD_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.ENOENT})


def _world_fault(error: Exception) -> bool:
    """A write that failed because of the disk or the folder, not because of the stream."""
    return isinstance(error, OSError) and error.errno in _WORLD_ERRNOS


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
