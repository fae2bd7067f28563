"""Label Studio as README.md, "Annotating in Label Studio", starts it: `scripts/labelstudio.sh start` serves the
engine's own document root and prints the variables the engine needs, so that pushed images load (HTTP 200), and
`data-engine doctor` fetches one and reports a 404 with its fix when the server serves another root."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from data_engine.annotation.backends import answers_hint
from data_engine.catalog import Catalog
from data_engine.cli import main
from data_engine.settings import Settings
from tests.data_engine.stages.test_ingest_stage import _age
from tests.labelstudio_fixtures import free_port, labelstudio_script, prepared_data_dir

ENGINE_VARIABLES = ("DATA_ENGINE_STORE", "DATA_ENGINE_LABEL_STUDIO_DOCUMENT_ROOT", "DATA_ENGINE_LS_DOCUMENT_ROOT")


def _exports(printed: str) -> dict[str, str]:
    """The `export NAME=VALUE` lines start prints, with the token's `$(cat FILE)` read as a shell would."""
    found = dict(re.findall(r"^\s*export (\w+)=(.*)$", printed, re.MULTILINE))
    token = re.fullmatch(r'"\$\(cat (.+)\)"', found["DATA_ENGINE_LABEL_STUDIO_TOKEN"])
    assert token, found
    found["DATA_ENGINE_LABEL_STUDIO_TOKEN"] = Path(token[1]).read_text().strip()
    return found


def test_started_as_the_readme_says_the_pushed_images_load_and_doctor_checks_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sample_videos: Path
) -> None:
    for name in ENGINE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    monkeypatch.setenv("DATA_ENGINE_BUDGET_PER_DAY", "3")
    monkeypatch.chdir(tmp_path)
    labelstudio_script("install", timeout=1200)
    data_dir = prepared_data_dir(tmp_path / "labelstudio")
    port = str(free_port())
    try:
        printed = labelstudio_script("start", str(data_dir), port)
        exports = _exports(printed)
        assert exports["DATA_ENGINE_LABEL_STUDIO_DOCUMENT_ROOT"] == str(tmp_path / "home" / "store")
        assert exports["DATA_ENGINE_LABEL_STUDIO_TOKEN"] not in printed, "the token is never printed"
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        runner = CliRunner()
        video = tmp_path / "in" / "crowd.avi"
        video.parent.mkdir()
        video.write_bytes((sample_videos / "crowd_overhead_720p.avi").read_bytes())
        _age(video)
        pushed = runner.invoke(main, ["run", str(video)], catch_exceptions=False)
        assert pushed.exit_code == 0 and "tasks pushed: " in pushed.output, pushed.output
        (hint,) = [line for line in pushed.output.splitlines() if line.startswith("next: ")]
        assert "`data-engine pull`" in hint and "import-annotations" not in hint

        catalog = Catalog(f"sqlite:///{tmp_path / 'home' / 'catalog.db'}")
        (run,) = catalog.annotation_runs()
        catalog.dispose()
        session = requests.Session()
        session.headers["Authorization"] = f"Token {exports['DATA_ENGINE_LABEL_STUDIO_TOKEN']}"
        url = exports["DATA_ENGINE_LABEL_STUDIO_URL"]
        tasks = session.get(
            f"{url}/api/tasks", params={"project": run.record["project_id"], "page_size": 100}, timeout=30
        ).json()["tasks"]
        assert tasks
        for task in tasks:
            image = session.get(f"{url}{task['data']['image']}", timeout=30)
            assert image.status_code == 200 and image.content[:2] == b"\xff\xd8", task["data"]["image"]

        doctor = runner.invoke(main, ["doctor"])
        assert doctor.exit_code == 0, doctor.output
        assert re.search(
            r"^ok\s+pushed images\s+the image of task \d+ .* loads through Label Studio", doctor.output, re.M
        )

        # The setup: a server serving local files from / while the engine's root is its store.
        labelstudio_script("stop", str(data_dir))
        labelstudio_script("start", str(data_dir), port, env={"DATA_ENGINE_LS_DOCUMENT_ROOT": "/"})
        doctor = runner.invoke(main, ["doctor"])
        assert doctor.exit_code == 1, doctor.output
        (failure,) = [line for line in doctor.output.splitlines() if line.startswith("FAIL")]
        assert "pushed images" in failure and "answers 404" in failure and "scripts/labelstudio.sh start" in failure
        assert json.dumps(exports["DATA_ENGINE_LABEL_STUDIO_TOKEN"])[1:-1] not in doctor.output
    finally:
        labelstudio_script("stop", str(data_dir))


def test_the_next_hint_names_the_command_that_brings_answers_back(tmp_path: Path) -> None:
    assert "`data-engine pull`" in answers_hint(Settings(home=tmp_path, label_studio_url="http://127.0.0.1:8080"))
    assert "import-annotations PATH" in answers_hint(Settings(home=tmp_path))
