"""Named crash points for the fault-injection tests: at every boundary between a side effect and its record the
engine calls `crash_point(name)`, and a test that sets `DATA_ENGINE_CRASH_AT=name` (or `name:n`, the n-th time
that point is reached) sees the process die there as a SIGKILL would leave it (`os._exit(137)`: no clean-up,
no finally blocks, no flushed buffers)."""

import os
from collections import Counter

CRASH_ENV = "DATA_ENGINE_CRASH_AT"
_reached: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """Die here when the environment asks for it; otherwise do nothing."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == (int(count) if count else 1):
        os._exit(137)
