"""Watching the inbox: settling, de-duplication by content and batch planning."""

import hashlib
import os
import shutil
import time
from pathlib import Path

from data_engine.catalog import Catalog
from data_engine.inbox import plan_batches, scan_inbox
from data_engine.stages.ingest import look_at_inbox
from data_engine.store import content_hash


def _write(path: Path, data: bytes, age_s: float = 60.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    stamp = time.time() - age_s
    os.utime(path, (stamp, stamp))
    return path


def _look(catalog: Catalog, inbox: Path, previous=None, max_videos: int = 50):
    return look_at_inbox(
        catalog, scan_inbox(str(inbox)), previous or {}, settle_seconds=2.0, batch_max_videos=max_videos
    )


def test_scan_finds_video_files_recursively_and_skips_hidden_and_other_files(tmp_path: Path) -> None:
    _write(tmp_path / "cam 1" / "vidéo ü.MP4", b"a")
    _write(tmp_path / "b.avi", b"b")
    _write(tmp_path / ".partial.mp4", b"c")
    _write(tmp_path / "notes.txt", b"d")
    names = [Path(entry.uri).name for entry in scan_inbox(str(tmp_path))]
    assert names == ["b.avi", "vidéo ü.MP4"]
    assert scan_inbox(str(tmp_path / "missing")) == []


def test_a_file_still_being_written_waits_until_its_size_is_stable(sqlite_catalog: Catalog, tmp_path: Path) -> None:
    growing = _write(tmp_path / "growing.mp4", b"x" * 10, age_s=0)
    first = _look(sqlite_catalog, tmp_path)
    assert first.batches == [] and str(growing) in first.unsettled

    with growing.open("ab") as handle:
        handle.write(b"more")
    second = _look(sqlite_catalog, tmp_path, previous=first.unsettled)
    assert second.batches == [], "size changed since the last look: still being written"

    third = _look(sqlite_catalog, tmp_path, previous=second.unsettled)
    assert [item[0] for item in third.batches[0].items] == [str(growing)]
    assert third.unsettled == {}


def test_the_same_content_under_two_names_is_batched_once(sqlite_catalog: Catalog, tmp_path: Path) -> None:
    _write(tmp_path / "a.mp4", b"same bytes")
    _write(tmp_path / "copy of a.mp4", b"same bytes")
    _write(tmp_path / "b.mp4", b"other bytes")
    look = _look(sqlite_catalog, tmp_path)
    (batch,) = look.batches
    assert len({digest for _, digest, _ in batch.items}) == 2
    assert len(batch.items) == 3
    sqlite_catalog.create_batch(batch.key, "test", batch.items)

    _write(tmp_path / "later copy.mp4", b"same bytes")
    later = _look(sqlite_catalog, tmp_path)
    assert later.batches == []
    assert later.duplicates == [(str(tmp_path / "later copy.mp4"), content_hash(str(tmp_path / "a.mp4")))]
    assert _look(sqlite_catalog, tmp_path).new_files == 0, "files already seen are not hashed again"


def test_batches_are_capped_and_keys_depend_only_on_the_data(sqlite_catalog: Catalog, tmp_path: Path) -> None:
    for index in range(5):
        _write(tmp_path / f"v{index}.mp4", f"video {index}".encode(), age_s=100 - index)
    look = _look(sqlite_catalog, tmp_path, max_videos=2)
    assert [len(batch.items) for batch in look.batches] == [2, 2, 1]
    entries = scan_inbox(str(tmp_path))
    files = [(entry, content_hash(entry.uri)) for entry in entries]
    assert [b.key for b in plan_batches(files, 2)] == [b.key for b in plan_batches(list(reversed(files)), 2)]
    assert [b.key for b in plan_batches(files, 2)] == [b.key for b in look.batches]


def test_content_hash_is_sha256_of_the_bytes_whatever_the_name(sample_videos: Path, tmp_path: Path) -> None:
    copy = shutil.copy(sample_videos / "dancer_518x496.avi", tmp_path / "same content.avi")
    expected = hashlib.sha256((sample_videos / "dancer_518x496.avi").read_bytes()).hexdigest()
    assert content_hash(str(sample_videos / "dancer_518x496.avi")) == content_hash(str(copy)) == expected


def test_one_bad_inbox_entry_is_reported_and_skipped_and_the_rest_is_ingested(tmp_path: Path) -> None:
    """A dangling symlink and a file the user cannot read (no root file capabilities) are one line each."""
    import subprocess
    import sys

    from tests.videos import make_test_video

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    good = make_test_video(inbox / "good.mp4", frames=50, gop=25)
    locked = make_test_video(inbox / "locked.mp4", frames=30, gop=10)
    locked.chmod(0o000)
    (inbox / "dangling.mp4").symlink_to(tmp_path / "gone.mp4")
    for path in (good, locked):
        os.utime(path, (time.time() - 60, time.time() - 60))
    environment = {**os.environ, "DATA_ENGINE_HOME": str(tmp_path / "home"), "DATA_ENGINE_COMPUTE": "inprocess"}
    command = [sys.executable, "-m", "data_engine"]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all", *command]

    for args in (["ingest", str(inbox)], ["run", str(inbox)]):
        result = subprocess.run([*command, *args], env=environment, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        output = result.stdout + result.stderr
        assert f"skipped {inbox / 'dangling.mp4'}: dangling symbolic link (to {tmp_path / 'gone.mp4'})" in output
        assert f"skipped {locked}: cannot read it: [Errno 13] Permission denied" in output
        assert output.count("skipped ") == 2, output

    catalog = Catalog(f"sqlite:///{tmp_path / 'home' / 'catalog.db'}")
    assert [(Path(video.source_uri).name, video.status) for video in catalog.videos()] == [("good.mp4", "clipped")]
    catalog.dispose()

    locked.chmod(0o644)
    fixed = subprocess.run([*command, "ingest", str(inbox)], env=environment, capture_output=True, text=True)
    assert fixed.returncode == 0 and "1 videos clipped" in fixed.stdout, fixed.stdout + fixed.stderr
