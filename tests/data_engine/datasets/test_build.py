"""Dataset versions from reviewed labels: split per video with a frozen test split, a leak planted on purpose,
a stable class map, and every bad input with its clear error or report."""

import json
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from data_engine.autolabel.labels import LabelFile
from data_engine.catalog import Catalog
from data_engine.datasets import (
    DatasetConfig,
    DatasetError,
    LeakageError,
    SplitConfig,
    build_dataset,
    load_dataset,
    new_reviewed_frames,
)
from data_engine.datasets.records import DatasetRecords
from data_engine.detections import Detections
from data_engine.stages.train import build_training_dataset
from data_engine.store import Store
from data_engine.synthetic import generate
from data_engine.video.frames import iter_frames
from tests.data_engine.datasets.reviewed import add_review, ingest_videos, review_from_truth


@pytest.fixture(scope="session")
def extra_videos(tmp_path_factory):
    """Two more proving-ground videos besides the session's three (five groups to split)."""
    out = tmp_path_factory.mktemp("extra_videos")
    return tuple(generate(out, seed=seed) for seed in (104, 105))


@pytest.fixture
def reviewed(tmp_path, proving_ground, extra_videos):
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    store = Store(str(tmp_path / "store"))
    videos = [*proving_ground.train, *proving_ground.val, *extra_videos]
    ingest_videos(catalog, store, [video.video_path for video in videos])
    yield catalog, store, videos
    catalog.dispose()


def test_split_is_per_video_with_a_frozen_test_split_and_a_stable_class_map(reviewed):
    catalog, store, videos = reviewed
    for video in videos[:4]:
        review_from_truth(catalog, store, video, every=10)
    assert new_reviewed_frames(catalog, store) == sum(
        len(range(0, c.last_frame - c.first_frame + 1, 10)) for c in catalog.clips() if catalog.label_versions(c.id)
    )
    first = build_training_dataset(catalog, store, DatasetConfig(coco=True))
    assert new_reviewed_frames(catalog, store) == 0
    manifest = first.manifest
    by_video = {}
    for frame in manifest.frames:
        by_video.setdefault(frame.video_id, set()).add(frame.split)
    assert all(len(splits) == 1 for splits in by_video.values()), "all frames of a video share one split"
    assert len(by_video) == 4 and {s for splits in by_video.values() for s in splits} == {"train", "val", "test"}
    assert manifest.class_map == {0: "car", 1: "person"}
    assert first.data_yaml.is_file() and "test: images/test" in first.data_yaml.read_text()
    for frame in manifest.frames:
        label = first.root / frame.image.replace("images/", "labels/").replace(".jpg", ".txt")
        assert first.image_path(frame).is_file() and len(label.read_text().splitlines()) == frame.boxes
    coco = json.loads((first.root / "annotations" / "train.json").read_text())
    assert len(coco["images"]) == len(manifest.frames_in("train"))
    assert (
        len({a["id"] for a in coco["annotations"]})
        == len(coco["annotations"])
        == sum(frame.boxes for frame in manifest.frames_in("train"))
    )
    assert {clip.status for clip in catalog.clips() if clip.video_id in by_video} == {"in_dataset"}

    again = build_dataset(catalog, store)
    assert (again.dataset_id, again.created) == (first.dataset_id, False), "same reviewed labels, same version"

    # a fifth video arrives with a new class; the test videos stay in test whatever the fractions say now
    (fifth,) = [row for row in catalog.videos() if Path(row.source_uri) == videos[4].video_path]
    clip = catalog.clips(video_id=fifth.id)[0]
    truth = videos[4].truth()
    names = {0: "car", 1: "person", 2: "bicycle"}
    frames = [
        truth.boxes_at(clip.first_frame + i, 0.4).with_names(names)
        for i in range(clip.last_frame - clip.first_frame + 1)
    ]
    frames[0] = frames[0].concat([frames[0], _box(2, names)]) if len(frames[0]) else _box(2, names)
    add_review(
        catalog,
        store,
        clip,
        LabelFile(
            clip.id,
            0,
            "review",
            len(frames),
            truth.width,
            truth.height,
            names,
            tuple(frames),
            stats={"review": {"frames": {"0": {}, "10": {}}}},
        ),
    )
    assert new_reviewed_frames(catalog, store) == 2
    second = build_dataset(catalog, store, DatasetConfig(split=SplitConfig(fractions=(1.0, 0.0, 0.0))))
    assert second.dataset_id == "ds-0002"
    assert second.manifest.class_map == {0: "car", 1: "person", 2: "bicycle"}, "new classes append"
    first_test = {f.video_id for f in manifest.frames_in("test")}
    assert {f.video_id for f in second.manifest.frames_in("test")} == first_test
    assert {f.video_id: f.split for f in second.manifest.frames if f.video_id in by_video} == {
        f.video_id: f.split for f in manifest.frames
    }
    assert second.manifest.splits[fifth.id] == "train"
    assert "bicycle" in second.report.classes_missing_from_test, "a class in train but not in test is reported"
    assert load_dataset(catalog, store, "ds-0002").manifest.content_hash == second.manifest.content_hash
    with pytest.raises(DatasetError, match="frozen test split"):
        build_dataset(catalog, store, DatasetConfig(split=SplitConfig(assign={next(iter(first_test)): "train"})))


def _box(class_id, names):
    return Detections(np.array([[10, 10, 40, 40]]), np.ones(1), np.array([class_id]), names=names)


def test_a_planted_leak_fails_the_build(reviewed, tmp_path):
    catalog, store, videos = reviewed
    copy = _reencode(videos[0].video_path, tmp_path / "leak" / "same_scene_other_camera.mp4")
    ingest_videos(catalog, store, [copy])
    review_from_truth(catalog, store, videos[0], every=25)
    review_from_truth(catalog, store, replace(videos[0], video_path=copy), every=25)
    review_from_truth(catalog, store, videos[1], every=25)
    review_from_truth(catalog, store, videos[2], every=25)
    (original,) = [v.id for v in catalog.videos() if Path(v.source_uri) == videos[0].video_path]
    (leaked,) = [v.id for v in catalog.videos() if Path(v.source_uri) == copy]
    (other,) = [v.id for v in catalog.videos() if Path(v.source_uri) == videos[1].video_path]
    (third,) = [v.id for v in catalog.videos() if Path(v.source_uri) == videos[2].video_path]
    split = SplitConfig(assign={original: "train", leaked: "test", other: "val", third: "test"})
    with pytest.raises(LeakageError, match="within 8 bits of a val/test image") as caught:
        build_dataset(catalog, store, DatasetConfig(split=split))
    assert caught.value.leaks and all(leak.other_split == "test" for leak in caught.value.leaks)
    assert DatasetRecords(catalog).dataset_versions() == [], "a leaking build records nothing"
    assert not list((Path(store.root) / "datasets").glob("ds-*")), "nor leaves files"
    assert {c.status for c in catalog.clips()} == {"extracted"}, "clips do not move"

    together = SplitConfig(assign={original: "train", leaked: "train", other: "val", third: "test"})
    assert build_dataset(catalog, store, DatasetConfig(split=together)).created, "near-duplicates in one split are fine"


def _reencode(source: Path, target: Path) -> Path:
    """The same pictures under another encoder setting: another file, another video id, near-identical frames."""
    target.parent.mkdir(parents=True)
    with av.open(str(target), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.bit_rate = 2_000_000
        for frame in iter_frames(source):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame.image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return target


def test_bad_inputs_fail_clearly_or_are_rejected_with_a_report(reviewed):
    catalog, store, videos = reviewed
    with pytest.raises(DatasetError, match="no reviewed labels"):
        build_dataset(catalog, store)

    clips = [catalog.clips(video_id=_video_id(catalog, video))[0] for video in videos]
    names = dict(videos[0].truth().names)
    count = clips[0].last_frame - clips[0].first_frame + 1
    empty = tuple([Detections.empty(names)] * count)
    one_frame = LabelFile(
        clips[0].id, 0, "review", count, 320, 240, names, empty, stats={"review": {"frames": {"3": {}}}}
    )
    add_review(catalog, store, clips[0], one_frame)
    with pytest.raises(DatasetError, match="single image"):
        build_dataset(catalog, store)

    review_from_truth(catalog, store, videos[1], every=25)
    with pytest.raises(DatasetError, match="would get no images: 2 group"):
        build_dataset(catalog, store)
    assert DatasetRecords(catalog).dataset_versions() == []

    # the fourth video's review refers to a frame past the end of its clip; the fifth video's label file is damaged
    fourth = clips[3].last_frame - clips[3].first_frame + 1
    beyond = replace(one_frame, clip_id=clips[3].id, frame_count=fourth + 20, frames=(empty[0],) * (fourth + 20))
    add_review(catalog, store, clips[3], replace(beyond, stats={"review": {"frames": {"0": {}, str(fourth + 5): {}}}}))
    version = add_review(catalog, store, clips[4], replace(one_frame, clip_id=clips[4].id))
    store.local_path(clips[4].path).parent.joinpath("labels", f"v{version:04d}.json").write_text("{not json")
    review_from_truth(catalog, store, videos[2], every=25)

    build = build_training_dataset(catalog, store)
    rejected = {item.clip_id: item.reason for item in build.report.rejected}
    assert rejected.keys() == {clips[3].id, clips[4].id}
    assert f"refers to frame(s) [{fourth + 5}] but the clip has {fourth} frames" in rejected[clips[3].id]
    assert "unreadable label file" in rejected[clips[4].id] and "not valid JSON" in rejected[clips[4].id]
    assert {frame.clip_id for frame in build.manifest.frames}.isdisjoint(rejected)
    assert build.report.to_json() == DatasetRecords(catalog).get_dataset(build.dataset_id).report
    assert catalog.get_clip(clips[3].id).status == "extracted", "a rejected clip does not move to in_dataset"


def _video_id(catalog, video):
    (row,) = [v.id for v in catalog.videos() if Path(v.source_uri) == video.video_path]
    return row


def test_the_test_split_is_frozen_by_the_first_version_across_three_versions(reviewed):
    """New videos go to train or val whatever the fractions say, frames of a test video reviewed later go to
    new_test, and relabelled test frames keep their place: every version's test split is the same images."""
    catalog, store, videos = reviewed
    ids = {Path(row.source_uri): row.id for row in catalog.videos()}
    first_three = [ids[video.video_path] for video in videos[:3]]
    for video in videos[:3]:
        review_from_truth(catalog, store, video, every=10)
    split = SplitConfig(assign=dict(zip(first_three, ("train", "val", "test"), strict=True)))
    first = build_dataset(catalog, store, DatasetConfig(split=split))
    frozen = {(frame.clip_id, frame.frame) for frame in first.manifest.frames_in("test")}
    assert frozen and first.report.warnings == ()

    # round two: a new video while the fractions ask for test, and more reviewed frames of the test video
    review_from_truth(catalog, store, videos[3], every=10)
    review_from_truth(catalog, store, videos[2], every=5)
    mostly_test = DatasetConfig(split=SplitConfig(fractions=(0.05, 0.05, 0.9)))
    second = build_dataset(catalog, store, mostly_test)
    assert {(frame.clip_id, frame.frame) for frame in second.manifest.frames_in("test")} == frozen
    assert second.manifest.splits[ids[videos[3].video_path]] in ("train", "val"), "new videos never join test"
    new_test = second.manifest.frames_in("new_test")
    assert new_test and {frame.video_id for frame in new_test} == {first_three[2]}
    assert not {(frame.clip_id, frame.frame) for frame in new_test} & frozen
    assert second.manifest.counts()["new_test"]["images"] == len(new_test)
    assert all((second.root / frame.image).is_file() for frame in new_test)
    assert "test: images/test" in second.data_yaml.read_text() and "new_test" not in second.data_yaml.read_text()

    # round three: another video, and a correction of a frozen test frame's labels keeps the image in test
    review_from_truth(catalog, store, videos[4], every=10)
    review_from_truth(catalog, store, videos[2], every=5, min_visibility=0.9)
    with pytest.raises(DatasetError, match="frozen by the first dataset version"):
        build_dataset(catalog, store, DatasetConfig(split=SplitConfig(assign={ids[videos[4].video_path]: "test"})))
    third = build_dataset(catalog, store, mostly_test)
    assert third.dataset_id == "ds-0003"
    assert {(frame.clip_id, frame.frame) for frame in third.manifest.frames_in("test")} == frozen
    versions = {frame.label_version for frame in third.manifest.frames_in("test")}
    assert versions == {max(v.version for v in catalog.label_versions(frame.clip_id)) for frame in new_test}
    assert third.manifest.splits[ids[videos[4].video_path]] in ("train", "val")
    counts = [version.manifest.counts()["test"]["images"] for version in (first, second, third)]
    assert counts == [len(frozen)] * 3


def test_a_degenerate_split_is_reported(reviewed):
    """Three videos, the one in train with a single reviewed frame per clip: the build says so instead of staying
    quiet."""
    catalog, store, videos = reviewed
    for video, every in zip(videos[:3], (1000, 10, 10), strict=True):
        review_from_truth(catalog, store, video, every=every)
    by_path = {Path(row.source_uri): row.id for row in catalog.videos()}
    train_video = by_path[videos[0].video_path]
    split = SplitConfig(fractions=(0, 0, 1), assign={train_video: "train", by_path[videos[1].video_path]: "val"})
    built = build_dataset(catalog, store, DatasetConfig(split=split))
    images = built.manifest.counts()["train"]["images"]
    assert images == len(catalog.clips(video_id=train_video)) < 10
    (warning,) = built.report.warnings
    assert warning.startswith(f"degenerate split: train holds {images} image(s) from 1 group(s)")
    assert load_dataset(catalog, store, built.dataset_id).report.warnings == (warning,)
