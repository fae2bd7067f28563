"""A real Dask distributed cluster on 127.0.0.1 for tests and benchmarks: `dask scheduler` and `dask worker` processes.

The processes come from the same virtualenv's `dask` command, with the repository on PYTHONPATH so workers can
import `tests` and `bench` functions as well as `data_engine`. Every process is stopped on exit, also on failure.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DASK = Path(sys.executable).parent / "dask"


class DaskClusterError(RuntimeError):
    """The local cluster did not come up; the message carries the processes' log tails."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def dask_cluster(
    workers: int = 2, start_timeout_s: float = 60.0, resources: Sequence[str | None] = ()
) -> Iterator[str]:
    """Start a scheduler and `workers` single-threaded worker processes; yield the scheduler address.

    `resources[i]`, when given, is worker i's `--resources` (e.g. "GPU=1"): jobs asking for it go there only."""
    from distributed import Client

    address = f"tcp://127.0.0.1:{free_port()}"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dask-cluster-")))
        processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        stack.callback(_stop, processes)

        def start(name: str, *arguments: str) -> None:
            log = scratch / f"{name}.log"
            with open(log, "wb") as handle:
                process = subprocess.Popen(
                    [str(DASK), *arguments],
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    env=environment,
                    cwd=scratch,
                    start_new_session=True,
                )
            processes.append((name, process, log))

        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard")
        for index in range(workers):
            offered = resources[index] if index < len(resources) else None
            start(
                f"worker-{index}",
                *("worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"),
                *("--host", "127.0.0.1", "--name", f"worker-{index}", "--local-directory", str(scratch)),
                *(("--resources", offered) if offered else ()),
            )
        try:
            with Client(address, timeout=start_timeout_s, set_as_default=False) as client:
                client.wait_for_workers(workers, timeout=start_timeout_s)
        except (OSError, TimeoutError) as error:
            tails = "\n".join(f"--- {name}\n{log.read_text(errors='replace')[-2000:]}" for name, _, log in processes)
            raise DaskClusterError(f"the local Dask cluster at {address} did not start: {error}\n{tails}") from error
        yield address


def _stop(processes: list[tuple[str, "subprocess.Popen[bytes]", Path]]) -> None:
    """Workers first, then the scheduler: SIGTERM to each process group, SIGKILL to what is left after 10 s."""
    for _, process, _ in reversed(processes):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for _, process, _ in reversed(processes):
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
