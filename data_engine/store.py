"""The store: where clip, frame, label and model files live (a local folder or an fsspec URL).

Work happens on local files; for an object store, files are written to a local staging folder and
uploaded when complete, so a reader never sees half a file.
"""

import hashlib
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from data_engine.faults import crash_point
from data_engine.processes import process_alive
from data_engine.settings import SettingsError


class StoreError(SettingsError):
    """The store cannot be used (read-only, missing, not a folder); the message names DATA_ENGINE_STORE."""


class Store:
    """Files addressed by keys relative to the store root (`clips/<video>/<ordinal>/clip.mkv`)."""

    def __init__(self, root: str, staging: Path | None = None) -> None:
        try:
            self._fs, path = fsspec.core.url_to_fs(root.rstrip("/"))
        except (ImportError, ValueError) as error:  # a protocol without its package (s3fs), or none known
            raise StoreError(f"DATA_ENGINE_STORE={root}: cannot open the store ({error})") from None
        self.is_local = isinstance(self._fs, LocalFileSystem)
        self.root = str(Path(path).absolute()) if self.is_local else root.rstrip("/")
        self._fs_root = self.root if self.is_local else path
        if self.is_local:
            self._staging = Path(self.root)
        else:
            self._staging = staging or Path(tempfile.gettempdir()) / "data-engine-staging"
        try:
            self._staging.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the store DATA_ENGINE_STORE={self.root}: {error}") from error

    def uri(self, key: str) -> str:
        """Where a key lives: a local path or a full URL."""
        return f"{self.root}/{key}"

    def local_path(self, key: str) -> Path:
        """A local path for the key: the file itself on a local store, its staging copy otherwise."""
        return self._staging / key

    def exists(self, key: str) -> bool:
        return self._fs.exists(self.uri(key))

    def commit(self, key: str) -> str:
        """Publish a finished local file (a no-op on a local store); returns its URI."""
        if not self.is_local:
            self._fs.put_file(str(self.local_path(key)), self.uri(key))
        return self.uri(key)

    def fetch(self, key: str) -> Path:
        """A local copy of the file behind key (the file itself on a local store)."""
        local = self.local_path(key)
        if not self.is_local and not local.exists():
            local.parent.mkdir(parents=True, exist_ok=True)
            self._fs.get_file(self.uri(key), str(local))
        return local

    def delete(self, key: str) -> None:
        """Remove the file behind key (and its staging copy) if it is there."""
        if not self.is_local and self._fs.exists(self.uri(key)):
            self._fs.rm(self.uri(key))
        self.local_path(key).unlink(missing_ok=True)

    def list_keys(self, prefix: str) -> list[str]:
        """Every file key under prefix (recursively)."""
        base = f"{self._fs_root}/{prefix}"
        if not self._fs.exists(base):
            return []
        return sorted(path[len(self._fs_root) + 1 :] for path in self._fs.find(base))

    def remove_stale_temporaries(self) -> int:
        """Delete the leftovers of interrupted writes anywhere under the store (its staging folder for an object
        store, whose uploads are whole files): what a killed command left, never a live writer's file. Every
        command and stage that writes opens the store through `Runtime.store` or the Dagster store resource,
        which call this first. A store this process may not write is left as it is."""
        return remove_stale_temporaries(self._staging)

    def write_text(self, key: str, text: str) -> str:
        """Write a small text file atomically and publish it."""
        with atomic_path(self.local_path(key)) as temporary:
            temporary.write_text(text, encoding="utf-8")
        return self.commit(key)


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside `final`; on success fsync it and rename it into place."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(final)
    try:
        yield temporary
        crash_point("store.temporary_written")
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, final)
    finally:
        temporary.unlink(missing_ok=True)


def temporary_path(final: Path) -> Path:
    """The name every writer uses while `final` is incomplete: `.<name>.tmp-<host>-<pid>-<random>` beside it.

    Unique per writer, so two processes (or threads) writing the same file never touch each other's half-written
    copy; the host and process id let `remove_stale_temporaries` tell a dead writer's leftover from a live one's
    work. Create it with a plain `open` (mode 0666 minus the umask, like the final file), never `mkstemp` (0600).
    """
    return final.with_name(f".{final.name}{TEMPORARY_MARK}{_HOST}-{os.getpid()}-{secrets.token_hex(4)}")


def is_temporary(name: str) -> bool:
    """True for the names atomic writes use while a file is incomplete (the one clean-up pattern `.*.tmp-*`)."""
    return name.startswith(".") and TEMPORARY_MARK in name


def remove_stale_temporaries(folder: Path, older_than_s: float | None = None) -> int:
    """Delete the leftovers of interrupted writes below `folder` (files, and folders assembled under a temporary
    name), leaving what live writers are filling.

    A temporary is stale when its writer ran on this host and is gone, or (another host's, or an unparsable name)
    when it has not changed for `older_than_s` (default: `WRITER_LEASE_S`, the lease another host's writer holds).
    Files that cannot be removed (a store this process may only read) are left.
    """
    lease = WRITER_LEASE_S if older_than_s is None else older_than_s
    removed = 0
    if not folder.is_dir():
        return 0
    for path in sorted(folder.rglob(".*")):
        if is_temporary(path.name) and path.exists() and _is_stale(path, lease):
            try:
                if path.is_dir():
                    shutil.rmtree(path)  # a folder being assembled (an annotation bundle)
                else:
                    path.unlink(missing_ok=True)
            except OSError:  # gone meanwhile, or a store this process may only read
                continue
            removed += 1
    return removed


def _is_stale(path: Path, older_than_s: float) -> bool:
    writer = path.name.rsplit(TEMPORARY_MARK, 1)[1].split("-")
    if len(writer) == 3 and writer[0] == _HOST and writer[1].isdigit():
        return not process_alive(int(writer[1]))
    if len(writer) == 1 and writer[0].isdigit():
        return not process_alive(int(writer[0]))  # `.name.tmp-<pid>`, written before hosts were named
    try:
        return time.time() - path.stat().st_mtime > older_than_s
    except FileNotFoundError:
        return False


TEMPORARY_MARK = ".tmp-"
WRITER_LEASE_S = 3600.0
"""How long another host's writer may leave its temporary file unchanged before it counts as gone: the lease of
clip claims and of unfinished pushes (stages/annotate FOREIGN_OWNER_LEASE)."""
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def content_hash(uri: str | Path) -> str:
    """sha256 of a file's bytes (local path or fsspec URL), read in chunks: video ids, model checksums."""
    digest = hashlib.sha256()
    with fsspec.open(str(uri), "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


HASH_CHUNK = 8 * 1024 * 1024
