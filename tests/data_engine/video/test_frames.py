"""Decoding only some frames gives exactly those frames, pixel for pixel, as a full decode does; the thumbnail
decoding the features use stays within a fraction of a grey level of the exact one."""

from pathlib import Path

import numpy as np
import pytest

from data_engine.video.frames import THUMBNAIL_DECODING, iter_frames


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


@pytest.mark.parametrize("kind", ["h264_bframes", "mpeg4_avi"])
def test_thumbnail_decoding_keeps_the_thumbnails_within_a_fraction_of_a_grey_level(
    generated: dict[str, Path], kind: str
) -> None:
    """Skipping B-frames' deblocking must not drift into other frames (as skipping it everywhere does until the
    next keyframe): every frame's 160-pixel luma stays within 0.25 grey levels of the exact decode on average."""
    exact = [frame.image.astype(np.float32) for frame in iter_frames(generated[kind], pixel_format="gray", width=160)]
    fast = [
        frame.image.astype(np.float32)
        for frame in iter_frames(generated[kind], pixel_format="gray", width=160, decoder_options=THUMBNAIL_DECODING)
    ]
    assert len(fast) == len(exact)
    assert max(float(np.abs(a - b).mean()) for a, b in zip(exact, fast, strict=True)) < 0.25
