"""How the mining stage selects, as plain data: the stage and the evaluation of its choices read the same defaults."""

from collections.abc import Mapping
from dataclasses import dataclass

from data_engine.mining.features import DEFAULT_DUPLICATE_DISTANCE


@dataclass(frozen=True)
class MiningConfig:
    """How much to select and how: the daily budget, per-trigger quotas and the duplicate distance.

    `detector_every`: the model-level triggers look at every n-th frame. `detect_all_frames`: the detectors still
    run on every frame while the clip is decoded anyway, and those detections are stored, so autolabelling the clip
    later neither decodes nor infers again (a second decode of a 1080p clip costs more than running a small model,
    or any model on a GPU, on the frames in between). Turn it off for an expensive model on CPUs when most mined
    clips are never autolabelled: mining then infers only the sampled frames and autolabelling the rest.
    """

    budget_per_day: int = 6000
    quotas: Mapping[str, float] | None = None
    yields: Mapping[str, float] | None = None
    duplicate_distance: int = DEFAULT_DUPLICATE_DISTANCE
    max_per_clip: int | None = 20
    cold_start_per_clip: int = 3
    explore_per_clip: int = 1
    detector_every: int = 2
    detect_all_frames: bool = True
