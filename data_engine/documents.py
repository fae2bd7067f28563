"""Reading back a JSON document the engine wrote (label files, ground truth), with errors that name the file."""

import json
from pathlib import Path
from typing import Any

from data_engine.errors import EngineError


def read_json_document(path: Path, error: type[EngineError], what: str) -> Any:
    """The JSON value in `path`, or `error` saying that the `what` (e.g. "label file") at `path` does not exist or
    is not valid JSON."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as missing:
        raise error(f"{what} {path} does not exist") from missing
    except json.JSONDecodeError as malformed:
        raise error(f"{what} {path} is not valid JSON: {malformed}") from malformed
