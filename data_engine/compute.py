"""Where the expensive per-clip work runs: in this process, a local process pool, or a Dask distributed cluster.

Chosen by configuration (`DATA_ENGINE_COMPUTE`, `DATA_ENGINE_WORKERS`, `DATA_ENGINE_DASK_ADDRESS`), never by a
code change: a stage calls `backend.map(work, items)` with a top-level function and gets the results back in input
order, whichever backend runs them, or `backend.imap(work, items)` to handle each result as soon as it is done.
Functions travel by reference (module + name), so process-pool children and Dask workers must be able to import
them: on a cluster, the workers run the same image as the code that submits.

Work that needs a GPU says so (`resources=GPU`): on Dask it then runs only on workers started with
`--resources GPU=1` (when the cluster has any), one job per GPU at a time; the local backends ignore it.
"""

import os
import pickle
import select
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed as pool_as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from types import TracebackType
from typing import Any, ClassVar, TypeVar

from data_engine.errors import EngineError
from data_engine.processes import process_alive
from data_engine.progress import StepProgress

Item = TypeVar("Item")
Result = TypeVar("Result")
Resources = Mapping[str, float]
"""Abstract worker resources a job needs, Dask style (`{"GPU": 1}`)."""
GPU: Resources = {"GPU": 1}

COMPUTE_KINDS: tuple[str, ...] = ("inprocess", "processes", "dask")


class ComputeError(EngineError):
    """The compute backend is misconfigured, unreachable, or lost a worker; the message says what to change."""


class ComputeBackend(ABC):
    """Applies a picklable top-level function to each item and returns the results in input order.

    An exception raised by the function for any item cancels the items not yet started and is raised as is.
    Use as a context manager (or call `close`) to release pool processes or the cluster connection.
    """

    kind: ClassVar[str]

    def map(
        self,
        function: Callable[[Item], Result],
        items: Iterable[Item],
        progress: StepProgress | None = None,
        resources: Resources | None = None,
    ) -> list[Result]:
        todo = list(items)
        results: list[Result | None] = [None] * len(todo)
        for done, (index, result) in enumerate(self.imap(function, todo, resources), start=1):
            results[index] = result
            if progress is not None:
                progress(done, len(todo))
        return results  # type: ignore[return-value]  # every slot was filled

    def imap(
        self, function: Callable[[Item], Result], items: Iterable[Item], resources: Resources | None = None
    ) -> Iterator[tuple[int, Result]]:
        """`(input position, result)` of each item as soon as it is done (completion order), so the caller can
        record each result at once: what was recorded survives a crash of the rest of the batch."""
        _check_picklable(function)
        todo = list(items)
        if not todo:
            return iter(())
        return self._imap(function, todo, resources)

    @abstractmethod
    def _imap(
        self, function: Callable[[Item], Result], items: list[Item], resources: Resources | None
    ) -> Iterator[tuple[int, Result]]:
        """Run `function` over a non-empty list of items, yielding results as they finish."""

    @abstractmethod
    def describe(self) -> str:
        """One line for logs and run metadata: the kind and where it runs."""

    def close(self) -> None:
        """Release processes or connections (a no-op for backends that hold none)."""
        return

    def __enter__(self) -> "ComputeBackend":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class InProcessBackend(ComputeBackend):
    """Runs each item in the calling process, one after the other: for debugging and tiny batches."""

    kind = "inprocess"

    def _imap(
        self, function: Callable[[Item], Result], items: list[Item], resources: Resources | None
    ) -> Iterator[tuple[int, Result]]:
        for index, item in enumerate(items):
            yield index, function(item)

    def describe(self) -> str:
        return "inprocess"


class ProcessPoolBackend(ComputeBackend):
    """A pool of `workers` local processes, started on first use and reused until `close`.

    Children are forked from a clean fork server rather than from the caller, which may hold threads (Dagster,
    database pools) that a plain fork would copy in an unknown state. They die with the caller: killed with
    SIGKILL, it cannot shut the pool down, so each worker watches it and exits when it is gone.
    """

    kind = "processes"

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ComputeError(f"DATA_ENGINE_WORKERS must be at least 1, got {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _imap(
        self, function: Callable[[Item], Result], items: list[Item], resources: Resources | None
    ) -> Iterator[tuple[int, Result]]:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=get_context("forkserver"),
                initializer=exit_with_parent,
                initargs=(os.getpid(),),
            )
        futures = [self._pool.submit(function, item) for item in items]
        try:
            yield from _with_positions(futures, pool_as_completed(futures))
        except BrokenProcessPool as error:
            self.close()
            raise ComputeError(
                f"a worker process of the local pool died while running {_name(function)} (killed for memory?); "
                "lower DATA_ENGINE_WORKERS or give the machine more memory"
            ) from error
        finally:
            for future in futures:
                future.cancel()

    def describe(self) -> str:
        return f"processes({self.workers})"

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class DaskBackend(ComputeBackend):
    """Items become tasks on the Dask distributed scheduler at `address` (e.g. tcp://scheduler:8786).

    Connects on first use and waits up to `connect_timeout_s` for the scheduler and at least one worker.
    """

    kind = "dask"

    def __init__(self, address: str, connect_timeout_s: float = 30.0) -> None:
        if not address:
            raise ComputeError(
                "DATA_ENGINE_COMPUTE=dask needs DATA_ENGINE_DASK_ADDRESS, the scheduler's address "
                "(e.g. tcp://dask-scheduler:8786)"
            )
        self.address = address
        self.connect_timeout_s = connect_timeout_s
        self._client: Any = None

    def _connect(self) -> Any:
        from distributed import Client

        if self._client is not None:
            return self._client
        try:
            client = Client(self.address, timeout=self.connect_timeout_s, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise ComputeError(
                f"cannot reach the Dask scheduler at {self.address} ({error}); start it (`dask scheduler`) or "
                "fix DATA_ENGINE_DASK_ADDRESS, or set DATA_ENGINE_COMPUTE=processes to work locally"
            ) from error
        try:
            client.wait_for_workers(1, timeout=self.connect_timeout_s)
        except TimeoutError as error:
            client.close()
            raise ComputeError(
                f"the Dask scheduler at {self.address} has no workers after {self.connect_timeout_s:g} s; "
                f"start some with `dask worker {self.address}`"
            ) from error
        self._client = client
        return client

    def _imap(
        self, function: Callable[[Item], Result], items: list[Item], resources: Resources | None
    ) -> Iterator[tuple[int, Result]]:
        from distributed import as_completed as dask_as_completed
        from distributed.scheduler import KilledWorker

        client = self._connect()
        futures = client.map(function, items, pure=False, resources=self._offered(client, resources))
        try:
            yield from _with_positions(futures, dask_as_completed(futures, loop=client.loop))
        except KilledWorker as error:
            raise ComputeError(
                f"Dask workers kept dying while running {_name(function)} ({error}); "
                "check the workers' memory limit and logs"
            ) from error
        finally:
            client.cancel(futures)

    @staticmethod
    def _offered(client: Any, resources: Resources | None) -> dict[str, float] | None:
        """`resources` when some worker offers them all, else None: a cluster without GPU workers still runs GPU
        jobs (on any worker) instead of waiting forever for a worker that will never come."""
        if not resources:
            return None
        workers = client.scheduler_info(n_workers=-1).get("workers", {}).values()
        offered = any(
            all(worker.get("resources", {}).get(name, 0) >= amount for name, amount in resources.items())
            for worker in workers
        )
        return dict(resources) if offered else None

    def describe(self) -> str:
        return f"dask({self.address})"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def backend_from_settings(kind: str, workers: int, address: str = "") -> ComputeBackend:
    """The backend the settings name: "inprocess", "processes" (`workers` local processes) or "dask" (`address`)."""
    if kind == "inprocess":
        return InProcessBackend()
    if kind == "processes":
        return ProcessPoolBackend(workers)
    if kind == "dask":
        return DaskBackend(address)
    raise ComputeError(f"DATA_ENGINE_COMPUTE={kind!r} is not a compute backend; use one of {', '.join(COMPUTE_KINDS)}")


def exit_with_parent(parent: int) -> None:
    """Pool initializer: end this worker as soon as process `parent` (the pool's owner) is gone.

    Workers are children of the fork server, not of the owner, so the kernel's parent-death signal cannot be
    used; a daemon thread waits on a pidfd of the owner instead (or polls it where pidfds do not exist). Once the
    workers are gone, the fork server and the resource tracker, which only wait for them, end too.
    """
    threading.Thread(target=_wait_for_exit, args=(parent,), name="exit-with-parent", daemon=True).start()


def _wait_for_exit(pid: int) -> None:
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):
        while process_alive(pid):
            time.sleep(1.0)
    else:
        select.select([handle], [], [])
    os._exit(1)


def _with_positions(futures: list[Any], completed: Iterable[Any]) -> Iterator[tuple[int, Any]]:
    """Each future's submission position and result, as they finish."""
    position = {future: index for index, future in enumerate(futures)}
    for future in completed:
        yield position[future], future.result()


def _check_picklable(function: Callable[..., Any]) -> None:
    """Refuse lambdas and local functions everywhere, so code that works in-process works on every backend."""
    try:
        pickle.dumps(function)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise ComputeError(
            f"{_name(function)} cannot be sent to worker processes ({error}); pass a function defined at the top "
            "level of a module (a functools.partial of one is fine)"
        ) from error


def _name(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or repr(function)
