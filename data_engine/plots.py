"""Every picture the engine draws, as small PNGs written atomically.

matplotlib's object API on the Agg canvas only: no pyplot, no `matplotlib.use`, no global state, so drawing is safe
in worker threads and never changes the backend of the program that imports the engine. matplotlib itself is
imported when a picture is drawn (it takes ~0.5 s to import; the command line must start fast). Inputs are plain
values (counts, spans, curves), so this module depends on no other part of the engine.
"""

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from data_engine.errors import EngineError
from data_engine.store import temporary_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

TIMELINE_SIZE_PX = (900, 220)
SUMMARY_SIZE_PX = (900, 300)
_DPI = 100
_SELECTED_COLOUR = "#d62728"
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


class PlotError(EngineError, ValueError):
    """Inputs a picture cannot be drawn from."""


class Span(Protocol):
    """A trigger hit as the timeline needs it (mining's `Hit` is one)."""

    @property
    def trigger(self) -> str: ...

    @property
    def first_frame(self) -> int: ...

    @property
    def last_frame(self) -> int: ...

    @property
    def score(self) -> float: ...


def timeline_png(
    path: str | Path,
    frame_count: int,
    hits: Sequence[Span],
    selected_frames: Iterable[int] = (),
    triggers: Sequence[str] | None = None,
    title: str | None = None,
    fps: float | None = None,
) -> Path:
    """Draw the clip's trigger timeline into `path` (PNG, 900x220 px): frames on the x axis, one row per trigger
    (`triggers`, default: those with hits, in order of first appearance), each hit a span shaded by its score,
    selected frames as red ticks across all rows. With `fps` the top axis shows seconds."""
    if frame_count < 1:
        raise PlotError(f"frame_count must be at least 1; got {frame_count}")
    rows = list(dict.fromkeys(hit.trigger for hit in hits)) if triggers is None else list(triggers)
    unknown = sorted({hit.trigger for hit in hits} - set(rows))
    if unknown:
        raise PlotError(f"hits of triggers {unknown} have no row; add them to `triggers`")
    figure = _new_figure(figsize=(TIMELINE_SIZE_PX[0] / _DPI, TIMELINE_SIZE_PX[1] / _DPI), dpi=_DPI)
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
        rate = np.float64(fps)
        seconds = axes.secondary_xaxis(
            "top", functions=(lambda f: np.asarray(f) / rate, lambda s: np.asarray(s) * rate)
        )
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
            raise PlotError(f"{name} has negative counts {negative}")
    triggers = list(dict.fromkeys([*hits_per_trigger, *selected_per_trigger]))
    figure = _new_figure(figsize=(SUMMARY_SIZE_PX[0] / _DPI, SUMMARY_SIZE_PX[1] / _DPI), dpi=_DPI)
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


def reviews_per_day_png(path: str | Path, images: Mapping[tuple[str, str], int]) -> Path:
    """Images reviewed per day, stacked by annotator (`images` maps (annotator, day) to a count): PNG, 480x240 px."""
    days = sorted({day for _, day in images})
    annotators = sorted({annotator for annotator, _ in images})
    figure = _new_figure(figsize=(6, 3), dpi=80)
    axes = figure.add_subplot()
    bottom = [0] * len(days)
    for annotator in annotators:
        values = [images.get((annotator, day), 0) for day in days]
        axes.bar(days, values, bottom=bottom, label=annotator)
        bottom = [below + value for below, value in zip(bottom, values, strict=True)]
    axes.set_ylabel("images reviewed")
    if annotators:
        axes.legend(fontsize="small")
    figure.tight_layout()
    return _write(figure, Path(path))


def map_per_model_png(path: str | Path, models: Sequence[tuple[str, float | None, float | None]]) -> Path:
    """Test mAP50 and mAP50-95 of each model version in registration order (`models`: (label, mAP50,
    mAP50-95), a missing metric drawn as 0): PNG, 900x300 px."""
    figure = _new_figure(figsize=(9, 3), dpi=_DPI)
    axes = figure.add_subplot()
    positions = range(len(models))
    axes.plot(positions, [m[2] or 0.0 for m in models], marker="o", label="mAP50-95")
    axes.plot(positions, [m[1] or 0.0 for m in models], marker="s", label="mAP50")
    axes.set_xticks(list(positions), [m[0] for m in models], rotation=30, fontsize=7)
    axes.set_ylabel("test mAP")
    axes.legend(loc="lower right")
    figure.tight_layout()
    return _write(figure, Path(path))


def learning_curves_png(
    path: str | Path,
    panels: Mapping[str, Mapping[str, Sequence[tuple[float, float, float, float]]]],
    xlabel: str,
    title: str,
    bands: bool = True,
) -> Path:
    """Learning curves, one panel per score (its y label) and one line per strategy of (labels added, mean, low,
    high) points, e.g. the proving ground's test mAP per round over seeds; `bands` shades low..high."""
    figure = _new_figure(figsize=(6 * len(panels), 4), dpi=_DPI)
    for axes, (ylabel, curves) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels.items(), strict=True):
        for name, points in curves.items():
            xs = [point[0] for point in points]
            axes.plot(xs, [point[1] for point in points], marker="o", label=name)
            if bands:
                axes.fill_between(xs, [point[2] for point in points], [point[3] for point in points], alpha=0.2)
        axes.set_xlabel(xlabel)
        axes.set_ylabel(ylabel)
        axes.set_ylim(0.0, 1.0)
        axes.grid(alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    return _write(figure, Path(path))


def _new_figure(**options: Any) -> "Figure":
    from matplotlib.figure import Figure  # imported on use (see the module's docstring)

    return Figure(**options)


def _colour(row: int) -> str:
    return _PALETTE[row % len(_PALETTE)]


def _write(figure: "Figure", target: Path) -> Path:
    """Render to a temporary file beside `target`, then rename: readers never see half a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(target)
    try:
        FigureCanvasAgg(figure).print_png(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
