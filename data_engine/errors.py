"""The engine's error types: one base, so that a caller can tell a problem a person can fix from a bug.

Every error the engine raises on purpose derives from `EngineError`, and its message says what is wrong and what
to do. The command line prints such errors as one `error: ...` line; anything else is a bug and keeps its
traceback.
"""

import logging
import re
from typing import Any


class EngineError(Exception):
    """A problem with the input, the configuration or the world, explained by its message."""


class NotFoundError(EngineError, KeyError):
    """An id (clip, video, model, run, dataset) or a path that does not exist.

    Also a `KeyError`, so lookups that used to raise one keep working for their callers.
    """

    def __str__(self) -> str:
        # KeyError quotes its argument as if it were a key; this is a sentence.
        return str(self.args[0]) if self.args else ""


# ---- secrets -----------------------------------------------------------------------------------------------------

_secrets: set[str] = set()
_CREDENTIAL = re.compile(
    r"(?i)(?P<name>\b(?:authorization|x-api-key|api[_-]?key|access[_-]?token|token)[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<scheme>(?:token|bearer|basic)\s+)?(?P<value>[^\s\"',;}\]]+)"
)
REDACTED = "[redacted]"


def keep_secret(value: str) -> None:
    """Register a secret (the Label Studio token): `redact` removes it wherever it appears, whatever echoed it."""
    if value and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    """`text` without the registered secrets nor the value of anything that looks like a credential header
    (`Authorization: Token ...`, `"Authorization": "Bearer ..."`, `token=...`), as a server's error body may echo
    the request's headers."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return _CREDENTIAL.sub(
        lambda match: match["name"] + (match["scheme"] or "") + REDACTED,
        text,
    )


def redact_logs() -> None:
    """Make every log record, of every logger, carry a redacted message (installed once, by the command line)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: logging reports it itself
            return record
        record.msg, record.args = redact(message), None
        return record

    factory.redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
