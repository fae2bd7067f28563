"""Ingest end to end on real files: sample videos, every named bad input, and a SIGKILL in the middle."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data_engine.catalog import Catalog
from data_engine.checks import frame_conservation_problems, orphan_files
from data_engine.settings import Settings
from data_engine.stages.ingest import BatchReport, ingest as ingest_stage
from data_engine.store import Store
from data_engine.video.clipper import frame_digests
from tests.videos import make_audio_file, make_test_video


def ingest(catalog: Catalog, store: Store, paths: list[Path], clip_seconds: float = 10.0) -> list[BatchReport]:
    settings = Settings(clip_seconds=clip_seconds, settle_seconds=2.0)
    return ingest_stage(catalog, store, settings, [str(p) for p in paths], watch_inbox=False, origin="test").batches


def _age(path: Path, seconds: float = 60.0) -> Path:
    os.utime(path, (time.time() - seconds, time.time() - seconds))
    return path


def test_sample_videos_are_probed_from_the_stream_and_clipped_frame_exactly(
    catalog: Catalog, store: Store, sample_videos: Path
) -> None:
    (report,) = ingest(catalog, store, [sample_videos])
    assert report.summary()["quarantined"] == 0
    videos = {Path(v.source_uri).name: v for v in catalog.videos()}
    crowd, dancer = videos["crowd_overhead_720p.avi"], videos["dancer_518x496.avi"]
    assert (crowd.frames, crowd.fps, crowd.status) == (341, 25.0, "clipped")
    assert (crowd.header_fps, crowd.header_frames) == (50.0, 682), "the lying header is recorded, not believed"
    assert (dancer.frames, dancer.fps, dancer.status) == (1571, 25.0, "clipped")
    assert frame_conservation_problems(catalog) == []
    assert orphan_files(catalog, store) == []

    for video in (crowd, dancer):
        clips = catalog.clips(video_id=video.id)
        assert all(clip.method == "copy" for clip in clips), "both samples stream-copy"
        assert all(clip.status == "extracted" for clip in clips)
        concatenated = [d for clip in clips for d in frame_digests(store.local_path(clip.path))]
        assert concatenated == frame_digests(video.source_uri), "no frame lost or doubled"
        document = json.loads(store.local_path(clips[0].path).with_name("clip.json").read_text())
        assert (document["clip_id"], document["first_frame"]) == (clips[0].id, 0)
    assert len(catalog.clips(video_id=dancer.id)) >= 6


def test_bad_inputs_are_quarantined_with_reasons_and_the_rest_is_processed(
    catalog: Catalog, store: Store, sample_videos: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "empty.mp4").write_bytes(b"")
    (inbox / "notes.mp4").write_text("this is a text file, not a video\n")
    make_audio_file(inbox / "voice memo.mp4", seconds=1.0)
    good = make_test_video(inbox / "caméra 1 – entrée ü.mp4", frames=75, gop=25)
    (inbox / "same content, other name.mp4").write_bytes(good.read_bytes())
    crowd = (sample_videos / "crowd_overhead_720p.avi").read_bytes()
    (inbox / "truncated crowd.avi").write_bytes(crowd[: int(len(crowd) * 0.6)])
    (inbox / "lying header.avi").write_bytes(crowd)
    for path in inbox.iterdir():
        _age(path)
    still_copying = make_test_video(inbox / "still copying.mp4", frames=25)
    before = sorted((p.name, p.stat().st_size) for p in inbox.iterdir())

    reports = ingest(catalog, store, [inbox])

    assert sorted((p.name, p.stat().st_size) for p in inbox.iterdir()) == before, "nothing deleted or changed"
    by_name = {Path(source).name: video for video in catalog.videos() for source in catalog.video_sources(video.id)}
    assert "still copying.mp4" not in by_name, "a file still being written waits for a later look"
    reasons = {name: (video.status, video.error) for name, video in by_name.items()}
    assert reasons["empty.mp4"] == ("quarantined", "empty file (0 bytes)")
    assert reasons["notes.mp4"][0] == "quarantined" and "not a media file" in reasons["notes.mp4"][1]
    assert reasons["voice memo.mp4"][0] == "quarantined" and "no video stream" in reasons["voice memo.mp4"][1]

    assert by_name["caméra 1 – entrée ü.mp4"].id == by_name["same content, other name.mp4"].id
    assert by_name["caméra 1 – entrée ü.mp4"].status == "clipped"
    assert by_name["caméra 1 – entrée ü.mp4"].frames == 75

    truncated = by_name["truncated crowd.avi"]
    assert truncated.status == "clipped" and truncated.truncated and 0 < truncated.frames < 341
    assert truncated.error.startswith(f"truncated: kept the first {truncated.frames} decodable frames")
    lying = by_name["lying header.avi"]
    assert (lying.status, lying.frames, lying.fps, lying.header_frames) == ("clipped", 341, 25.0, 682)

    assert sum(r.summary()["quarantined"] for r in reports) == 3
    assert sum(r.summary()["clipped"] for r in reports) == 3
    assert frame_conservation_problems(catalog) == [] and orphan_files(catalog, store) == []

    _age(still_copying)
    ingest(catalog, store, [inbox])
    later = {Path(s).name: v for v in catalog.videos() for s in catalog.video_sources(v.id)}
    assert later["still copying.mp4"].status == "clipped", "once settled it is ingested"
    assert len(catalog.videos()) == 7


def _clip_rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT id, first_frame, last_frame, path, method FROM clips ORDER BY id").fetchall()


def _cli(home: Path, *args: str) -> subprocess.Popen:
    environment = {**os.environ, "DATA_ENGINE_HOME": str(home), "DATA_ENGINE_CLIP_SECONDS": "0.5"}
    return subprocess.Popen(
        [sys.executable, "-m", "data_engine", *args], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


@pytest.mark.slow
def test_sigkill_during_extraction_then_rerun_converges_without_duplicates_or_orphans(tmp_path: Path) -> None:
    video = _age(make_test_video(tmp_path / "long.mp4", frames=2500, gop=12))
    reference_home, crashed_home = tmp_path / "reference", tmp_path / "crashed"
    assert _cli(reference_home, "ingest", str(video)).wait(timeout=300) == 0
    reference = _clip_rows(reference_home / "catalog.db")
    assert len(reference) > 100

    process = _cli(crashed_home, "ingest", str(video))
    database = crashed_home / "catalog.db"
    recorded = 0
    deadline = time.monotonic() + 120
    while recorded < 20 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
        try:
            with sqlite3.connect(database, timeout=0.1) as connection:
                recorded = connection.execute("SELECT count(*) FROM clips").fetchone()[0]
        except sqlite3.OperationalError:
            continue
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert 20 <= len(_clip_rows(database)) < len(reference), "killed in the middle of extraction"

    assert _cli(crashed_home, "ingest", str(video)).wait(timeout=300) == 0
    assert _clip_rows(database) == [(cid, first, last, path, method) for cid, first, last, path, method in reference], (
        "same clips as an uninterrupted run"
    )
    catalog, store = Catalog(f"sqlite:///{database}"), Store(str(crashed_home / "store"))
    assert orphan_files(catalog, store) == []
    assert frame_conservation_problems(catalog) == []
    assert all(len(catalog.history(row[0])) == 1 for row in reference), "one creation event per clip"
    catalog.dispose()


def test_orphan_check_finds_unrecorded_clip_files_and_leftover_temporaries(
    catalog: Catalog, store: Store, tmp_path: Path
) -> None:
    video = _age(make_test_video(tmp_path / "v.mp4", frames=50, gop=25))
    ingest(catalog, store, [video], clip_seconds=1.0)
    assert orphan_files(catalog, store) == []
    (clip,) = catalog.clips()[:1]
    stray = store.local_path(f"clips/{clip.video_id}/00099/clip.mkv")
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"x")
    leftover = store.local_path(clip.path).with_name(".clip.mkv.tmp-123")
    leftover.write_bytes(b"x")
    assert orphan_files(catalog, store) == sorted(
        [f"clips/{clip.video_id}/00000/.clip.mkv.tmp-123", f"clips/{clip.video_id}/00099/clip.mkv"]
    )


def test_ingest_reports_each_step_with_absolute_counts(sqlite_catalog: Catalog, store: Store, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    videos = [_age(make_test_video(tmp_path / "in" / f"{name}.mp4", frames=30 + n)) for n, name in enumerate("ab")]
    seen: list[tuple[str, int, int]] = []
    report = ingest_stage(
        sqlite_catalog,
        store,
        Settings(clip_seconds=10.0),
        [str(tmp_path / "in")],
        watch_inbox=False,
        progress=lambda step, done, total: seen.append((step, done, total)),
    )
    (batch,) = report.new_batches
    steps = list(dict.fromkeys(step for step, _, _ in seen))
    assert steps == ["hashing", f"probe {batch}", f"clip {batch}"]
    for step in steps:
        counts = [(done, total) for name, done, total in seen if name == step]
        assert counts == [(0, len(videos)), (1, len(videos)), (2, len(videos))], step
    assert report.pending == [] and [b.batch_key for b in report.batches] == [batch]
