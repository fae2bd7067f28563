"""Scale: the catalog at a million clips (PostgreSQL and SQLite) and end-to-end throughput per compute backend.

Catalog: 50,000 clipped videos x 20 clips (plus quarantined and registered videos without clips) in a realistic
mix of states, every clip with its creation event and one event per later step (about 2.2 million events), bulk
loaded (COPY on PostgreSQL, executemany on SQLite) into a freshly migrated catalog, then ANALYZEd. Measured: the
load, `data-engine status` (Catalog.status_counts + oldest_waiting, median of 5, and the real CLI once), claiming
5,000 `extracted` clips twice (`claim_clips` of 5,000 of the first 10,000 `extracted` ids, then of all 10,000: the
second claim must skip the first one's leases) and a clip's history.

Throughput: ingest (probe + frame-exact clipping) and image-level mining (features + triggers, written as Parquet)
of generated 720p and 1080p H.264 video, through the compute backend: 1 and 2 local processes and a Dask cluster
of 2 single-threaded workers (a real `dask scheduler` + `dask worker` started here). One ingest batch per video, so
videos are ingested in parallel the way concurrent Dagster runs would; clips are claimed from the catalog, mined in
parallel and moved to `mined`. Reported in times real time (seconds of video per wall-clock second).

    .venv/bin/python -m bench.bench_scale [--videos 50000] [--minutes 2] [--skip-catalog] [--skip-throughput]

PostgreSQL: a throwaway database on DATA_ENGINE_BENCH_POSTGRES (default postgres@127.0.0.1:5432), dropped after.
"""

import argparse
import csv
import hashlib
import io
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text

from data_engine.catalog import Catalog, Clip, ClipEvent, ClipState, Video, clip_id_for
from data_engine.catalog.states import PIPELINE_ORDER
from data_engine.compute import ComputeBackend, DaskBackend, ProcessPoolBackend
from data_engine.context import StageContext
from data_engine.inbox import file_entries
from data_engine.mining.features import compute_features, write_features
from data_engine.mining.triggers import run_triggers
from data_engine.settings import Settings
from data_engine.stages.ingest import ingest_batch, look_at_inbox
from data_engine.store import Store
from tests.dask_cluster import dask_cluster
from tests.postgres import throwaway_database
from tests.videos import make_test_video

CACHE = Path(os.environ.get("DATA_ENGINE_BENCH_CACHE", Path.home() / ".cache" / "data-engine-bench"))
POSTGRES = os.environ.get("DATA_ENGINE_BENCH_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
CLI = Path(sys.executable).parent / "data-engine"
EPOCH = datetime(2026, 10, 1, tzinfo=UTC)
FPS = 25
FILE_SECONDS = 30

# Share of clips per state (cumulative thresholds over a uniform hash); pending work dominates, as in a live engine.
STATE_MIX: tuple[tuple[ClipState, float], ...] = (
    (ClipState.EXTRACTED, 0.40),
    (ClipState.MINED, 0.25),
    (ClipState.SELECTED, 0.10),
    (ClipState.AUTOLABELLED, 0.08),
    (ClipState.PUSHED, 0.05),
    (ClipState.ANNOTATED, 0.04),
    (ClipState.IN_DATASET, 0.06),
    (ClipState.FAILED, 0.02),
)

# Column order of the generated rows: the models' own, so a schema change fails loudly here.
CLIP_COLUMNS = tuple(column.name for column in Clip.__table__.columns)
VIDEO_COLUMNS = tuple(column.name for column in Video.__table__.columns)
EVENT_COLUMNS = tuple(column.name for column in ClipEvent.__table__.columns if column.name != "id")


# Catalog at scale


@dataclass(frozen=True)
class SyntheticCatalog:
    """Rows of a million-clip catalog, generated deterministically in chunks of videos."""

    videos: int
    clips_per_video: int

    def batches(self) -> list[tuple[str, datetime, str]]:
        return [(f"batch-{index:05d}", EPOCH + timedelta(hours=index), "sensor") for index in range(self.batch_count)]

    @property
    def batch_count(self) -> int:
        return (self.videos + 49) // 50

    def video_rows(self) -> Iterator[tuple[Any, ...]]:
        extra = self.videos // 100
        for index in range(self.videos + extra):
            status = "clipped" if index < self.videos else ("quarantined" if index % 5 else "registered")
            created = EPOCH + timedelta(seconds=index * 50)
            yield (
                _video_id(index),
                f"s3://inbox/cam{index % 40:02d}/video_{index:07d}.mp4",
                150_000_000,
                f"batch-{index // 50 % self.batch_count:05d}",
                "mov,mp4,m4a,3gp,3g2,mj2",
                "h264",
                1920,
                1080,
                25.0,
                self.clips_per_video * 250,
                self.clips_per_video * 10.0,
                25.0,
                self.clips_per_video * 250,
                False,
                status,
                "cannot decode: invalid data" if status == "quarantined" else None,
                created,
                created + timedelta(minutes=5),
            )

    def clip_and_event_rows(self, first_video: int, last_video: int) -> tuple[list[tuple[Any, ...]], list[tuple]]:
        """Clips of videos first..last-1 and their events (creation plus one per later step)."""
        clips: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        now = datetime.now(UTC)
        for video in range(first_video, last_video):
            video_id = _video_id(video)
            created = EPOCH + timedelta(seconds=video * 50 + 300)
            for ordinal in range(self.clips_per_video):
                clip_id = clip_id_for(video_id, ordinal)
                state = _state_of(video * self.clips_per_video + ordinal)
                steps = _steps_to(state)
                updated = created + timedelta(hours=len(steps) - 1, seconds=ordinal)
                claimed_by = lease_until = None
                if state is ClipState.EXTRACTED and ordinal == 7:
                    claimed_by, lease_until = "crashed-worker", now - timedelta(minutes=5 + video % 60)
                elif state is ClipState.EXTRACTED and ordinal == 3:
                    claimed_by, lease_until = "busy-worker", now + timedelta(minutes=10)
                clips.append(
                    (
                        clip_id,
                        video_id,
                        ordinal,
                        ordinal * 250,
                        ordinal * 250 + 249,
                        ordinal * 10.0,
                        ordinal * 10.0 + 10.0,
                        f"clips/{video_id}/{ordinal:05d}/clip.mkv",
                        "copy",
                        state.value,
                        int(state is ClipState.FAILED),
                        claimed_by,
                        lease_until,
                        created,
                        updated,
                    )
                )
                previous: ClipState | None = None
                for step, target in enumerate(steps):
                    moment = created + timedelta(hours=step, seconds=ordinal)
                    detail = '{"method": "copy", "frames": 250}' if previous is None else "{}"
                    stage = "extract" if previous is None else _stage_for(target)
                    run = f"run-{video // 50:05d}-{step}"
                    events.append((clip_id, stage, previous, target.value, run, detail, moment))
                    previous = target
        return clips, events


def _video_id(index: int) -> str:
    return hashlib.sha256(f"video-{index}".encode()).hexdigest()


def _state_of(clip_number: int) -> ClipState:
    share = int.from_bytes(hashlib.blake2b(clip_number.to_bytes(8, "little"), digest_size=4).digest()) / 2**32
    threshold = 0.0
    for state, fraction in STATE_MIX:
        threshold += fraction
        if share < threshold:
            return state
    return STATE_MIX[-1][0]


def _steps_to(state: ClipState) -> list[ClipState]:
    """The states a clip went through: forward along the pipeline; failed clips failed while being mined."""
    if state is ClipState.FAILED:
        return [ClipState.EXTRACTED, ClipState.FAILED]
    return list(PIPELINE_ORDER[: PIPELINE_ORDER.index(state) + 1])


def _stage_for(target: ClipState) -> str:
    return {ClipState.MINED: "mine", ClipState.FAILED: "mine"}.get(target, target.value)


class BulkLoader:
    """Fast inserts straight through the DB-API: COPY on PostgreSQL, executemany in one transaction on SQLite."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def load(self, data: SyntheticCatalog, chunk_videos: int = 2500) -> tuple[int, int]:
        connection = self.catalog.engine.raw_connection()
        clips_total = events_total = 0
        try:
            cursor = connection.cursor()
            self._insert(cursor, "batches", ("key", "created_at", "origin"), data.batches())
            self._insert(cursor, "videos", VIDEO_COLUMNS, list(data.video_rows()))
            for first in range(0, data.videos, chunk_videos):
                clips, events = data.clip_and_event_rows(first, min(first + chunk_videos, data.videos))
                self._insert(cursor, "clips", CLIP_COLUMNS, clips)
                self._insert(cursor, "clip_events", EVENT_COLUMNS, events)
                clips_total += len(clips)
                events_total += len(events)
            connection.commit()
        finally:
            connection.close()
        return clips_total, events_total

    def _insert(self, cursor: Any, table: str, columns: Any, rows: Any) -> None:
        if self.catalog.is_sqlite:
            placeholders = ", ".join("?" for _ in columns)
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",
                ([_sqlite_value(value) for value in row] for row in rows),
            )
            return
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows:
            writer.writerow(["\\N" if value is None else value for value in row])
        buffer.seek(0)
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)

    def analyze(self) -> None:
        if self.catalog.is_sqlite:
            with self.catalog.engine.begin() as connection:
                connection.execute(text("ANALYZE"))
            return
        with self.catalog.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))


def _sqlite_value(value: Any) -> Any:
    """What SQLAlchemy's SQLite dialect stores: datetimes as 'YYYY-MM-DD HH:MM:SS.ffffff' text (UTC)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def timed(action: Callable[[], Any], repeats: int = 1) -> tuple[float, Any]:
    """Median wall time of `repeats` calls, and the last call's result."""
    times = []
    result = None
    for _ in range(repeats):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def bench_catalog(url: str, label: str, data: SyntheticCatalog) -> dict[str, str]:
    catalog = Catalog(url)
    loader = BulkLoader(catalog)
    load_s, (clips, events) = timed(lambda: loader.load(data))
    analyze_s, _ = timed(loader.analyze)
    status_s, _ = timed(lambda: (catalog.status_counts(), catalog.oldest_waiting()), repeats=5)
    counts = catalog.status_counts()["clips"]
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as home:
        environment = {**os.environ, "DATA_ENGINE_CATALOG_URL": url, "DATA_ENGINE_HOME": home}
        cli_s, cli = timed(
            lambda: subprocess.run([str(CLI), "status"], env=environment, cwd=home, capture_output=True, text=True)
        )
    if cli.returncode != 0:
        raise RuntimeError(f"data-engine status failed: {cli.stderr}")
    with catalog.session() as session:
        waiting = list(session.scalars(select(Clip.id).where(Clip.status == ClipState.EXTRACTED).limit(10_000)))
    extracted = ClipState.EXTRACTED
    claim_s, first = timed(lambda: catalog.claim_clips(waiting[:5000], extracted, "bench-a", lease_seconds=600))
    second_claim_s, second = timed(lambda: catalog.claim_clips(waiting, extracted, "bench-b", lease_seconds=600))
    if set(first) & set(second):
        raise RuntimeError("two claims returned the same clip")
    samples = [clip_id_for(_video_id(video), video % data.clips_per_video) for video in range(0, data.videos, 997)]
    history_s, _ = timed(lambda: [catalog.history(clip_id) for clip_id in samples])
    catalog.dispose()
    return {
        "database": label,
        "clips": f"{clips:,}",
        "events": f"{events:,}",
        "extracted": f"{counts['extracted']:,}",
        "load s": f"{load_s:.1f}",
        "analyze s": f"{analyze_s:.1f}",
        "status s": f"{status_s:.3f}",
        "CLI status s": f"{cli_s:.2f}",
        "claimed": f"{len(first)} + {len(second)}",
        "claim 5k s": f"{claim_s:.3f}",
        "2nd claim 5k s": f"{second_claim_s:.3f}",
        "history ms": f"{history_s / len(samples) * 1000:.2f}",
    }


# Throughput


def bench_videos(height: int, minutes: float) -> list[Path]:
    """Distinct cached 30 s H.264 files (GOP 2 s, 2 B-frames) at `height`p covering `minutes` of video."""
    width = height * 16 // 9
    folder = CACHE / f"scale_{height}p"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(round(minutes * 60 / FILE_SECONDS)):
        path = folder / f"video_{index:03d}.mp4"
        if not path.exists():
            print(f"generating {path} (once) ...", flush=True)
            partial = path.with_name(f".{path.name}.tmp-{os.getpid()}.mp4")
            # One frame more per file, so every file has its own content hash (the inbox de-duplicates content).
            frames = FILE_SECONDS * FPS + index
            make_test_video(partial, frames=frames, size=(width, height), fps=FPS, gop=2 * FPS, bframes=2)
            os.replace(partial, path)
        paths.append(path)
    return paths


def warm_up(_: int) -> int:
    """Import the heavy modules in a worker before timing (a running cluster has them loaded)."""
    return os.getpid()


def ingest_one(job: tuple[str, str, str, float]) -> float:
    """Register and clip one batch (a worker opens its own catalog and store); returns seconds of video."""
    catalog_url, store_root, batch_key, clip_seconds = job
    catalog = Catalog(catalog_url, migrate=False)
    try:
        context = StageContext(catalog, Store(store_root), Settings(clip_seconds=clip_seconds))
        report = ingest_batch(context, batch_key)
    finally:
        catalog.dispose()
    return float(report.summary()["hours"]) * 3600


def mine_one(job: tuple[str, str]) -> int:
    """Features of one clip (written next to it as Parquet) and the image-level triggers' hits; returns the hits."""
    store_root, clip_key = job
    store = Store(store_root)
    features = compute_features(store.fetch(clip_key))
    features_key = str(Path(clip_key).with_name("features.parquet"))
    write_features(features, store.local_path(features_key))
    store.commit(features_key)
    return len(run_triggers(features))


def run_pipeline(backend: ComputeBackend, videos: list[Path], scratch: Path) -> dict[str, float]:
    catalog_url = f"sqlite:///{scratch / 'catalog.db'}"
    store_root = str(scratch / "store")
    catalog = Catalog(catalog_url)
    started = time.perf_counter()
    look = look_at_inbox(catalog, file_entries([str(v) for v in videos]), {}, settle_seconds=0, batch_max_videos=1)
    for plan in look.batches:
        catalog.create_batch(plan.key, "bench", plan.items)
    seconds = sum(backend.map(ingest_one, [(catalog_url, store_root, plan.key, 10.0) for plan in look.batches]))
    ingested = time.perf_counter()
    clips = catalog.clips(status=ClipState.EXTRACTED)
    catalog.claim_clips([clip.id for clip in clips], ClipState.EXTRACTED, "bench", lease_seconds=3600)
    hits = sum(backend.map(mine_one, [(store_root, clip.path) for clip in clips]))
    catalog.transition([clip.id for clip in clips], ClipState.MINED, stage="mine", detail={"hits": hits})
    finished = time.perf_counter()
    catalog.dispose()
    return {
        "video_s": seconds,
        "clips": len(clips),
        "ingest_s": ingested - started,
        "mine_s": finished - ingested,
        "total_s": finished - started,
    }


def bench_throughput(minutes: float) -> list[dict[str, str]]:
    inputs = {height: bench_videos(height, minutes) for height in (720, 1080)}
    rows = []
    with dask_cluster(workers=2) as address:
        backends: list[tuple[str, Callable[[], ComputeBackend]]] = [
            ("processes, 1 worker", lambda: ProcessPoolBackend(1)),
            ("processes, 2 workers", lambda: ProcessPoolBackend(2)),
            ("dask, 2 workers", lambda: DaskBackend(address)),
        ]
        for label, make in backends:
            with make() as backend:
                backend.map(warm_up, range(4))
                for height, videos in inputs.items():
                    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
                        result = run_pipeline(backend, videos, Path(scratch))
                    rows.append(
                        {
                            "backend": label,
                            "video": f"{height}p, {result['video_s'] / 60:.1f} min",
                            "clips": f"{result['clips']:.0f}",
                            "ingest s": f"{result['ingest_s']:.1f}",
                            "mine s": f"{result['mine_s']:.1f}",
                            "total s": f"{result['total_s']:.1f}",
                            "x real time": f"{result['video_s'] / result['total_s']:.2f}",
                        }
                    )
                    print_table(rows[-1:], header=len(rows) == 1)
    return rows


def print_table(rows: list[dict[str, str]], header: bool = True) -> None:
    if not rows:
        return
    widths = {key: max(len(key), *(len(row[key]) for row in rows)) for key in rows[0]}
    if header:
        print("| " + " | ".join(key.ljust(widths[key]) for key in rows[0]) + " |")
        print("|" + "|".join("-" * (widths[key] + 2) for key in rows[0]) + "|")
    for row in rows:
        print("| " + " | ".join(row[key].ljust(widths[key]) for key in row) + " |", flush=True)


def describe_machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    with create_engine(POSTGRES).connect() as connection:
        server = connection.execute(text("SHOW server_version")).scalar()
    return (
        f"{os.cpu_count()} cores, {memory:.0f} GiB, no GPU; Python {platform.python_version()}, "
        f"PostgreSQL {server}, SQLite {sqlite3.sqlite_version}; load average {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=50_000, help="clipped videos in the catalog")
    parser.add_argument("--clips-per-video", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=2.0, help="minutes of video per resolution")
    parser.add_argument("--skip-catalog", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the tables here")
    args = parser.parse_args()
    print(describe_machine(), flush=True)
    results: dict[str, list[dict[str, str]]] = {}
    if not args.skip_catalog:
        data = SyntheticCatalog(args.videos, args.clips_per_video)
        rows = []
        with throwaway_database(POSTGRES, "data_engine_bench") as url:
            rows.append(bench_catalog(url, "PostgreSQL", data))
            print_table(rows)
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
            rows.append(bench_catalog(f"sqlite:///{scratch}/catalog.db", "SQLite", data))
            print_table(rows[-1:], header=False)
        results["catalog"] = rows
    if not args.skip_throughput:
        results["throughput"] = bench_throughput(args.minutes)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
