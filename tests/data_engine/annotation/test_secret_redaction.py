"""Secrets never reach a message or a log line, whatever the server echoes: a local Label Studio stand-in
(127.0.0.1 only) answers every request with an error body that repeats the request's headers."""

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from data_engine.cli import main
from data_engine.errors import redact
from tests.videos import make_test_video

TOKEN = "s3cr3t-t0ken-0123456789abcdef"


class _EchoHeaders(BaseHTTPRequestHandler):
    def _echo(self) -> None:
        body = json.dumps({"detail": f"bad request, you sent {dict(self.headers)}; raw: {self.headers}"}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _echo

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def echoing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeaders)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("debug", [False, True])
def test_a_server_echoing_the_authorization_header_never_gets_the_token_printed(
    echoing_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, debug: bool
) -> None:
    for name in [name for name in os.environ if name.startswith("DATA_ENGINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    monkeypatch.setenv("DATA_ENGINE_CLIP_SECONDS", "2")
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_URL", echoing_server)
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_TOKEN", TOKEN)
    video = make_test_video(tmp_path / "v.mp4", frames=75)
    os.utime(video, (time.time() - 60, time.time() - 60))
    arguments = ["--debug"] if debug else []
    result = CliRunner().invoke(main, [*arguments, "run", str(video)], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Label Studio answered 400" in errors[0], result.output
    assert "Authorization" in errors[0], "the echo reached the message (so its redaction is what is tested)"
    assert TOKEN not in result.output and TOKEN[:12] not in result.output
    assert "[redacted]" in errors[0]


def test_log_lines_of_any_logger_are_redacted(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_TOKEN", TOKEN)
    CliRunner().invoke(main, ["status"])  # the command line installs the redaction and learns the token
    with caplog.at_level(logging.WARNING):
        logging.getLogger("urllib3.somewhere").warning("sent %s", {"Authorization": f"Token {TOKEN}"})
        logging.getLogger("data_engine.x").warning("token %s leaked", TOKEN)
    assert TOKEN not in caplog.text and caplog.text.count("[redacted]") == 2


@pytest.mark.parametrize(
    "echo",
    [
        "Authorization: Token abcdef123456",
        "{'Authorization': 'Bearer abcdef123456'}",
        '"authorization": "Basic abcdef123456"',
        "x-api-key=abcdef123456",
    ],
)
def test_credential_headers_are_redacted_even_when_the_secret_is_not_known(echo: str) -> None:
    assert "abcdef123456" not in redact(f"server said: {echo}, go away")
