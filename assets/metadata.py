"""Translate what the stages and checks return into Dagster metadata and check results, shown in the UI."""

import base64
from collections.abc import Iterable, Sequence
from pathlib import Path

import dagster as dg

from data_engine.checks import CheckOutcome
from data_engine.stages.mine import ClipRow


def png_markdown(path: Path, alt: str) -> dg.MetadataValue:
    """A PNG inlined as a data URI, so the UI shows it without serving files. Dagster's UI (1.13) draws markdown
    of over 1,000 characters behind a "[Show Markdown]" button, which a plot's data URI always is: one click
    shows the picture."""
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def pictures(**named: Path | None) -> dict[str, dg.MetadataValue]:
    """Each picture that exists as inlined markdown under its name (alt text: the name in words), and the path of
    its file (`<name> file`), to open it beside the UI."""
    found = {name: path for name, path in named.items() if path is not None}
    return {
        **{name: png_markdown(path, name.replace("_", " ")) for name, path in found.items()},
        **{f"{name} file": dg.MetadataValue.path(str(path)) for name, path in found.items()},
    }


def check_results(outcomes: Iterable[CheckOutcome]) -> list[dg.AssetCheckResult]:
    """Dagster check results for the domain's check outcomes (same names as the asset's check specs)."""
    return [
        dg.AssetCheckResult(check_name=outcome.name, passed=outcome.passed, metadata=dict(outcome.metadata))
        for outcome in outcomes
    ]


def clip_states_table(rows: Sequence[ClipRow]) -> dg.MetadataValue:
    """A markdown table of a batch's clips: id, frames, state and how many frames were selected."""
    lines = [f"| {r.clip_id} | {r.first_frame}-{r.last_frame} | {r.status} | {r.selected_frames} |" for r in rows]
    return dg.MetadataValue.md("| clip | frames | state | selected frames |\n|---|---|---|---|\n" + "\n".join(lines))
