"""Pictures and tables for asset metadata, shown in the Dagster UI."""

import base64
from collections import Counter
from pathlib import Path

import dagster as dg

from data_engine.catalog import Catalog


def png_markdown(path: Path, alt: str) -> dg.MetadataValue:
    """A PNG inlined as a data URI, so the UI shows it without serving files."""
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def clip_states_table(catalog: Catalog, batch_key: str) -> dg.MetadataValue:
    """A markdown table of the batch's clips: id, frames, state and how many frames were selected."""
    selected = Counter(frame.clip_id for frame in catalog.selected_frames(batch_key=batch_key))
    rows = [
        f"| {clip.id} | {clip.first_frame}-{clip.last_frame} | {clip.status} | {selected.get(clip.id, 0)} |"
        for clip in catalog.clips(batch_key=batch_key)
    ]
    return dg.MetadataValue.md("| clip | frames | state | selected frames |\n|---|---|---|---|\n" + "\n".join(rows))
