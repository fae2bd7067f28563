"""The `data-engine` command as a person uses it: JSON listings, clip journeys and one-line errors."""

import json
import os
import re
import subprocess
import sys
import time
import traceback
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from data_engine.catalog import Catalog
from data_engine.cli import main
from data_engine.mining.triggers import registered_triggers, trigger_spec
from tests.videos import make_test_video


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATA_ENGINE_CATALOG_URL", raising=False)
    runner = CliRunner()

    def invoke(*args: str, expect: int = 0):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == expect, result.output
        return result

    return invoke


def test_ingest_then_list_videos_clips_status_and_a_clip_journey(run, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    video = make_test_video(tmp_path / "in" / "street cam.mp4", frames=60, gop=25)
    os.utime(video, (time.time() - 60, time.time() - 60))
    run("ingest", str(video.parent))

    (listed,) = json.loads(run("videos", "--json").output)
    assert listed["source"] == str(video) and listed["frames"] == 60 and listed["fps"] == 25.0
    assert listed["status"] == "clipped" and listed["error"] is None
    clips = json.loads(run("clips", "--json").output)
    assert [(c["first_video_frame"], c["last_video_frame"]) for c in clips] == [(0, 59)]
    assert set(clips[0]) == {
        "id",
        "video_id",
        "first_video_frame",
        "last_video_frame",
        "start_s",
        "end_s",
        "path",
        "status",
    }
    assert Path(clips[0]["path"]).is_file()
    status = json.loads(run("status", "--json").output)
    assert status["videos"]["clipped"] == 1 and status["clips"]["extracted"] == 1
    waiting = datetime.fromisoformat(status["oldest_waiting"]["extracted"])
    assert waiting.utcoffset() == timedelta(0), "times carry their zone (UTC)"
    assert f"(oldest since {status['oldest_waiting']['extracted']})" in run("status").output

    journey = run("clip", "show", clips[0]["id"]).output
    assert "(new) -> extracted" in journey
    (event,) = json.loads(run("clip", "show", clips[0]["id"], "--json").output)["events"]
    assert datetime.fromisoformat(event["time"]).utcoffset() == timedelta(0), "journey times carry their zone"
    assert event["time"] in journey
    assert "nothing new to ingest" in run("ingest", str(video.parent)).output


def test_user_errors_are_one_line_without_traceback(run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = run("ingest", str(tmp_path / "nowhere"), expect=2)
    assert missing.output.startswith("error: no such file or folder") and "Traceback" not in missing.output
    unknown = run("clip", "show", "no-such-clip", expect=2)
    assert "no clip with id 'no-such-clip'" in unknown.output
    monkeypatch.setenv("DATA_ENGINE_CATALOG_URL", "postgresql+psycopg2://nobody@127.0.0.1:1/none")
    unreachable = run("status", expect=2)
    assert unreachable.output.startswith("error: cannot open the catalog at postgresql")
    monkeypatch.setenv("DATA_ENGINE_CLIP_SECONDS", "ten")
    assert "DATA_ENGINE_CLIP_SECONDS='ten' is not valid" in run("status", expect=2).output


def test_training_commands_fail_clearly_before_there_is_anything_to_train(run) -> None:
    assert json.loads(run("models", "--json").output) == []
    empty = run("dataset", "build", expect=2)
    assert empty.output.startswith("error: ") and "Traceback" not in empty.output
    assert run("train", expect=2).output.startswith("error: ")
    assert run("promote", "no-such-model", expect=2).output.startswith("error: ")
    assert run("rollback", expect=2).output.startswith("error: ")


def test_a_missing_id_is_one_error_line_and_debug_adds_the_traceback(run, monkeypatch: pytest.MonkeyPatch) -> None:
    for command in (("clip", "show", "no-such-clip"), ("labels", "show", "no-such-clip")):
        plain = run(*command, expect=2)
        assert plain.output == "error: no clip with id 'no-such-clip' (see `data-engine clips`)\n"
    debug = run("--debug", "clip", "show", "no-such-clip", expect=2).output
    assert "Traceback (most recent call last)" in debug and "NotFoundError" in debug
    assert debug.endswith("error: no clip with id 'no-such-clip' (see `data-engine clips`)\n")
    monkeypatch.setenv("DATA_ENGINE_DEBUG", "1")
    assert "Traceback (most recent call last)" in run("clip", "show", "no-such-clip", expect=2).output


def test_a_bug_is_not_dressed_up_as_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the engine's own errors become `error: ...`; anything else keeps its exception and traceback."""
    monkeypatch.setenv("DATA_ENGINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATA_ENGINE_CATALOG_URL", raising=False)

    def broken(_catalog: Catalog) -> dict:
        raise KeyError("a bug")

    monkeypatch.setattr(Catalog, "status_counts", broken)
    result = CliRunner().invoke(main, ["status"])
    assert isinstance(result.exception, KeyError) and result.exit_code == 1
    assert "error:" not in result.output
    assert "in broken" in "".join(traceback.format_exception(*result.exc_info))


def test_the_command_line_starts_without_importing_heavy_libraries() -> None:
    """`--help`, `status` and the listings import no stage machinery (torch, OpenCV, pandas, matplotlib, dask)."""
    script = (
        "import sys\n"
        "from data_engine.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('torch', 'ultralytics', 'cv2', 'pandas', 'scipy', 'matplotlib', 'distributed', 'av', 'sqlalchemy')\n"
        "print(sorted(name for name in heavy if name in sys.modules))\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert output.strip().splitlines()[-1] == "[]"


def test_an_unknown_status_is_a_clear_error_listing_the_valid_ones(run) -> None:
    clips = run("clips", "--status", "nosuch", expect=2).output
    assert "'nosuch' is not one of 'extracted', 'mined', 'selected', 'autolabelled', 'pushed'" in clips
    videos = run("videos", "--status", "nosuch", expect=2).output
    assert "'nosuch' is not one of 'registered', 'clipped', 'quarantined'" in videos
    assert run("clips", "--status", "in_dataset").output == ""


def test_the_readme_names_the_triggers_the_engine_prints() -> None:
    """The pipeline sketch lists the default triggers; the settings table names those that run only when named."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    mining = re.search(r"mining ─+ frame features, triggers \((.*?)\)", readme, re.DOTALL)
    assert mining, "the README's pipeline sketch lists the triggers"
    named = set(re.findall(r"[a-z_]+", mining.group(1))) - {"with", "a", "model", "and", "two"}
    assert named == {name for name in registered_triggers() if trigger_spec(name).default}
    (setting,) = [line for line in readme.splitlines() if line.startswith("| `DATA_ENGINE_TRIGGERS` |")]
    assert all(name in setting for name in registered_triggers())
