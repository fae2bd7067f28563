"""How long work reports how far it got: one shape for every stage, whoever shows it (progress bars, logs).

A stage calls `progress(step, done, total)`: `step` names what is being counted ("ingest 2024...-ab12",
"features", "push to bundle"), `done` is how many of the step's `total` items are finished. A new `step` name
starts a new count. Counts are absolute, so a report may be repeated or skipped without drifting, and a
`(done, total)` callback of a lower layer (the compute backend, an annotation platform) is the same protocol with
the step bound: `functools.partial(progress, step)`.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol, TypeVar

Item = TypeVar("Item")


class Progress(Protocol):
    def __call__(self, step: str, done: int, total: int) -> None: ...


StepProgress = Callable[[int, int], None]
"""`progress(done, total)` of one step whose name the caller bound (`functools.partial(progress, step)`): what
the compute backends and the annotation platforms call."""


def no_progress(step: str, done: int, total: int) -> None:
    """The progress of work nobody watches."""


def tracked(items: Sequence[Item], step: str, progress: Progress | None) -> Iterator[Item]:
    """Yield `items`, reporting 0 of n before the first and one more after each is handled."""
    return counted(items, len(items), step, progress)


def counted(items: Iterable[Item], total: int, step: str, progress: Progress | None) -> Iterator[Item]:
    """`tracked` for an iterable whose length is known beforehand (the results of a compute backend's `imap`)."""
    report = progress or no_progress
    report(step, 0, total)
    for done, item in enumerate(items, start=1):
        yield item
        report(step, done, total)
