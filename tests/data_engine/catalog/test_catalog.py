"""The catalog on SQLite and on a real PostgreSQL server: schema, clips, state machine, history."""

import json
import subprocess
import sys

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from data_engine.catalog import Catalog, ClipState, TransitionError, VideoStatus, clip_id_for
from data_engine.catalog.revisions import HEAD_REVISION
from data_engine.catalog.upgrade import alembic_config

VIDEO = "ab" * 32

OPEN_TWICE = """
import json, sys
from data_engine.catalog import Catalog
catalog = Catalog(sys.argv[1])
catalog.remember_inbox_files([{"source_uri": "/in/a.mp4", "size_bytes": 1, "mtime_ns": 1, "content_hash": "h"}])
catalog.dispose()
print(json.dumps(["alembic" in sys.modules, "sqlalchemy.dialects.postgresql.psycopg2" in sys.modules]))
"""


def _video(catalog: Catalog, video_id: str = VIDEO, frames: int = 30) -> None:
    catalog.register_video(
        video_id, f"/inbox/{video_id[:4]}.mp4", size_bytes=100, status=VideoStatus.REGISTERED, frames=frames, fps=25.0
    )


def _clip(catalog: Catalog, ordinal: int, video_id: str = VIDEO):
    return catalog.add_clip(
        video_id=video_id,
        ordinal=ordinal,
        first_frame=10 * ordinal,
        last_frame=10 * ordinal + 9,
        start_s=0.4 * ordinal,
        end_s=0.4 * ordinal + 0.36,
        path=f"clips/{video_id}/{ordinal:05d}/clip.mkv",
        method="copy",
        run_id="run-1",
    )


def test_migrations_bring_an_empty_database_to_head_and_are_idempotent(catalog_url: str) -> None:
    config = alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head == HEAD_REVISION, "a new migration: move HEAD_REVISION in data_engine/catalog/revisions.py to it"
    first = Catalog(catalog_url)
    assert first.schema_revision() == head
    first.dispose()
    again = Catalog(catalog_url)
    assert again.schema_revision() == head
    again.dispose()


def test_sqlite_catalog_runs_in_wal_mode(sqlite_catalog: Catalog) -> None:
    with sqlite_catalog.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_same_content_under_two_names_is_one_video_with_two_sources(catalog: Catalog) -> None:
    _, created = catalog.register_video(VIDEO, "/inbox/a.mp4", size_bytes=1, status=VideoStatus.REGISTERED)
    _, created_again = catalog.register_video(VIDEO, "/inbox/copy of a.mp4", size_bytes=1, status="registered")
    assert (created, created_again) == (True, False)
    assert len(catalog.videos()) == 1
    assert catalog.video_sources(VIDEO) == ["/inbox/a.mp4", "/inbox/copy of a.mp4"]


def test_adding_a_clip_twice_keeps_one_clip_and_one_creation_event(catalog: Catalog) -> None:
    _video(catalog)
    first = _clip(catalog, 0)
    second = _clip(catalog, 0)
    assert first.id == second.id == clip_id_for(VIDEO, 0)
    assert len(catalog.clips()) == 1
    assert [(e.from_state, e.to_state, e.run_id) for e in catalog.history(first.id)] == [(None, "extracted", "run-1")]


def test_clip_moves_forward_and_its_state_is_derivable_from_events(catalog: Catalog) -> None:
    _video(catalog)
    clips = [_clip(catalog, ordinal).id for ordinal in range(3)]
    assert catalog.transition(clips, ClipState.MINED, stage="mine", run_id="r2") == 3
    assert catalog.transition(clips[:1], ClipState.SELECTED, stage="select", detail={"frames": [3]}) == 1
    assert catalog.transition(clips[:1], ClipState.SELECTED, stage="select") == 0  # already there: no event
    assert catalog.transition(clips[1:2], ClipState.FAILED, stage="autolabel", detail={"error": "boom"}) == 1
    assert catalog.transition(clips[1:2], ClipState.MINED, stage="retry") == 1

    with pytest.raises(TransitionError, match="back to"):
        catalog.transition(clips[:1], ClipState.EXTRACTED, stage="oops")

    current = {clip.id: clip.status for clip in catalog.clips()}
    assert {clip_id: catalog.history(clip_id)[-1].to_state for clip_id in clips} == current, "the newest event"
    assert current == {clips[0]: "selected", clips[1]: "mined", clips[2]: "mined"}
    assert catalog.get_clip(clips[1]).attempts == 1
    assert [e.to_state for e in catalog.history(clips[1])] == ["extracted", "mined", "failed", "mined"]


def test_transition_of_an_unknown_clip_is_refused_and_changes_nothing(catalog: Catalog) -> None:
    _video(catalog)
    clip = _clip(catalog, 0)
    with pytest.raises(KeyError, match="unknown clip"):
        catalog.transition([clip.id, "nope-00000"], ClipState.MINED, stage="mine")
    assert catalog.get_clip(clip.id).status == "extracted"


def test_status_counts_every_state(catalog: Catalog) -> None:
    _video(catalog)
    _video(catalog, "cd" * 32)
    catalog.update_video("cd" * 32, status=VideoStatus.QUARANTINED, error="not a video")
    _clip(catalog, 0)
    counts = catalog.status_counts()
    assert counts["videos"] == {"registered": 1, "clipped": 0, "quarantined": 1, "failed": 0}
    assert counts["clips"]["extracted"] == 1
    assert sum(counts["clips"].values()) == 1


def test_batches_are_recorded_once_and_incomplete_until_every_video_is_done(catalog: Catalog) -> None:
    items = [("/inbox/a.mp4", VIDEO, 10), ("/inbox/b.mp4", "cd" * 32, 20)]
    assert catalog.create_batch("b1", "test", items) is True
    assert catalog.create_batch("b1", "test", items) is False
    assert [item.source_uri for item in catalog.batch_items("b1")] == ["/inbox/a.mp4", "/inbox/b.mp4"]
    assert catalog.batched_hashes([VIDEO, "ef" * 32]) == {VIDEO}
    assert catalog.incomplete_batches() == ["b1"]
    _video(catalog)
    catalog.update_video(VIDEO, status=VideoStatus.CLIPPED)
    assert catalog.incomplete_batches() == ["b1"]
    _video(catalog, "cd" * 32)
    catalog.update_video("cd" * 32, status=VideoStatus.QUARANTINED, error="bad")
    assert catalog.incomplete_batches() == []


def test_a_bad_catalog_url_is_a_clear_error() -> None:
    from data_engine.catalog import CatalogError

    with pytest.raises(CatalogError, match="not a valid SQLAlchemy URL"):
        Catalog("not a url at all")
    with pytest.raises(CatalogError, match="cannot open the catalog"):
        Catalog("postgresql+psycopg2://nobody@127.0.0.1:1/none")


def test_claims_never_overlap_and_expired_leases_come_back(catalog: Catalog) -> None:
    _video(catalog, frames=100)
    ids = [_clip(catalog, ordinal).id for ordinal in range(10)]
    first = catalog.claim_clips(ids[:4], ClipState.EXTRACTED, "worker-a")
    second = catalog.claim_clips(ids, ClipState.EXTRACTED, "worker-b")
    assert (first, second) == (ids[:4], ids[4:])
    assert catalog.claim_clips(ids, ClipState.EXTRACTED, "worker-c") == []

    catalog.transition(first, ClipState.MINED, stage="mine")
    assert all(c.claimed_by is None for c in catalog.clips(status="mined")), "a finished clip is released"

    catalog.release(second[:2], "worker-b")
    assert catalog.claim_clips(ids, ClipState.EXTRACTED, "worker-c") == second[:2]

    expired = catalog.claim_clips(ids, ClipState.EXTRACTED, "worker-d", lease_seconds=-1)
    assert expired == [], "everything left is leased"
    crashed = catalog.claim_clips(first, ClipState.MINED, "crashing", lease_seconds=-1)
    retaken = catalog.claim_clips(first, ClipState.MINED, "worker-e")
    assert crashed == retaken == first, "an expired lease is taken again"


def test_a_stage_records_its_results_and_the_move_only_on_clips_it_holds(catalog: Catalog) -> None:
    _video(catalog, frames=100)
    ids = [_clip(catalog, ordinal).id for ordinal in range(3)]
    assert catalog.claim_clips(ids, ClipState.EXTRACTED, "run-a") == ids
    assert catalog.claim_clips(ids, ClipState.EXTRACTED, "run-b") == [], "held by a live run"
    assert catalog.record_mined(ids[0], [], "run-b") is False
    assert catalog.record_mined(ids[0], [], "run-a") and catalog.record_mined(ids[1], [], "run-a")
    assert catalog.claim_clips(ids, ClipState.EXTRACTED, "run-b", gone=["run-a"]) == [ids[2]], "a dead run's lease"
    assert catalog.claim_clips(ids, ClipState.MINED, "run-c") == ids[:2]

    rows = [
        {"clip_id": clip_id, "frame": frame, "phash": 2**63 + frame, "reasons": {}, "budget_day": "2026-01-01"}
        for clip_id in ids[:2]
        for frame in (1, 2)
    ]
    assert catalog.record_selection(rows, "run-b") == {}, "run-b holds none of them: nothing recorded"
    assert catalog.selected_frames() == []
    assert catalog.record_selection(rows, "run-c") == {ids[0]: 2, ids[1]: 2}
    assert [clip.status for clip in catalog.clips()] == ["selected", "selected", "extracted"]
    assert all(clip.claimed_by is None for clip in catalog.clips(status="selected")), "the move ends the lease"


def test_two_concurrent_workers_process_every_clip_exactly_once(catalog: Catalog, catalog_url: str) -> None:
    import threading
    from collections import Counter

    _video(catalog, frames=1000)
    for ordinal in range(60):
        _clip(catalog, ordinal)
    processed: list[str] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        own = Catalog(catalog_url, migrate=False)
        while waiting := [clip.id for clip in own.clips(status="extracted")]:
            batch = own.claim_clips(waiting[:4], ClipState.EXTRACTED, name)  # [] while another worker holds them
            with lock:
                processed.extend(batch)
            own.transition(batch, ClipState.MINED, stage="mine", run_id=name)
        own.dispose()

    workers = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    counts = Counter(processed)
    assert len(counts) == 60 and set(counts.values()) == {1}
    assert catalog.status_counts()["clips"]["mined"] == 60
    assert all(len(catalog.history(clip_id)) == 2 for clip_id in counts)


def test_hits_replace_earlier_mining_of_the_same_clip(catalog: Catalog) -> None:
    _video(catalog)
    clip = _clip(catalog, 0)
    hit = {"trigger": "flicker", "first_frame": 3, "last_frame": 5, "score": 0.9, "details": {"k": 2}}
    assert catalog.claim_clips([clip.id], None, "run-1") == [clip.id]
    assert catalog.record_mined(clip.id, [hit, {**hit, "trigger": "frozen", "first_frame": 0}], "run-1", run_id="r1")
    assert catalog.claim_clips([clip.id], None, "run-2") == [clip.id]
    assert catalog.record_mined(clip.id, [hit], "run-2", run_id="r2")
    (only,) = catalog.hits(clip_id=clip.id)
    assert (only.trigger, only.first_frame, only.details, only.run_id) == ("flicker", 3, {"k": 2}, "r2")


def test_selected_frames_keep_full_64_bit_hashes_and_are_recorded_once(catalog: Catalog) -> None:
    _video(catalog)
    clip = _clip(catalog, 0)
    rows = [
        {
            "clip_id": clip.id,
            "frame": 4,
            "phash": 2**64 - 1,
            "reasons": {"why": ["flicker"]},
            "budget_day": "2026-11-21",
        },
        {"clip_id": clip.id, "frame": 7, "phash": 12345, "reasons": {}, "budget_day": "2026-11-21"},
    ]
    assert catalog.add_selected_frames(rows, run_id="r") == 2
    assert catalog.add_selected_frames(rows, run_id="r") == 0
    assert [(s.frame, s.phash) for s in catalog.selected_frames()] == [(4, 2**64 - 1), (7, 12345)]
    assert catalog.selected_count("2026-11-21") == 2 and catalog.selected_count("2026-11-22") == 0


def test_label_versions_and_annotation_runs_round_trip(catalog: Catalog) -> None:
    _video(catalog)
    clip = _clip(catalog, 0)
    catalog.add_label_version(clip.id, 1, kind="autolabel", path="labels/v0001.json", models={"ids": ["m"]})
    catalog.add_label_version(clip.id, 2, kind="review", path="labels/v0002.json", author="ann-1")
    assert [(v.version, v.kind, v.author) for v in catalog.label_versions(clip.id)] == [
        (1, "autolabel", None),
        (2, "review", "ann-1"),
    ]
    assert catalog.claim_push("run-1", "bundle", "bundle", "push-1", [(f"{clip.id}/4", clip.id, 4)]) == [f"{clip.id}/4"]
    catalog.finish_push("run-1", "bundle-1", {"tasks": {"1": [clip.id, 4]}})
    (run,) = catalog.annotation_runs()
    assert (run.status, run.project, run.record) == ("pushed", "bundle-1", {"tasks": {"1": [clip.id, 4]}})


def test_opening_a_current_catalog_loads_neither_alembic_nor_postgresql_on_sqlite(catalog_url: str) -> None:
    """Alembic (with mako and pygments) loads only to migrate: every command opens the catalog, and a current one
    is told by one query. PostgreSQL's dialect, which imports all its drivers, loads only for a catalog there."""
    loaded = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", OPEN_TWICE, catalog_url], check=True, capture_output=True, text=True
            ).stdout
        )
        for _ in range(2)
    ]
    alembic, postgresql = loaded[1]
    assert not alembic, "opening a catalog at the newest revision imported Alembic"
    assert postgresql == catalog_url.startswith("postgresql"), "a catalog on SQLite imported PostgreSQL's drivers"
    assert Catalog(catalog_url).inbox_index()["/in/a.mp4"].content_hash == "h"
    assert Catalog(catalog_url).schema_revision() == HEAD_REVISION
