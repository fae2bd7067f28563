"""The mining stage over the catalog: features once, hits recorded, selection within budget and without duplicates."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from data_engine.catalog import Catalog, ClipState
from data_engine.cli import main
from data_engine.context import StageContext
from data_engine.layout import features_key
from data_engine.mining.features import compute_features, hamming, read_features
from data_engine.settings import Settings
from data_engine.stages.mine import MiningConfig, compute_batch_features, mine_batch_triggers, select_batch
from data_engine.store import Store
from data_engine.synthetic import generate
from tests.data_engine.stages.test_ingest_stage import _age, ingest
from tests.videos import make_test_video


@pytest.fixture
def mined(sqlite_catalog: Catalog, store: Store, tmp_path: Path) -> tuple[Catalog, Store, str]:
    videos = [_age(generate(tmp_path / "videos", seed=seed, seconds=8).video_path) for seed in (11, 12)]
    (report,) = ingest(sqlite_catalog, store, videos, clip_seconds=4.0)
    batch = report.batch_key
    features = compute_batch_features(StageContext(sqlite_catalog, store, Settings()), batch)
    assert features.clips == len(sqlite_catalog.clips()) and features.frames == 400
    hits = mine_batch_triggers(StageContext(sqlite_catalog, store, Settings(), run_id="run-m"), batch)
    assert hits.per_trigger["flicker"] >= 2, "the proving ground injects lighting flicker"
    return sqlite_catalog, store, batch


def test_features_ride_on_the_ingest_probe_and_equal_decoding_each_clip(
    sqlite_catalog: Catalog, store: Store, tmp_path: Path, sample_videos: Path
) -> None:
    """Ingest decodes every frame to probe; mining cuts each clip's features out of that pass instead of decoding
    the clip again, and gets what decoding the clip itself gives (B-frame reordering and AVI timestamps included)."""
    reordered = _age(make_test_video(tmp_path / "bframes.mp4", frames=120, size=(320, 240), gop=25, bframes=2))
    (report,) = ingest(sqlite_catalog, store, [reordered, sample_videos / "crowd_overhead_720p.avi"], clip_seconds=2)
    clips = sqlite_catalog.clips()
    assert len(clips) > 4 and {clip.method for clip in clips} == {"copy"}
    features = compute_batch_features(StageContext(sqlite_catalog, store, Settings()), report.batch_key)
    assert features.from_ingest == features.clips == len(clips), "no clip decoded again"
    for clip in clips:
        cut = read_features(store.fetch(features_key(clip)))
        decoded = compute_features(store.fetch(clip.path))
        assert all(np.array_equal(cut[name], decoded[name]) for name in cut.columns if name != "pts_s")
        np.testing.assert_allclose(np.diff(cut["pts_s"]), np.diff(decoded["pts_s"]), atol=2e-3)


def test_features_are_stored_once_and_hits_are_catalog_rows(mined: tuple[Catalog, Store, str]) -> None:
    catalog, store, batch = mined
    assert all(store.exists(features_key(clip)) for clip in catalog.clips())
    assert {clip.status for clip in catalog.clips()} == {ClipState.MINED}
    assert compute_batch_features(StageContext(catalog, store, Settings()), batch).clips == 0, "not decoded again"
    hit = catalog.hits(batch_key=batch)[0]
    assert 0 <= hit.score <= 1 and hit.run_id == "run-m"
    assert catalog.history(hit.clip_id)[-1].detail["hits"]


def test_selection_respects_the_budget_and_never_selects_near_duplicates(mined: tuple[Catalog, Store, str]) -> None:
    catalog, store, batch = mined
    config = MiningConfig(budget_per_day=5)
    day = "2026-11-21"
    report = select_batch(StageContext(catalog, store, Settings(), run_id="s1", budget_day=day), batch, config=config)
    frames = catalog.selected_frames()
    assert 0 < report.selected == len(frames) <= 5
    hashes = np.array([frame.phash for frame in frames], dtype=np.uint64)
    distances = hamming(hashes[:, None], hashes[None, :]) + np.eye(len(hashes), dtype=np.int64) * 64
    assert distances.min() > config.duplicate_distance
    assert all(frame.reasons["reasons"] for frame in frames), "every frame records why it was chosen"
    assert {c.status for c in catalog.clips() if c.id in {f.clip_id for f in frames}} == {ClipState.SELECTED}

    again = select_batch(StageContext(catalog, store, Settings(), budget_day=day), batch, config=config)
    assert again.budget_left == 0 and again.selected == 0 and catalog.selected_count(day) <= 5


def test_a_budget_of_zero_selects_nothing(mined: tuple[Catalog, Store, str]) -> None:
    catalog, store, batch = mined
    report = select_batch(StageContext(catalog, store, Settings()), batch, config=MiningConfig(budget_per_day=0))
    assert report.selected == 0 and catalog.selected_frames() == []


def test_cli_mine_triggers_and_selection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    runner = CliRunner()
    video = _age(generate(tmp_path / "videos", seed=13, seconds=6).video_path)
    assert runner.invoke(main, ["ingest", str(video)]).exit_code == 0
    mined = runner.invoke(main, ["mine"])
    assert mined.exit_code == 0, mined.output
    assert "cold start" in mined.output
    hits = json.loads(runner.invoke(main, ["triggers", "--json"]).output)
    assert hits and set(hits[0]) == {
        "clip_id",
        "trigger",
        "first_clip_frame",
        "last_clip_frame",
        "first_video_frame",
        "last_video_frame",
        "score",
    }
    selected = json.loads(runner.invoke(main, ["selection", "--json"]).output)
    assert selected and {"clip_id", "clip_frame", "video_frame", "reasons"} <= set(selected[0])
    shown = json.loads(runner.invoke(main, ["clip", "show", selected[0]["clip_id"], "--json"]).output)
    assert shown["status"] == "selected" and shown["hits"] and shown["selected"]
