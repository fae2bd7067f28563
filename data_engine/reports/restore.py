"""The derived files of a batch drawn again from the catalog where they are missing (never drawn yet, a run
killed while drawing them, files deleted): its pictures and, once the push wrote it, its page. The pipeline's push
step calls this on every batch first, so a lost file comes back under Dagster as under `data-engine run`."""

import logging
from collections.abc import Sequence

from data_engine.catalog import Catalog, ClipState
from data_engine.catalog.states import PIPELINE_ORDER
from data_engine.reports.html import batch_report, batch_report_key
from data_engine.reports.pictures import draw_missing_pictures
from data_engine.store import Store

logger = logging.getLogger(__name__)

SHOWN_STATES = frozenset(state.value for state in PIPELINE_ORDER[PIPELINE_ORDER.index(ClipState.PUSHED) :])
"""Clip states that the push has been through, so their batch's HTML page exists."""


def redraw_lost_plots(catalog: Catalog, store: Store, batch_keys: Sequence[str]) -> None:
    """`redraw_missing_plots` for each batch; a picture that cannot be drawn (a full disk, say) is a warning, not
    a failure: derived pictures only, the next pass draws them again."""
    for key in batch_keys:
        try:
            redraw_missing_plots(catalog, store, key)
        except OSError as error:
            logger.warning("batch %s: its pictures were not redrawn: %s", key, error)


def redraw_missing_plots(catalog: Catalog, store: Store, batch_key: str) -> list[str]:
    """Re-create the derived files of a batch that are missing (never drawn yet, a run killed while drawing
    them, files deleted): its pictures, and the batch's page once the push wrote it (written again when a picture
    it shows was drawn). Returns the keys written."""
    drawn = draw_missing_pictures(catalog, store, batch_key)
    pushed = any(clip.status in SHOWN_STATES for clip in catalog.clips(batch_key=batch_key))
    if not pushed or (not drawn and store.exists(batch_report_key(batch_key))):
        return drawn
    batch_report(catalog, store, batch_key)
    return [*drawn, batch_report_key(batch_key)]
