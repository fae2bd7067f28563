"""Named crash points: where a test can kill the engine between a side effect and its record.

`DATA_ENGINE_CRASH_AT=name` (or `name:n`, the n-th time this process reaches the point) makes the process exit
at once with status 137, as a SIGKILL would, without unwinding: no `finally`, no flush, no clean-up. The
crash-point harness (tests/test_crash_points.py) finds every `crash_point("...")` call in the package, kills a
run at each one and checks that the next run converges on what an uninterrupted run produces.
"""

import os
from collections import Counter

CRASH_ENV = "DATA_ENGINE_CRASH_AT"
TRACE_ENV = "DATA_ENGINE_CRASH_TRACE"
"""A file each visit to a crash point appends its name to: how the harness learns which command reaches which
point, and how often, from the uninterrupted runs it needs anyway."""

_reached: Counter[str] = Counter()


def crash_point(name: str) -> None:
    """Exit with status 137 here when `DATA_ENGINE_CRASH_AT` names this point (and this is its n-th visit)."""
    trace = os.environ.get(TRACE_ENV)
    if trace:
        with open(trace, "a", encoding="utf-8") as visits:
            visits.write(name + "\n")
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == (int(nth) if nth else 1):
        os._exit(137)
