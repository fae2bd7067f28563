"""The proving ground: determinism, exact truth, and that each injected event really is in the pixels."""

import json

import av
import cv2
import numpy as np
import pytest

from data_engine.synthetic import (
    CLASS_NAMES,
    HARD_CONDITIONS,
    HardCases,
    SyntheticError,
    TruthError,
    available_codec,
    build_yolo_dataset,
    generate,
    load_truth,
)
from data_engine.video.frames import iter_frames


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("pg"), seed=7)


@pytest.fixture(scope="module")
def frames(video):
    return [frame.image for frame in iter_frames(video.video_path)]


def test_same_seed_same_truth_other_seed_other_truth(tmp_path, video):
    again = generate(tmp_path, seed=7)
    assert again.truth_path.read_text() == video.truth_path.read_text()
    other = generate(tmp_path, seed=8)
    assert other.truth_path.read_text() != video.truth_path.read_text()


def test_video_decodes_with_expected_geometry(video, frames):
    truth = video.truth()
    assert truth.frame_count == 250 and len(frames) == 250
    assert frames[0].shape == (240, 320, 3)
    with av.open(str(video.video_path)) as container:
        codec = container.streams.video[0].codec_context.name
    assert codec == ("h264" if available_codec() == "libx264" else "mpeg4")


def test_truth_has_both_classes_entries_exits_and_crossings(video):
    truth = video.truth()
    assert truth.names == CLASS_NAMES
    classes = {box.class_id for boxes in truth.frames for box in boxes}
    assert classes == {0, 1}
    first_seen: dict[int, int] = {}
    last_seen: dict[int, int] = {}
    for index, boxes in enumerate(truth.frames):
        for box in boxes:
            first_seen.setdefault(box.track_id, index)
            last_seen[box.track_id] = index
    assert any(frame > 0 for frame in first_seen.values()), "some object must enter after the start"
    assert any(frame < truth.frame_count - 1 for frame in last_seen.values()), "some object must leave"
    partly_hidden = [box for boxes in truth.frames for box in boxes if 0.05 < box.visibility < 0.95]
    assert partly_hidden, "objects must occlude each other or be cut by the border"
    detections = truth.boxes_at(100)
    assert len(detections) == len([b for b in truth.frames[100] if b.visibility > 0])
    assert detections.names == CLASS_NAMES and set(detections.confidence.tolist()) == {1.0}


def test_every_event_type_is_recorded_and_visible_in_the_pixels(video, frames):
    truth = video.truth()
    assert {event.type for event in truth.events} == {
        "flicker",
        "full_occlusion",
        "motion_blur",
        "distractor",
        "static",
    }
    gray = [cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32) for image in frames]
    for event in truth.events_of("flicker"):
        before = gray[event.first_frame - 1].mean()
        assert abs(gray[event.first_frame].mean() - before) > 25
    for event in truth.events_of("full_occlusion"):
        for frame in range(event.first_frame, event.last_frame + 1):
            hidden = [box for box in truth.frames[frame] if box.track_id == event.track_id]
            assert hidden and hidden[0].visibility == 0.0
            assert event.track_id not in truth.boxes_at(frame).track_id.tolist()
    for event in truth.events_of("motion_blur"):
        sharpness = cv2.Laplacian(gray[event.first_frame], cv2.CV_32F).var()
        assert sharpness < 0.7 * cv2.Laplacian(gray[event.first_frame - 1], cv2.CV_32F).var()
    for event in truth.events_of("static"):
        middle = event.first_frame + 2
        assert truth.frames[middle] == truth.frames[middle + 1]
        assert np.abs(gray[middle] - gray[middle + 1]).mean() < 6
    for event in truth.events_of("distractor"):
        assert event.track_id >= 1000
        assert any(box.track_id == event.track_id for box in truth.distractors[event.first_frame])


def test_bad_parameters_and_truth_files_raise_clear_errors(tmp_path):
    with pytest.raises(SyntheticError, match="even"):
        generate(tmp_path, seed=1, size=(321, 240))
    with pytest.raises(SyntheticError, match="at least 10"):
        generate(tmp_path, seed=1, seconds=0.1)
    with pytest.raises(TruthError, match="does not exist"):
        load_truth(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text(json.dumps({"schema": "something-else"}))
    with pytest.raises(TruthError, match="not a data-engine/synthetic-truth"):
        load_truth(tmp_path / "other.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(TruthError, match="not valid JSON"):
        load_truth(tmp_path / "broken.json")


def test_yolo_dataset_from_videos(tmp_path, video):
    data_yaml = build_yolo_dataset(tmp_path / "ds", train=[video], val=[video], every=25)
    assert "names:\n  0: car\n  1: person" in data_yaml.read_text()
    images = sorted((tmp_path / "ds" / "images" / "train").glob("*.jpg"))
    labels = sorted((tmp_path / "ds" / "labels" / "train").glob("*.txt"))
    assert len(images) == len(labels) == 10
    first = labels[0].read_text().splitlines()
    assert first and all(len(line.split()) == 5 for line in first)


@pytest.fixture(scope="module")
def hard_video(tmp_path_factory):
    """Half the frames hard, so that one 10 s video holds every condition."""
    return generate(tmp_path_factory.mktemp("hard"), seed=5, seconds=10, hard_cases=HardCases(share=0.5))


def test_hard_cases_are_labelled_per_frame_and_visible_in_the_pixels(hard_video):
    truth = hard_video.truth()
    frames = [
        cv2.cvtColor(frame.image, cv2.COLOR_BGR2GRAY).astype(np.float32) for frame in iter_frames(hard_video.video_path)
    ]
    kinds = {event.type for event in truth.events}
    assert kinds <= set(HARD_CONDITIONS) and len(kinds) >= 4
    hard = truth.hard_frames()
    for event in truth.events:
        for frame in (event.first_frame, event.last_frame):
            assert event.type in truth.conditions_at(frame) and frame in hard
        assert truth.conditions_at(event.first_frame - 1) == () or event.first_frame - 1 in hard
    for event in truth.events_of("lighting"):
        assert abs(frames[event.first_frame].mean() - frames[event.first_frame - 2].mean()) > 20
    for event in truth.events_of("motion_blur"):
        before = cv2.Laplacian(frames[event.first_frame - 2], cv2.CV_32F).var()
        assert cv2.Laplacian(frames[event.first_frame], cv2.CV_32F).var() < 0.6 * before
    for event in truth.events_of("long_occlusion"):
        boxes = [
            b
            for f in range(event.first_frame, event.last_frame + 1)
            for b in truth.frames[f]
            if b.track_id == event.track_id
        ]
        assert boxes and all(0.4 <= box.visibility <= 0.7 for box in boxes), "half hidden: labelled, and hard"
    for event in truth.events_of("border"):
        (box,) = [b for b in truth.frames[event.first_frame] if b.track_id == event.track_id]
        assert box.xyxy[0] == 0 or box.xyxy[2] == truth.width
    for event in truth.events_of("rare_look"):
        assert any(b.track_id == event.track_id for b in truth.frames[(event.first_frame + event.last_frame) // 2])


def test_the_easy_majority_is_nearly_static_and_the_share_is_a_parameter(tmp_path):
    shares = []
    for seed in range(8):
        truth = generate(tmp_path, seed=seed, seconds=10, hard_cases=HardCases()).truth()
        shares.append(len(truth.hard_frames()) / truth.frame_count)
        easy = [
            f for f in range(1, truth.frame_count) if f not in truth.hard_frames() and f - 1 not in truth.hard_frames()
        ]
        moves = [
            max(abs(a.xyxy[0] - b.xyxy[0]) for a, b in zip(truth.frames[f], truth.frames[f - 1], strict=False))
            for f in easy
            if truth.frames[f] and truth.frames[f - 1]
        ]
        assert np.median(moves) <= 2.0, "objects move a pixel or two per frame: near-duplicate frames"
    assert 0.01 < np.mean(shares) < 0.08, "a few percent of frames by default"
    none = generate(tmp_path, seed=1, seconds=4, hard_cases=HardCases(share=0.0)).truth()
    assert not none.events and not none.hard_frames()
    with pytest.raises(SyntheticError, match="share of hard frames"):
        HardCases(share=0.9)
    with pytest.raises(SyntheticError, match="unknown hard conditions"):
        HardCases(conditions=("fog",))


def test_synth_command_writes_a_hard_case_video(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from data_engine.cli import main

    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(
        main, ["synth", str(tmp_path / "out"), "--seed", "5", "--seconds", "4", "--hard-cases", "0.4"]
    )
    assert result.exit_code == 0, result.output
    truth = load_truth(next((tmp_path / "out").glob("*.truth.json")))
    assert f"hard frames: {len(truth.hard_frames())} of 100" in result.output and truth.hard_frames()
    refused = CliRunner().invoke(main, ["synth", str(tmp_path / "out"), "--hard-cases", "0.9"])
    assert refused.exit_code == 2 and "error: the share of hard frames must lie in [0, 0.5], got 0.9" in refused.output
