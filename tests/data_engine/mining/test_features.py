"""Per-frame features: real decoding of the sample videos, phash bit-exactness against imagehash, Parquet files."""

from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from data_engine.mining.features import (
    FEATURE_COLUMNS,
    FeaturesError,
    FrameFeatures,
    compute_features,
    hamming,
    phash_batch,
    phash_thumbnail,
    read_features,
    write_features,
)
from data_engine.mining.triggers import run_triggers
from data_engine.video.frames import iter_frames

SAMPLE_FRAME_COUNTS = {"crowd_overhead_720p.avi": 341, "dancer_518x496.avi": 1571}


@pytest.fixture(scope="session")
def sample_features(sample_videos: Path) -> dict[str, FrameFeatures]:
    return {name: compute_features(sample_videos / name) for name in SAMPLE_FRAME_COUNTS}


@pytest.mark.parametrize("name", sorted(SAMPLE_FRAME_COUNTS))
def test_one_row_per_decodable_frame_in_time_order(sample_features: dict[str, FrameFeatures], name: str) -> None:
    features = sample_features[name]
    assert features.columns == FEATURE_COLUMNS
    assert len(features) == SAMPLE_FRAME_COUNTS[name]
    assert features["frame_index"].tolist() == list(range(SAMPLE_FRAME_COUNTS[name]))
    assert np.all(np.diff(features["pts_s"]) > 0)
    assert features["phash"].dtype == np.uint64
    assert all(np.isfinite(features[name]).all() for name in ("brightness_mean", "diff_prev", "sharpness"))
    assert ((features["brightness_mean"] >= 1) & (features["brightness_mean"] <= 254)).all()
    assert features["diff_prev"][0] == 0 and (features["diff_prev"][1:] > 0).any()


def test_real_footage_triggers_no_cut_or_glitch(sample_features: dict[str, FrameFeatures]) -> None:
    for features in sample_features.values():
        assert [hit for hit in run_triggers(features) if hit.trigger in ("cut", "glitch")] == []


def test_phash_is_bit_for_bit_imagehash_on_real_frames(sample_videos: Path) -> None:
    """Same 32x32 thumbnail in, same 64 bits out (imagehash leaves a 32x32 image as it is)."""
    lumas = [
        frame.image
        for name in SAMPLE_FRAME_COUNTS
        for frame in iter_frames(sample_videos / name, pixel_format="gray", width=160)
        if frame.index % 7 == 0
    ]
    lumas += [np.zeros_like(lumas[0]), np.full_like(lumas[0], 200), np.tile(np.arange(160, dtype=np.uint8), (90, 1))]
    thumbnails = [phash_thumbnail(luma) for luma in lumas]
    ours = phash_batch(np.stack(thumbnails))
    theirs = np.array([int(str(imagehash.phash(Image.fromarray(t))), 16) for t in thumbnails], dtype=np.uint64)
    assert len(lumas) > 250
    assert np.array_equal(ours, theirs)
    assert len(np.unique(ours)) > 50


def test_hamming_counts_differing_bits() -> None:
    a = np.array([0, 0b1011, 2**64 - 1], dtype=np.uint64)
    b = np.array([0, 0b0001, 0], dtype=np.uint64)
    assert hamming(a, b).tolist() == [0, 2, 64]


def test_parquet_round_trip_keeps_values_and_types(sample_features: dict[str, FrameFeatures], tmp_path: Path) -> None:
    features = sample_features["crowd_overhead_720p.avi"]
    path = write_features(features, tmp_path / "clip" / "features.parquet")
    assert sorted(p.name for p in path.parent.iterdir()) == ["features.parquet"]
    read = read_features(path)
    assert read == features
    assert all(read[name].dtype == features[name].dtype for name in FEATURE_COLUMNS)


def test_clip_with_injected_events_has_telltale_features(event_clip) -> None:
    features = compute_features(event_clip.path, width=96)
    assert len(features) == event_clip.frame_count
    brightness = features["brightness_mean"]
    assert brightness[event_clip.flicker[0]] - brightness[event_clip.flicker[0] - 1] > 25
    assert features["diff_prev"][event_clip.frozen[0] + 1 : event_clip.frozen[1] + 1].max() < 0.5
    frozen_blocks = features["block_diff_max"][event_clip.frozen[0] + 1 : event_clip.frozen[1] + 1]
    assert frozen_blocks.max() < 0.3 < features["block_diff_max"][1 : event_clip.frozen[0]].min()
    assert features["texture_diff_prev"][event_clip.glitch] > 0.9
    assert features["sharpness"][event_clip.glitch] > 50 * np.median(features["sharpness"])


def test_progress_reports_frames_done(event_clip) -> None:
    seen: list[int] = []
    compute_features(event_clip.path, progress=seen.append)
    assert seen == [100, event_clip.frame_count]


def test_missing_clip_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FeaturesError, match="does not exist"):
        compute_features(tmp_path / "absent.mp4")


def test_non_video_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video")
    with pytest.raises(FeaturesError, match="cannot decode"):
        compute_features(path)


def test_too_small_width_is_rejected(event_clip) -> None:
    with pytest.raises(FeaturesError, match="at least 32"):
        compute_features(event_clip.path, width=16)


def test_features_need_every_column_of_one_length_and_type() -> None:
    columns = {name: np.zeros(3) for name in FEATURE_COLUMNS} | {"frame_index": [0, 1, 2], "phash": [5, 6, 7]}
    features = FrameFeatures(columns)
    assert len(features) == 3 and features["frame_index"].dtype == np.int64 and features["phash"].dtype == np.uint64
    with pytest.raises(ValueError, match="read-only"):
        features["pts_s"][0] = 1.0
    with pytest.raises(FeaturesError, match="lacks columns"):
        FrameFeatures({"frame_index": [0]})
    with pytest.raises(FeaturesError, match="unknown ones"):
        FrameFeatures(columns | {"depth": np.zeros(3)})
    with pytest.raises(FeaturesError, match="differ in length"):
        FrameFeatures(columns | {"sharpness": np.zeros(2)})
    with pytest.raises(FeaturesError, match="frame_index holds float64"):
        FrameFeatures(columns | {"frame_index": np.array([0.0, 1.5, 2.0])})
    with pytest.raises(FeaturesError, match="phash holds int64"):
        FrameFeatures(columns | {"phash": np.array([-1, 0, 1])})


def test_a_row_slice_and_the_arrow_table_keep_the_features(sample_features: dict[str, FrameFeatures]) -> None:
    features = sample_features["crowd_overhead_720p.avi"]
    every_other = features.rows(slice(1, None, 2))
    assert every_other["frame_index"].tolist() == list(range(1, len(features), 2))
    assert FrameFeatures.from_table(every_other.to_table()) == every_other
    table = features.to_table()
    chunked = pa.concat_tables([table.slice(0, 100), table.slice(100)])
    assert FrameFeatures.from_table(chunked.slice(50)) == features.rows(slice(50, None))
    assert FrameFeatures.from_table(table.slice(0, 0)) == features.rows(slice(0, 0))


def test_reading_a_missing_or_foreign_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FeaturesError, match="does not exist"):
        read_features(tmp_path / "absent.parquet")
    (tmp_path / "garbage.parquet").write_bytes(b"garbage")
    with pytest.raises(FeaturesError, match="not readable Parquet"):
        read_features(tmp_path / "garbage.parquet")
    pd.DataFrame({"frame_index": [0, 1]}).to_parquet(tmp_path / "other.parquet")
    with pytest.raises(FeaturesError, match="expected"):
        read_features(tmp_path / "other.parquet")


def test_phash_batch_rejects_wrong_shape() -> None:
    with pytest.raises(FeaturesError, match=r"\(n, 32, 32\)"):
        phash_batch(np.zeros((2, 16, 16), dtype=np.uint8))
