"""Run `dagster dev` (ARGS passed on) so that SIGINT and SIGTERM stop it, with or without a terminal.

Started from a script or a service manager, `make ui` had no terminal to deliver Ctrl-C to the whole process
group, and a job started in the background inherits SIGINT ignored (POSIX shells do that), which `dagster dev`
keeps: it ignored both signals, and a SIGKILL left its webserver, daemon and code servers running. This wrapper
starts it with SIGINT restored and turns either signal into the SIGINT `dagster dev` shuts down on (its own
Ctrl-C path, which stops its children), escalating to SIGTERM and SIGKILL of its process group when it hangs.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType

GRACE_S = 30.0


def main(argv: list[str]) -> int:
    def default_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    child = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "dagster"), "dev", *argv],
        preexec_fn=default_sigint,
        start_new_session=True,  # its own process group: the wrapper signals all of it when it must
    )
    stopping: list[float] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        if not stopping:
            stopping.append(time.monotonic())
            print(f"dagster_dev: {signal.Signals(signum).name}: stopping dagster dev", file=sys.stderr, flush=True)
            child.send_signal(signal.SIGINT)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        try:
            return child.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            if stopping and time.monotonic() - stopping[0] > GRACE_S:
                escalate = signal.SIGKILL if time.monotonic() - stopping[0] > 2 * GRACE_S else signal.SIGTERM
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, escalate)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
