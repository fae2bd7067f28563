"""Start long-running programs for UI tests in a session of their own, stop them all, and find any left behind."""

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def _restore_default_signals() -> None:
    """Undo SIGINT/SIGTERM dispositions inherited as 'ignored' (background jobs, some CI shells): a program that
    starts with SIGINT ignored never installs its Ctrl-C handler, so `dagster dev` could not be stopped cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start_in_new_session(
    command: Sequence[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start `command` as the leader of a new session (so every child it spawns can be found and signalled) with
    stdout and stderr appended to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_restore_default_signals,
        )


def session_members(session_id: int) -> list[int]:
    """Pids of the live (not zombie) processes in the session `session_id`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, session = fields[0], int(fields[3])
        if session == session_id and state != "Z":
            members.append(int(entry.name))
    return members


def processes_mentioning(marker: str) -> dict[int, str]:
    """Live processes whose command line or environment contains `marker` (a unique temporary path), by pid, with
    their command lines: whatever a test started there, even children that left its session."""
    found = {}
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            zombie = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if not zombie and (needle in cmdline or needle in environ):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


def stop_session(leader: subprocess.Popen[bytes], first_signal: signal.Signals, grace_s: float) -> None:
    """Send `first_signal` to the whole session (as Ctrl-C in a terminal would), wait up to `grace_s` for every
    member to exit, then SIGKILL whatever is left and reap the leader."""
    session_id = leader.pid
    _signal_members(session_id, first_signal)
    deadline = time.monotonic() + grace_s
    while session_members(session_id) and time.monotonic() < deadline:
        leader.poll()
        time.sleep(0.2)
    _signal_members(session_id, signal.SIGKILL)
    leader.wait(timeout=10)
    deadline = time.monotonic() + 10
    while session_members(session_id) and time.monotonic() < deadline:
        time.sleep(0.1)


def kill_all(pids: dict[int, str]) -> None:
    """SIGKILL each of `pids` (processes this test started and found by marker), ignoring those already gone."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _signal_members(session_id: int, sent: signal.Signals) -> None:
    for pid in session_members(session_id):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sent)
