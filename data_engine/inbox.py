"""Video files arriving: find them, tell finished files from ones still being written, group them into batches.

The inbox is a local folder or an fsspec URL prefix. A file is taken only once its size and modification
time have stopped changing (the previous look saw the same values, or it has not changed for
`settle_seconds`), so a file still being copied in is left for a later look. A bad entry (a dangling symbolic
link, a file that cannot be read) is reported in `InboxLook.skipped` and looked at again next time; it never
stops the rest of the inbox. What the catalog already knows (files seen, contents batched) is the ingest stage's
business (`stages/ingest.py`); this module only reads files.
"""

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import fsspec

from data_engine.errors import NotFoundError

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
            raise NotFoundError(f"no such file or folder: {path}")
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


def settled_entries(
    entries: Iterable[InboxEntry],
    known: Mapping[str, tuple[int, int]],
    previous: Mapping[str, tuple[int, int]],
    *,
    settle_seconds: float,
    now: float,
) -> tuple[list[InboxEntry], dict[str, tuple[int, int]]]:
    """Split entries into the settled new ones and those still being written (with their size and mtime).

    `known` holds the (size, mtime) of files looked at before (left out while unchanged); `previous` those of
    files that were still changing at the previous look.
    """
    settled: list[InboxEntry] = []
    unsettled: dict[str, tuple[int, int]] = {}
    for entry in entries:
        if known.get(entry.uri) == (entry.size, entry.mtime_ns):
            continue
        stable_since_last_look = previous.get(entry.uri) == (entry.size, entry.mtime_ns)
        quiet_long_enough = now - entry.mtime_ns / 1e9 >= settle_seconds
        if stable_since_last_look or quiet_long_enough:
            settled.append(entry)
        else:
            unsettled[entry.uri] = (entry.size, entry.mtime_ns)
    return settled, unsettled


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
