"""The stages' progress as tqdm bars on stderr (shown on a terminal only), for the commands that run stages."""

from __future__ import annotations

import sys

from tqdm import tqdm

from data_engine.closing import Closing


def progress_bar(total: int, description: str, unit: str) -> tqdm:
    return tqdm(total=total, desc=description, unit=unit, disable=None, file=sys.stderr, dynamic_ncols=True)


class ProgressBars(Closing):
    """The stages' progress (`data_engine.progress.Progress`) as one bar per step on stderr, on a terminal."""

    def __init__(self) -> None:
        self._step: str | None = None
        self._bar: tqdm | None = None

    def __call__(self, step: str, done: int, total: int) -> None:
        if step != self._step or self._bar is None:
            self.close()
            self._step, self._bar = step, progress_bar(total, step, "item")
        self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._step, self._bar = None, None
