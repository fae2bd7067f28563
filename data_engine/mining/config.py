"""How the mining stage selects, as plain data: the stage and the evaluation of its choices read the same defaults."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from data_engine.mining.features import DEFAULT_DUPLICATE_DISTANCE
from data_engine.settings import Settings


@dataclass(frozen=True)
class MiningConfig:
    """How much to select and how: the daily budget, per-trigger quotas and the duplicate distance.

    `quotas`: by default the hindsight-disagreement trigger has first claim on the whole budget (it is the one
    measured to find the model's mistakes on real footage, bench/README.md "The frames the triggers find"); the
    other triggers fill what it leaves. `triggers`: the triggers to run (None: every default trigger; the
    stretch-flagging model-level ones, e.g. box_jump, run only when named).
    `detector_every`: the detectors run on every n-th frame when `detect_all_frames` is off. `detect_all_frames`:
    the detectors run on every frame while the clip is decoded anyway, the triggers read them all, and they are
    stored, so autolabelling the clip later neither decodes nor infers again (a second decode of a 1080p clip costs
    more than running a small model, or any model on a GPU, on the frames in between). Turn it off for an expensive
    model on CPUs when most mined clips are never autolabelled: mining then infers only the sampled frames and
    autolabelling the rest.
    """

    budget_per_day: int = 6000
    quotas: Mapping[str, float] | None = field(default_factory=lambda: {"hindsight_disagreement": 1.0})
    yields: Mapping[str, float] | None = None
    duplicate_distance: int = DEFAULT_DUPLICATE_DISTANCE
    max_per_clip: int | None = 20
    cold_start_per_clip: int = 3
    explore_per_clip: int = 1
    triggers: tuple[str, ...] | None = None
    detector_every: int = 2
    detect_all_frames: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> "MiningConfig":
        """The mining defaults with the user's budget (DATA_ENGINE_BUDGET_PER_DAY) and triggers
        (DATA_ENGINE_TRIGGERS)."""
        return cls(budget_per_day=settings.budget_per_day, triggers=settings.triggers or None)

    @property
    def trigger_every(self) -> int:
        """The model-level triggers read every frame the detectors ran on."""
        return 1 if self.detect_all_frames else self.detector_every
