"""The real labelled sequence the evaluator is tested on (read in place, never copied into the repository)."""

import os
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_VIDEOS

SEQUENCES = Path(os.environ.get("DATA_ENGINE_SAMPLE_SEQUENCES", SAMPLE_VIDEOS.parent / "sequences"))


@pytest.fixture(scope="session")
def tud_campus() -> Path:
    """TUD-Campus (MOTChallenge 2015): 71 frames of 640x480, 359 pedestrian boxes drawn by people; gt/gt.txt has 7
    values per line, gt/gt_mot17format.txt the same boxes with mark, class and visibility."""
    folder = SEQUENCES / "TUD-Campus"
    if not (folder / "gt" / "gt.txt").is_file():
        pytest.fail(f"TUD-Campus not found in {SEQUENCES} (set DATA_ENGINE_SAMPLE_SEQUENCES)")
    return folder
