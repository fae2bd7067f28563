"""`data-engine doctor` says what is wrong in plain words, one line per problem."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from data_engine.cli import main


def test_a_healthy_setup_passes_every_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    assert CliRunner().invoke(main, ["status"]).exit_code == 0
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()] == ["ok"] * 6


def test_a_fresh_home_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before any other command: the catalog has no tables yet and there is no model; neither is a problem."""
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "fresh"))
    monkeypatch.delenv("DATA_ENGINE_CATALOG_URL", raising=False)
    monkeypatch.delenv("DATA_ENGINE_DETECTORS", raising=False)
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines()}
    assert "is new: the first data-engine command creates its tables" in lines["catalog"]
    assert "no champion in the registry: cold start" in lines["detectors"]


def test_broken_catalog_missing_weights_and_unreachable_platform_each_get_a_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATA_ENGINE_CATALOG_URL", "postgresql+psycopg2://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("DATA_ENGINE_DETECTORS", str(tmp_path / "best.pt"))
    monkeypatch.setenv("DATA_ENGINE_LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 1
    failures = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("FAIL")}
    assert "cannot connect to 'postgresql+psycopg2://nobody@127.0.0.1:1/none'" in failures["catalog"]
    assert "check DATA_ENGINE_CATALOG_URL" in failures["catalog"]
    assert f"weights {tmp_path / 'best.pt'} not found" in failures["detector"]
    assert "set DATA_ENGINE_DETECTORS to a local .pt file" in failures["detector"]
    assert "Label Studio at http://127.0.0.1:9 is unreachable" in failures["annotation"]
    assert "Traceback" not in result.output
