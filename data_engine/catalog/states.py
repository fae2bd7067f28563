"""The clip and video state machines. Later stages extend the clip order; moves go forward only."""

from datetime import timedelta
from enum import StrEnum

from data_engine.errors import EngineError


class VideoStatus(StrEnum):
    """`quarantined`: the input's fault, kept aside with the reason. `failed`: the world's fault (disk full,
    read-only store, permissions, network, a killed process), retried by the next runs with backoff."""

    REGISTERED = "registered"
    CLIPPED = "clipped"
    QUARANTINED = "quarantined"
    FAILED = "failed"


class ClipState(StrEnum):
    EXTRACTED = "extracted"
    MINED = "mined"
    SELECTED = "selected"
    AUTOLABELLED = "autolabelled"
    PUSHED = "pushed"
    ANNOTATED = "annotated"
    IN_DATASET = "in_dataset"
    FAILED = "failed"


PIPELINE_ORDER: tuple[ClipState, ...] = (
    ClipState.EXTRACTED,
    ClipState.MINED,
    ClipState.SELECTED,
    ClipState.AUTOLABELLED,
    ClipState.PUSHED,
    ClipState.ANNOTATED,
    ClipState.IN_DATASET,
)


class TransitionError(EngineError, ValueError):
    """A clip was asked to move backwards or from a state it is not in."""


UNDO_MOVES: frozenset[tuple[ClipState, ClipState]] = frozenset({(ClipState.ANNOTATED, ClipState.PUSHED)})
"""The only backward moves: undoing an import of reviews sends its clips back to waiting for review."""


def check_transition(current: ClipState | None, target: ClipState) -> None:
    """New clips start `extracted`; moves go forward (stages may be skipped); failure and retry from anywhere;
    an undone import of reviews moves its clips back (`UNDO_MOVES`)."""
    if current is None:
        if target is not ClipState.EXTRACTED:
            raise TransitionError(f"a new clip starts as {ClipState.EXTRACTED}, not {target}")
        return
    if target is ClipState.FAILED or current is ClipState.FAILED or (current, target) in UNDO_MOVES:
        return
    if PIPELINE_ORDER.index(target) <= PIPELINE_ORDER.index(current):
        raise TransitionError(f"a clip cannot move from {current} back to {target}")


def retry_delay(attempts: int) -> timedelta:
    """How long a failed item waits before runs take it again: the next run after a first failure (the fault
    was probably fixed), then 1, 2, 4 ... minutes, at most an hour, so a fault that persists is not hammered."""
    if attempts <= 1:
        return timedelta(0)
    return timedelta(seconds=min(3600, 60 * 2 ** (attempts - 2)))
