"""The main job as a person runs it: twice on the sample videos, the second run doing no duplicate work."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from data_engine.catalog import Catalog
from data_engine.cli import main


def test_running_the_main_job_twice_does_no_duplicate_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_videos: Path
) -> None:
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    runner = CliRunner()

    def invoke(*args: str) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    first = invoke("run", str(sample_videos))
    assert "videos: 2 clipped" in first and "cold start" in first
    assert "tasks pushed: " in first and "tasks pushed: none new" not in first
    clips_before = json.loads(invoke("clips", "--json"))
    catalog = Catalog(f"sqlite:///{tmp_path / 'home' / 'catalog.db'}")
    runs_before = [run.id for run in catalog.annotation_runs()]
    selected_before = len(catalog.selected_frames())

    second = invoke("run", str(sample_videos))
    assert "new batches this run: 0" in second and "tasks pushed: none new" in second
    assert "frames selected this run: 0" in second
    assert json.loads(invoke("clips", "--json")) == clips_before, "same clips, same states"
    assert [run.id for run in catalog.annotation_runs()] == runs_before, "no new annotation tasks"
    assert len(catalog.selected_frames()) == selected_before
    assert all(len(catalog.history(clip["id"])) == 4 for clip in clips_before), "extracted, mined, selected, pushed"
    catalog.dispose()
