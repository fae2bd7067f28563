"""Decoding only some frames gives exactly those frames, pixel for pixel, as a full decode does."""

from pathlib import Path

import numpy as np
import pytest

from data_engine.video.frames import iter_frames


@pytest.mark.parametrize("kind", ["h264_bframes", "mpeg4_avi"])
def test_only_the_wanted_frames_come_out_identical_to_a_full_decode(generated: dict[str, Path], kind: str) -> None:
    every = {frame.index: frame for frame in iter_frames(generated[kind])}
    wanted = {0, 7, 26, 63}
    some = list(iter_frames(generated[kind], only=wanted))
    assert [frame.index for frame in some] == sorted(wanted)
    for frame in some:
        assert frame.pts_s == every[frame.index].pts_s
        assert np.array_equal(frame.image, every[frame.index].image)
    assert list(iter_frames(generated[kind], only=set())) == []
