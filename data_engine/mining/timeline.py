"""Pictures of mining: a trigger timeline per clip and a bar chart per batch, as small PNGs written atomically.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state: safe in worker threads), imported
only when a picture is drawn (matplotlib takes ~0.5 s to import; the command line must start fast).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from data_engine.mining.triggers import Hit

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TIMELINE_SIZE_PX = (900, 220)
SUMMARY_SIZE_PX = (900, 300)
_DPI = 100
_SELECTED_COLOUR = "#d62728"


class TimelineError(ValueError):
    """Inputs a picture cannot be drawn from."""


def timeline_png(
    path: str | Path,
    frame_count: int,
    hits: Sequence[Hit],
    selected_frames: Iterable[int] = (),
    triggers: Sequence[str] | None = None,
    title: str | None = None,
    fps: float | None = None,
) -> Path:
    """Draw the clip's trigger timeline into `path` (PNG, 900x220 px): frames on the x axis, one row per trigger
    (`triggers`, default: those with hits, in order of first appearance), each hit a span shaded by its score,
    selected frames as red ticks across all rows. With `fps` the top axis shows seconds."""
    if frame_count < 1:
        raise TimelineError(f"frame_count must be at least 1; got {frame_count}")
    rows = list(dict.fromkeys(hit.trigger for hit in hits)) if triggers is None else list(triggers)
    unknown = sorted({hit.trigger for hit in hits} - set(rows))
    if unknown:
        raise TimelineError(f"hits of triggers {unknown} have no row; add them to `triggers`")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(TIMELINE_SIZE_PX[0] / _DPI, TIMELINE_SIZE_PX[1] / _DPI), dpi=_DPI)
    axes = figure.add_axes((0.16, 0.2, 0.82, 0.62 if title else 0.72))
    row_of = {trigger: index for index, trigger in enumerate(rows)}
    for hit in hits:
        axes.broken_barh(
            [(hit.first_frame - 0.5, hit.last_frame - hit.first_frame + 1)],
            (row_of[hit.trigger] - 0.35, 0.7),
            facecolors=_colour(row_of[hit.trigger]),
            alpha=0.35 + 0.65 * hit.score,
            linewidth=0,
        )
    selected = sorted(set(selected_frames))
    if selected:
        axes.vlines(selected, -0.5, max(len(rows), 1) - 0.5, colors=_SELECTED_COLOUR, linewidth=1.2, label="selected")
        axes.legend(loc="upper right", bbox_to_anchor=(1.0, 1.28), fontsize=7, frameon=False)
    axes.set_xlim(-0.5, frame_count - 0.5)
    axes.set_ylim(-0.5, max(len(rows), 1) - 0.5)
    axes.set_yticks(range(len(rows)), rows, fontsize=7)
    axes.invert_yaxis()
    axes.set_xlabel("frame", fontsize=8)
    axes.tick_params(axis="x", labelsize=7)
    axes.grid(axis="x", linewidth=0.3, alpha=0.5)
    if fps:
        seconds = axes.secondary_xaxis("top", functions=(lambda f: f / fps, lambda s: s * fps))
        seconds.tick_params(labelsize=7)
        seconds.set_xlabel("s", fontsize=7, labelpad=1)
    if title:
        figure.suptitle(title, fontsize=9, x=0.16, ha="left", y=0.98)
    return _write(figure, Path(path))


def batch_summary_png(
    path: str | Path,
    hits_per_trigger: Mapping[str, int],
    selected_per_trigger: Mapping[str, int] | None = None,
    frames_total: int | None = None,
    title: str | None = None,
) -> Path:
    """Draw a batch's summary into `path` (PNG, 900x300 px): hits per trigger as bars, frames selected per trigger
    beside them, and in the title the frames selected and their share of `frames_total`."""
    selected_per_trigger = selected_per_trigger or {}
    for name, counts in (("hits_per_trigger", hits_per_trigger), ("selected_per_trigger", selected_per_trigger)):
        negative = {trigger: count for trigger, count in counts.items() if count < 0}
        if negative:
            raise TimelineError(f"{name} has negative counts {negative}")
    triggers = list(dict.fromkeys([*hits_per_trigger, *selected_per_trigger]))
    from matplotlib.figure import Figure

    figure = Figure(figsize=(SUMMARY_SIZE_PX[0] / _DPI, SUMMARY_SIZE_PX[1] / _DPI), dpi=_DPI)
    axes = figure.add_axes((0.08, 0.3, 0.9, 0.58))
    positions = range(len(triggers))
    hit_bars = axes.bar([p - 0.2 for p in positions], [hits_per_trigger.get(t, 0) for t in triggers], 0.4)
    selected_bars = axes.bar(
        [p + 0.2 for p in positions], [selected_per_trigger.get(t, 0) for t in triggers], 0.4, color=_SELECTED_COLOUR
    )
    axes.margins(y=0.15)
    axes.bar_label(hit_bars, fontsize=7)
    axes.bar_label(selected_bars, fontsize=7)
    axes.set_xticks(list(positions), triggers, rotation=25, ha="right", fontsize=8)
    axes.tick_params(axis="y", labelsize=7)
    axes.legend([hit_bars, selected_bars], ["hits", "frames selected"], fontsize=7, frameon=False)
    selected_total = sum(selected_per_trigger.values())
    heading = f"{sum(hits_per_trigger.values())} hits, {selected_total} frames selected"
    if frames_total:
        heading += f" of {frames_total} ({100 * selected_total / frames_total:.2f} %)"
    axes.set_title(f"{title}: {heading}" if title else heading, fontsize=9, loc="left")
    return _write(figure, Path(path))


def _colour(row: int) -> str:
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
    return palette[row % len(palette)]


def _write(figure: Figure, target: Path) -> Path:
    """Render to a temporary file beside `target`, then rename: readers never see half a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".png", dir=target.parent)
    os.close(descriptor)
    try:
        FigureCanvasAgg(figure).print_png(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
