"""Confidence intervals for results repeated over seeds.

Per-round metrics get Student's t-interval of the mean (few seeds, roughly normal spread: the textbook choice, and
honest about how wide 5 seeds are). Figures that are not means of per-seed values, such as "labels one curve needs
to reach another's final value", get a percentile bootstrap over seeds: seeds are resampled with replacement and the
figure is computed on the resampled mean curves, so a seed where the level is never reached needs no special value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 4000


@dataclass(frozen=True, slots=True)
class Interval:
    """A mean (or point estimate) and its 95 % interval; bounds are NaN when one value cannot give one, and an
    upper bound of infinity means "not reached" in some resamples."""

    mean: float
    low: float
    high: float
    n: int

    def overlaps(self, other: Interval) -> bool:
        return not (self.high < other.low or other.high < self.low)

    def format(self, digits: int = 3) -> str:
        if not math.isfinite(self.mean):
            return "not reached"
        if math.isnan(self.low):
            return f"{self.mean:.{digits}f}"
        high = "not reached" if math.isinf(self.high) else f"{self.high:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {high}]"


def t_interval(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean of `values` and Student's t-interval of the mean (NaN bounds for a single value)."""
    data = np.asarray(values, dtype=np.float64)
    mean = float(data.mean()) if len(data) else math.nan
    if len(data) < 2:
        return Interval(mean, math.nan, math.nan, len(data))
    half = float(stats.t.ppf(0.5 + level / 2, len(data) - 1) * data.std(ddof=1) / math.sqrt(len(data)))
    return Interval(mean, mean - half, mean + half, len(data))


def bootstrap_interval(
    per_seed: Sequence[object],
    statistic: Callable[[Sequence[object]], float],
    level: float = LEVEL,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Interval:
    """`statistic` of all seeds and its percentile-bootstrap interval over resampled seeds. The statistic may return
    infinity (never reached), which the percentiles keep; NaN bounds for a single seed."""
    estimate = statistic(per_seed)
    if len(per_seed) < 2:
        return Interval(estimate, math.nan, math.nan, len(per_seed))
    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            statistic([per_seed[index] for index in rng.integers(0, len(per_seed), len(per_seed))])
            for _ in range(resamples)
        ]
    )
    low, high = np.percentile(draws, [100 * (1 - level) / 2, 100 * (1 + level) / 2], method="lower")
    return Interval(estimate, float(low), float(high), len(per_seed))
