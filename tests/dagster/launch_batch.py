"""`python -m tests.dagster.launch_batch KEY READY START`: run `process_new_videos` on batch partition KEY in this
process, as the product's definitions bind it from the DATA_ENGINE_* environment, on a Dagster instance of its own.

It touches READY once loaded and waits for START, so a test starts several at the same moment; exit 0 if the run
succeeded.
"""

import sys
import time
from pathlib import Path

import dagster as dg

from definitions import defs


def main(key: str, ready: Path, start: Path) -> int:
    job = defs.resolve_job_def("process_new_videos")
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("ingest_batches", [key])
        ready.touch()
        while not start.exists():
            time.sleep(0.01)
        result = job.execute_in_process(partition_key=key, instance=instance, raise_on_error=False)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
