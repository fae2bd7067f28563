"""Watching the inbox: find new, finished video files, de-duplicate them by content and group them into batches.

The inbox is a local folder or an fsspec URL prefix. A file is taken only once its size and modification
time have stopped changing (the previous look saw the same values, or it has not changed for
`settle_seconds`), so a file still being copied in is left for a later look. A bad entry (a dangling symbolic
link, a file that cannot be read) is reported in `InboxLook.skipped` and looked at again next time; it never
stops the rest of the inbox.
"""

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import fsspec

from data_engine.catalog import Catalog
from data_engine.faults import crash_point
from data_engine.store import content_hash

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".wmv", ".flv", ".3gp", ".h264"}
)


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """A file in the inbox; `problem` says why it cannot be taken (it is then reported and skipped)."""

    uri: str
    size: int
    mtime_ns: int
    problem: str | None = None


@dataclass(frozen=True)
class BatchPlan:
    """A new ingest batch: a key derived from its content and the (uri, content hash, size) of its files."""

    key: str
    items: tuple[tuple[str, str, int], ...]


@dataclass
class InboxLook:
    """What one look at the inbox found."""

    batches: list[BatchPlan] = field(default_factory=list)
    unsettled: dict[str, tuple[int, int]] = field(default_factory=dict)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    new_files: int = 0


def scan_inbox(inbox: str) -> list[InboxEntry]:
    """Every video-like file under the inbox (recursively), hidden and temporary names excluded."""
    fs, root = fsspec.core.url_to_fs(inbox)
    if not fs.exists(root):
        return []
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    if protocol in ("file", "local"):
        return _scan_local(root)
    entries = []
    for path, info in fs.find(root, detail=True).items():
        if _is_video_name(path.rsplit("/", 1)[-1]):
            entries.append(InboxEntry(f"{protocol}://{path}", int(info["size"]), _mtime_ns(info)))
    return sorted(entries, key=lambda entry: entry.uri)


def file_entries(paths: Iterable[str]) -> list[InboxEntry]:
    """Entries for explicit files and folders (the CLI's `ingest PATH...`)."""
    entries: dict[str, InboxEntry] = {}
    for path in paths:
        fs, root = fsspec.core.url_to_fs(path)
        if fs.isdir(root):
            entries.update((entry.uri, entry) for entry in scan_inbox(path))
        elif fs.exists(root):
            info = fs.info(root)
            entries[path] = InboxEntry(path, int(info["size"]), _mtime_ns(info))
        elif os.path.islink(path):
            entries[path] = _local_entry(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return sorted(entries.values(), key=lambda entry: entry.uri)


def _scan_local(root: str) -> list[InboxEntry]:
    """A local folder walked entry by entry, so one entry that cannot be looked at does not hide the others."""
    entries = []
    visited: set[str] = set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in visited:  # a symbolic link back up the tree
            subfolders[:] = []
            continue
        visited.add(real)
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        entries += [_local_entry(os.path.join(folder, name)) for name in names if _is_video_name(name)]
    return sorted(entries, key=lambda entry: entry.uri)


def _local_entry(path: str) -> InboxEntry:
    try:
        status = os.stat(path)
    except OSError as error:
        if os.path.islink(path):
            return InboxEntry(path, 0, 0, f"dangling symbolic link (to {os.readlink(path)})")
        return InboxEntry(path, 0, 0, f"cannot look at it: {error}")
    return InboxEntry(path, status.st_size, status.st_mtime_ns)


def _is_video_name(name: str) -> bool:
    return not name.startswith(".") and any(name.lower().endswith(suffix) for suffix in VIDEO_SUFFIXES)


def look_at_inbox(
    catalog: Catalog,
    entries: Iterable[InboxEntry],
    previous: Mapping[str, tuple[int, int]],
    *,
    settle_seconds: float,
    batch_max_videos: int,
    now: float | None = None,
    on_hashed: Callable[[InboxEntry], None] | None = None,
) -> InboxLook:
    """Decide what is new and settled, hash it, drop content already batched, and plan batches.

    `previous` holds the (size, mtime) of files that were still changing at the previous look. A file a previous
    look hashed but did not get to batch (it was interrupted) is planned again without hashing it again.
    """
    now = time.time() if now is None else now
    known = catalog.inbox_index()
    batched_before = catalog.batched_hashes(row.content_hash for row in known.values() if row.batch_key is None)
    look = InboxLook()
    settled: list[InboxEntry] = []
    hashed: list[tuple[InboxEntry, str]] = []
    for entry in entries:
        if entry.problem is not None:
            look.skipped.append((entry.uri, entry.problem))
            continue
        seen = known.get(entry.uri)
        if seen is not None and (seen.size_bytes, seen.mtime_ns) == (entry.size, entry.mtime_ns):
            if seen.batch_key is None and seen.content_hash not in batched_before:
                hashed.append((entry, seen.content_hash))
            continue
        stable_since_last_look = previous.get(entry.uri) == (entry.size, entry.mtime_ns)
        quiet_long_enough = now - entry.mtime_ns / 1e9 >= settle_seconds
        if stable_since_last_look or quiet_long_enough:
            settled.append(entry)
        else:
            look.unsettled[entry.uri] = (entry.size, entry.mtime_ns)
    look.new_files = len(settled)

    for entry in settled:
        try:
            hashed.append((entry, content_hash(entry.uri)))
        except OSError as error:
            look.skipped.append((entry.uri, f"cannot read it: {error}"))
        if on_hashed is not None:
            on_hashed(entry)
    already_batched = catalog.batched_hashes(digest for _, digest in hashed)
    fresh: list[tuple[InboxEntry, str]] = []
    for entry, digest in hashed:
        if digest in already_batched:
            look.duplicates.append((entry.uri, digest))
        else:
            fresh.append((entry, digest))
    catalog.remember_inbox_files(
        [
            {"source_uri": entry.uri, "size_bytes": entry.size, "mtime_ns": entry.mtime_ns, "content_hash": digest}
            for entry, digest in hashed
        ]
    )
    crash_point("inbox.files_remembered")
    look.batches = plan_batches(fresh, batch_max_videos)
    return look


def plan_batches(files: list[tuple[InboxEntry, str]], batch_max_videos: int) -> list[BatchPlan]:
    """Group files into batches of at most `batch_max_videos` distinct videos, keyed by their content.

    Files with the same content always share a batch. The key is the newest modification time of the
    batch's files plus a digest of its content hashes, so the same files always give the same key.
    """
    by_hash: dict[str, list[InboxEntry]] = {}
    for entry, digest in sorted(files, key=lambda item: (item[0].mtime_ns, item[0].uri)):
        by_hash.setdefault(digest, []).append(entry)
    digests = list(by_hash)
    plans = []
    for start in range(0, len(digests), batch_max_videos):
        group = digests[start : start + batch_max_videos]
        items = tuple((entry.uri, digest, entry.size) for digest in group for entry in by_hash[digest])
        newest = max(entry.mtime_ns for digest in group for entry in by_hash[digest])
        stamp = datetime.fromtimestamp(newest / 1e9, UTC).strftime("%Y%m%dT%H%M%S")
        fingerprint = hashlib.sha256("".join(sorted(group)).encode()).hexdigest()[:10]
        plans.append(BatchPlan(f"{stamp}-{fingerprint}", items))
    return plans


def _mtime_ns(info: Mapping[str, object]) -> int:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, int | float):
            return int(value * 1e9)
        if isinstance(value, datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, str):
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9)
    return 0
