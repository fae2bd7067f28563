"""MOTChallenge files: the three layouts read right, and every malformed file fails with its line and problem."""

from pathlib import Path

import numpy as np
import pytest

from data_engine.detections import Detections
from data_engine.evaluation.mot import PEDESTRIAN, MotFormatError, read_mot, write_mot


def test_the_seven_and_nine_value_ground_truth_of_tud_campus(tud_campus: Path) -> None:
    seven = read_mot(tud_campus / "gt" / "gt.txt", frame_count=71)
    nine = read_mot(tud_campus / "gt" / "gt_mot17format.txt", frame_count=71)
    assert len(seven) == len(nine) == 359
    assert (seven.columns, nine.columns) == (7, 9) and nine.has_classes and not seven.has_classes
    assert np.allclose(seven.xywh, nine.xywh, atol=0.01) and np.array_equal(seven.track_id, nine.track_id)
    assert seven.frame.min() == 1 and seven.frame.max() == 71
    assert (nine.class_id == PEDESTRIAN).all() and (nine.visibility == 1).all()
    assert seven.xyxy[0].tolist() == [399, 182, 520, 411]


def test_a_result_file_round_trips_with_ten_values(tmp_path: Path) -> None:
    boxes = Detections(np.array([[10, 20, 40, 80]]), np.array([0.75]), np.array([0]), np.array([7]))
    path = write_mot(tmp_path / "result.txt", [boxes, None, Detections.empty()])
    assert path.read_text() == "1,7,10.00,20.00,30.00,60.00,0.7500,-1,-1,-1\n"
    table = read_mot(path, frame_count=3, ground_truth=False)
    assert table.columns == 10 and table.frame.tolist() == [1] and table.confidence.tolist() == [0.75]
    assert len(read_mot(write_mot(tmp_path / "empty.txt", [None]), ground_truth=False)) == 0


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["1,1,10,10,5,5,1", "2,1,10,10,5,5,1,1"], "line 2: 8 values; a MOTChallenge file has 7, 9 or 10"),
        (["1,1,10,10,5,5,1", "2,1,10,10,5,5,1,1,1"], "line 2: 9 values where the lines before have 7"),
        (["1,1,10,10,5,5"], "line 1: 6 values"),
        (["1,1,10,10,5,5,1", "80,1,10,10,5,5,1"], "line 2: frame 80 is outside the video's frames 1..71"),
        (["0,1,10,10,5,5,1"], "line 1: frame 0 is before the first frame"),
        (["1,1,10,10,-5,5,1"], "line 1: negative width -5"),
        (["1,1,10,10,5,0,1"], "line 1: zero height 0"),
        (["1,1,10,ten,5,5,1"], "line 1: could not convert string to float: 'ten'"),
        (["1,3,10,10,5,5,1", "1,3,20,10,5,5,1"], "line 2: id 3 appears twice in frame 1 (also line 1)"),
        ([], "holds no boxes"),
    ],
)
def test_malformed_ground_truth_fails_with_its_line(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "gt.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MotFormatError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        read_mot(path, frame_count=71)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MotFormatError, match="does not exist"):
        read_mot(tmp_path / "none.txt")
