"""One inbox sensor tick with 1,000 and 10,000 new files: wall time of the whole tick.

Each file holds 256 KiB of random bytes (so content hashing is real work) and is old enough to count as
settled. The tick is the real sensor, evaluated with build_sensor_context against a fresh SQLite catalog
(or DATA_ENGINE_CATALOG_URL); it hashes, de-duplicates, plans batches, records them and returns one
SensorResult. A second tick over the same files shows the steady state (nothing new to hash).

    .venv/bin/python -m bench.bench_inbox_sensor [--files 1000 10000] [--size-kib 256]
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import dagster as dg

from definitions import defs
from resources import EngineSettingsResource, engine_resources


def make_inbox(folder: Path, count: int, size_kib: int) -> None:
    folder.mkdir(parents=True)
    old = time.time() - 3600
    for index in range(count):
        path = folder / f"cam{index % 7:02d}" / f"video_{index:06d}.mp4"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(os.urandom(size_kib * 1024))
        os.utime(path, (old, old))


def tick(inbox: Path, catalog_url: str, cursor: str | None) -> tuple[float, dg.SensorResult]:
    sensor = defs.resolve_sensor_def("inbox_sensor")
    with dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        cursor=cursor,
        resources=engine_resources(
            EngineSettingsResource(home=str(inbox.parent), catalog_url=catalog_url, inbox=str(inbox))
        ),
    ) as context:
        started = time.perf_counter()
        result = sensor(context)
        return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--size-kib", type=int, default=256)
    args = parser.parse_args()
    print(f"{'files':>7} {'first tick s':>13} {'runs':>5} {'partitions':>10} {'second tick s':>14} {'goal':>10}")
    for count in args.files:
        with tempfile.TemporaryDirectory(prefix="inbox-bench-") as scratch:
            inbox = Path(scratch) / "inbox"
            make_inbox(inbox, count, args.size_kib)
            url = os.environ.get("DATA_ENGINE_CATALOG_URL", f"sqlite:///{scratch}/catalog.db")
            first, result = tick(inbox, url, None)
            second, _ = tick(inbox, url, result.cursor)
            partitions = sum(len(request.partition_keys) for request in result.dynamic_partitions_requests)
            goal = "< 30 s" if count == 1000 else ""
            print(
                f"{count:>7} {first:>13.2f} {len(result.run_requests):>5} {partitions:>10} {second:>14.2f} {goal:>10}"
            )


if __name__ == "__main__":
    main()
