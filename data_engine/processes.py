"""Is a process still there? Used to tell a dead writer's leftovers (temporary files, unfinished pushes) from a live
one's work, and by pool workers to follow the process that owns them."""

import os
import socket
from pathlib import Path


def process_alive(pid: int) -> bool:
    """True while process `pid` exists (also when it belongs to another user and cannot be signalled)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_started(pid: int) -> str:
    """When process `pid` started, in clock ticks since boot ("" when unknown): with the pid, it names one process
    for good, as pids are reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def this_process() -> str:
    """Who holds a claim: host, process id and the process's start time (so a reused pid is not mistaken for us)."""
    return f"{socket.gethostname()}:{os.getpid()}:{process_started(os.getpid())}"


def holder_gone(holder: str) -> bool | None:
    """Whether the process named by `holder` (as `this_process` writes it) is gone: True or False on this host,
    None for another host's process (its lease running out decides)."""
    host, _, rest = holder.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return not (process_started(int(pid)) == started if started else process_alive(int(pid)))
