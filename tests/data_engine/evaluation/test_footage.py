"""`data-engine evaluate` on real footage labelled by people (TUD-Campus): ground truth against itself scores 1.0
everywhere, known shifts give the values they must, MOTChallenge's don't-care rules hold, bad files fail in one
line (the configured detector's report: test_footage_truth)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from data_engine.cli import main
from data_engine.evaluation.footage import FootageScoring, evaluate_footage

HOTA_AT_IOU_TWO_THIRDS = 13 / 19
"""HOTA averages over IoU thresholds 0.05..0.95: boxes overlapping their truth at IoU 2/3 match at 13 of the 19."""


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATA_ENGINE_CATALOG_URL", raising=False)
    monkeypatch.delenv("DATA_ENGINE_DETECTORS", raising=False)

    def invoke(*args: str, expect: int = 0):
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result

    return invoke


def _shifted(source: Path, target: Path, dx_of_width: float = 0.0, dx: float = 0.0) -> Path:
    """A copy of a MOTChallenge file with every box moved right by a share of its width plus `dx` pixels."""
    lines = []
    for line in source.read_text().splitlines():
        values = line.split(",")
        width = float(values[4])
        values[2] = f"{float(values[2]) + dx_of_width * width + dx:.4f}"
        lines.append(",".join(values))
    target.write_text("\n".join(lines) + "\n")
    return target


@pytest.mark.parametrize("name", ["gt.txt", "gt_mot17format.txt"])
def test_ground_truth_against_itself_scores_one_everywhere(run, tud_campus: Path, name: str) -> None:
    gt = str(tud_campus / "gt" / name)
    report = json.loads(run("evaluate", "--gt", gt, "--predictions", gt, "--json").stdout)
    scores, tracks = report["detection"]["predictions"], report["tracking"]["predictions"]
    assert report["gt_boxes"] == 359 and report["frames"] == 71
    assert scores["precision"] == scores["recall"] == scores["f1"] == scores["ap50"] == 1.0 and scores["tp"] == 359
    assert tracks["hota"] == tracks["mota"] == tracks["idf1"] == tracks["motp"] == 1.0
    assert tracks["id_switches"] == 0
    printed = run("evaluate", "--gt", gt, "--predictions", gt).stdout
    assert "| predictions | 1.000 | 1.000 | 1.000 | 1.000 | 359 | 0 | 0 |" in printed
    assert "| predictions | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | 0 |" in printed


def test_boxes_shifted_by_a_fifth_of_their_width_keep_detection_and_lose_localisation(tud_campus: Path, tmp_path):
    gt = tud_campus / "gt" / "gt.txt"
    report = evaluate_footage(None, gt, predictions=_shifted(gt, tmp_path / "shifted.txt", dx_of_width=0.2))
    scores, tracks = report.detection["predictions"], report.tracking["predictions"]
    assert (scores.counts.precision, scores.counts.recall, scores.counts.f1) == (1.0, 1.0, 1.0)
    assert scores.ap50 == pytest.approx(0.986, abs=0.005)  # COCO matches greedily: a few boxes take a neighbour
    assert tracks.mota == tracks.idf1 == 1.0
    assert tracks.motp == pytest.approx(2 / 3, abs=1e-3)
    assert tracks.hota == pytest.approx(HOTA_AT_IOU_TWO_THIRDS, abs=1e-3)


def test_boxes_moved_away_find_nothing(tud_campus: Path, tmp_path: Path) -> None:
    gt = tud_campus / "gt" / "gt.txt"
    report = evaluate_footage(None, gt, predictions=_shifted(gt, tmp_path / "away.txt", dx=5000.0))
    scores, tracks = report.detection["predictions"], report.tracking["predictions"]
    counts = scores.counts
    assert (counts.true_positives, counts.false_positives, counts.false_negatives) == (0, 359, 359)
    assert counts.precision == counts.recall == scores.ap50 == 0.0
    assert tracks.mota == pytest.approx(-1.0) and tracks.hota == 0.0 and tracks.idf1 == 0.0


def test_distractors_zero_marks_and_low_visibility_follow_motchallenge(tmp_path: Path) -> None:
    gt = tmp_path / "gt.txt"
    gt.write_text(
        "1,1,10,10,20,40,1,1,1.0\n"  # a pedestrian
        "1,2,100,10,20,40,1,8,1.0\n"  # a distractor: a box on it is no false positive
        "1,3,200,10,20,40,0,1,1.0\n"  # marked 0: ignored, so a box on it is a false positive
        "1,4,300,10,20,40,1,1,0.1\n"  # barely visible: evaluated unless --min-visibility says otherwise
    )
    result = tmp_path / "result.txt"
    result.write_text("".join(f"1,{i},{x},10,20,40,0.9,-1,-1,-1\n" for i, x in enumerate((10, 100, 200, 300), 1)))
    every = evaluate_footage(None, gt, predictions=result).detection["predictions"].counts
    assert (every.true_positives, every.false_positives, every.false_negatives) == (2, 1, 0)
    half_visible = FootageScoring(min_visibility=0.5)
    visible = evaluate_footage(None, gt, predictions=result, scoring=half_visible).detection["predictions"].counts
    assert (visible.true_positives, visible.false_positives, visible.false_negatives) == (1, 1, 0)


def test_malformed_ground_truth_is_one_line_and_exit_2(run, tmp_path: Path, tud_campus: Path) -> None:
    bad = tmp_path / "gt.txt"
    bad.write_text("1,1,10,10,20,40,1\n2,1,10,10,20,40\n")
    failed = run("evaluate", "--gt", str(bad), "--predictions", str(bad), expect=2)
    assert (
        failed.output == f"error: {bad} line 2: 6 values; a MOTChallenge file has 7, 9 or 10 comma-separated "
        "values per line (frame,id,x,y,w,h,conf[,class,visibility] or [,x,y,z])\n"
    )
    bad.write_text("1,1,10,10,20,40,1\n72,1,10,10,20,40,1\n")
    out_of_range = run("evaluate", str(tud_campus), "--gt", str(bad), "--predictions", str(bad), expect=2)
    assert "line 2: frame 72 is outside the video's frames 1..71" in out_of_range.output
    bad.write_text("1,1,10,10,-20,40,1\n")
    assert "line 1: negative width -20" in run("evaluate", "--gt", str(bad), "--predictions", str(bad), expect=2).output
    assert "no detector configured" in run("evaluate", str(tud_campus), expect=2).output
