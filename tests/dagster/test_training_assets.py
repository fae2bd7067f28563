"""The training assets: a leak planted in the reviewed data makes the blocking `no_leakage` check fail on the
dataset version `training_dataset` materialized, and the candidate is never trained."""

import shutil
from dataclasses import replace
from pathlib import Path

import dagster as dg

from assets.training import candidate_model, champion_model, training_dataset
from data_engine.catalog import Catalog
from data_engine.datasets import DatasetConfig, SplitConfig, build_dataset
from data_engine.datasets.splits import hash_unit
from data_engine.registry.records import RetrainingRecords
from data_engine.store import Store
from data_engine.synthetic import generate
from tests.dagster.engine import resources_at
from tests.data_engine.datasets.reviewed import ingest_videos, review_from_truth


def test_a_planted_leak_fails_no_leakage_and_blocks_the_candidate(tmp_path: Path) -> None:
    """Dataset v1 froze the splits of three videos. The footage of one of them (in test) was uploaded a second time
    under another name; when the other copy is reviewed it is a new video, drawn into train: the same frames now
    sit in train and in test."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog, store = Catalog(url), Store(str(tmp_path / "store"))
    videos = [generate(tmp_path / "videos", seed=seed, seconds=3) for seed in (201, 202, 203, 204)]
    ingest_videos(catalog, store, [video.video_path for video in videos])
    video_id = {Path(row.source_uri): row.id for row in catalog.videos()}
    drawn_into_train = [video for video in videos if hash_unit(video_id[video.video_path]) < 0.7]
    original = drawn_into_train[0]
    other, third = [video for video in videos if video is not original][:2]
    reupload = tmp_path / "reupload" / "same_footage.mp4"
    reupload.parent.mkdir()
    shutil.copy(original.video_path, reupload)
    with reupload.open("ab") as extra:
        extra.write(b"\0" * 16)  # another file, another video id, the very same frames
    ingest_videos(catalog, store, [reupload])
    copy = replace(original, video_path=reupload)
    for video in (copy, other, third):
        review_from_truth(catalog, store, video, every=25)
    ids = {Path(row.source_uri): row.id for row in catalog.videos()}
    frozen = {ids[reupload]: "test", ids[other.video_path]: "val", ids[third.video_path]: "train"}
    first = build_dataset(catalog, store, DatasetConfig(split=SplitConfig(assign=frozen)))
    review_from_truth(catalog, store, original, every=25)

    result = dg.materialize(
        [training_dataset, candidate_model, champion_model],
        resources=resources_at(tmp_path, url),
        raise_on_error=False,
    )

    assert not result.success
    (materialized,) = result.asset_materializations_for_node("training_dataset")
    leaking = materialized.metadata["dataset"].value
    assert leaking != first.dataset_id, "a new version was built and recorded"
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "no_leakage" and not check.passed
    assert check.metadata["dataset"].value == leaking and check.metadata["leaks"].value >= 3
    assert "(0 bits)" in check.metadata["first_leaks"].value
    assert not result.asset_materializations_for_node("candidate_model"), "the blocking check stopped the candidate"
    assert RetrainingRecords(catalog).get_training_run(result.run_id) is None, "nothing was trained"
    catalog.dispose()
