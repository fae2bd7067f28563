"""Session fixtures: ONE real Label Studio server per test session, and a TCP relay to cut its connection.

Label Studio is installed into its own virtual environment by `scripts/labelstudio.sh install` (about 2 minutes,
once per machine). A fresh data dir takes 40-70 s to set up (database migrations, admin user, token), so the first
session prepares one and caches it under ~/.cache/data-engine-tests; later sessions copy it and start in ~6 s.
Each test makes its own project (`labelstudio_config`), so tests share the server but nothing else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from data_engine.annotation import LabelStudioConfig

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "labelstudio.sh"
# The version scripts/labelstudio.sh installs: the one its lock pins.
LABEL_STUDIO_VERSION = next(
    line.split("==", 1)[1].strip()
    for line in (REPO / "constraints-labelstudio.txt").read_text().splitlines()
    if line.startswith("label-studio==")
)
TEMPLATE_CACHE = (
    Path(os.environ.get("DATA_ENGINE_LS_TEMPLATE_CACHE", Path.home() / ".cache" / "data-engine-tests"))
    / f"labelstudio-{LABEL_STUDIO_VERSION}-data"
)
TEST_TOKEN = "data-engine-test-token-0123456789"
SERVER_STATE_FILES = ("labelstudio.pid", "labelstudio.url", "labelstudio.log")


@dataclass(frozen=True)
class LabelStudioServer:
    """A running server: where it answers, its admin token, and the local-files document root it serves."""

    url: str
    token: str
    data_dir: Path
    document_root: Path

    def __repr__(self) -> str:
        return f"LabelStudioServer({self.url!r})"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def labelstudio_script(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run scripts/labelstudio.sh with `args` and return what it printed; its output becomes the error when it
    fails."""
    completed = subprocess.run(
        [str(SCRIPT), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"scripts/labelstudio.sh {' '.join(args)} failed:\n{completed.stdout}\n{completed.stderr}")
    return completed.stdout


def server_env(document_root: Path) -> dict[str, str]:
    """The script's settings for a test server (fixed token, local files under `document_root`)."""
    return {
        "DATA_ENGINE_LS_TOKEN": TEST_TOKEN,
        "DATA_ENGINE_LS_DOCUMENT_ROOT": str(document_root),
        "DATA_ENGINE_LS_ALLOW_PRIVATE_NETWORK": "1",
    }


def prepared_data_dir(target: Path) -> Path:
    """A set-up data dir at `target`: copied from the cached template, which the first call builds by starting a
    fresh server once (database migrations, admin user, legacy token) and stopping it."""
    if not TEMPLATE_CACHE.is_dir():
        building = TEMPLATE_CACHE.with_name(f".{TEMPLATE_CACHE.name}.{uuid.uuid4().hex[:8]}")
        building.mkdir(parents=True)
        try:
            labelstudio_script("start", str(building), str(free_port()), env=server_env(building))
        finally:
            labelstudio_script("stop", str(building))
        for name in SERVER_STATE_FILES:
            (building / name).unlink(missing_ok=True)
        try:
            building.rename(TEMPLATE_CACHE)
        except OSError:
            shutil.rmtree(building, ignore_errors=True)
    shutil.copytree(TEMPLATE_CACHE, target)
    return target


@contextmanager
def running_label_studio(base: Path) -> Iterator[LabelStudioServer]:
    """Install (if needed) and start a Label Studio with its data under `base`; stopped on leaving, also on
    failure."""
    labelstudio_script("install", timeout=1200)
    data_dir = prepared_data_dir(base / "data")
    document_root = base / "files"
    document_root.mkdir()
    port = free_port()
    try:
        labelstudio_script("start", str(data_dir), str(port), env=server_env(document_root))
        token = (data_dir / "api-token").read_text().strip()
        yield LabelStudioServer(f"http://127.0.0.1:{port}", token, data_dir, document_root)
    finally:
        labelstudio_script("stop", str(data_dir))


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabelStudioServer]:
    """One Label Studio for the whole test session."""
    with running_label_studio(tmp_path_factory.mktemp("labelstudio")) as server:
        yield server


@pytest.fixture
def labelstudio_config(label_studio: LabelStudioServer, tmp_path: Path) -> LabelStudioConfig:
    """A backend configuration of its own for one test: images in a fresh folder under the document root."""
    image_dir = label_studio.document_root / uuid.uuid4().hex[:12]
    return LabelStudioConfig(
        url=label_studio.url,
        token=label_studio.token,
        image_dir=image_dir,
        document_root=label_studio.document_root,
        retries=3,
        backoff_s=0.05,
    )


def _shutdown(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


class TcpRelay:
    """A real TCP relay in front of a server: `cut()` closes the listening port and every open connection
    (clients get 'connection refused' as if the server were down), `restore()` opens it again on the same port."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
        if listener is not None:
            _shutdown(listener)
            listener.close()
        for connection in connections:
            _shutdown(connection)
            connection.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            _shutdown(source)
            _shutdown(sink)


@pytest.fixture
def tcp_relay(label_studio: LabelStudioServer) -> Iterator[TcpRelay]:
    relay = TcpRelay(int(label_studio.url.rsplit(":", 1)[1]))
    yield relay
    relay.cut()
