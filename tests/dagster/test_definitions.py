"""The Dagster definitions load the way `dagster dev` loads them."""

import os
import subprocess
import sys
from pathlib import Path

from definitions import defs

REPO = Path(__file__).resolve().parents[2]


def test_definitions_validate_from_the_workspace(tmp_path: Path) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path), "DATA_ENGINE_HOME": str(tmp_path / "data")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ingest_assets_are_grouped_partitioned_and_checked() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"registered_videos", "video_clips"} <= keys
    clips = defs.resolve_assets_def("video_clips")
    assert clips.partitions_def is not None and clips.partitions_def.name == "ingest_batches"
    assert {check.name for check in clips.check_specs} == {"frame_conservation", "no_orphan_files"}
    assert defs.resolve_job_def("process_new_videos") is not None
