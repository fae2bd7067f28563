"""A batch's pictures are drawn when something shows them, never by `data-engine mine`: the command does not
import matplotlib, the batch page draws the missing timelines and summary, and a later selection in a clip deletes
the pictures it changes so none is ever stale."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from data_engine.catalog import Catalog
from data_engine.layout import mining_summary_key, timeline_key
from data_engine.reports.pictures import draw_missing_pictures, forget_pictures, shown_pictures
from data_engine.store import Store
from tests.videos import make_test_video

PROBE = """
import json, sys
from click.testing import CliRunner
from data_engine.cli import main
for arguments in (["ingest", sys.argv[1]], ["mine"]):
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 0, result.output
print(json.dumps("matplotlib" in sys.modules))
"""


def test_mine_draws_nothing_and_the_pictures_come_when_shown(tmp_path: Path) -> None:
    home = tmp_path / "home"
    video = make_test_video(tmp_path / "cam.mp4", frames=75, gop=25)
    os.utime(video, (time.time() - 60, time.time() - 60))
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("DATA_ENGINE_")},
        "DATA_ENGINE_HOME": str(home),
        "DATA_ENGINE_COMPUTE": "inprocess",
        "DATA_ENGINE_CLIP_SECONDS": "1",
    }
    output = subprocess.run(
        [sys.executable, "-c", PROBE, str(video)], check=True, capture_output=True, text=True, env=env
    ).stdout
    assert json.loads(output.strip().splitlines()[-1]) is False, "mining imported matplotlib"
    store_root = home / "store"
    assert sorted(store_root.rglob("*.png")) == [], "mining drew a picture"

    catalog, store = Catalog(f"sqlite:///{home / 'catalog.db'}"), Store(str(store_root))
    (batch,) = catalog.batch_keys()
    clips = catalog.clips(batch_key=batch)
    drawn = draw_missing_pictures(catalog, store, batch)
    assert sorted(drawn) == sorted([*(timeline_key(clip) for clip in clips), mining_summary_key(batch)])
    shown = shown_pictures(catalog, store, batch)
    assert shown.summary is not None and shown.summary.read_bytes().startswith(b"\x89PNG")
    assert shown.busiest_timeline is not None and shown.busiest_timeline.read_bytes().startswith(b"\x89PNG")
    assert draw_missing_pictures(catalog, store, batch) == [], "drawn once, then only looked up"

    forget_pictures(store, batch, clips[:1])
    assert not store.exists(timeline_key(clips[0])) and not store.exists(mining_summary_key(batch))
    assert sorted(draw_missing_pictures(catalog, store, batch)) == sorted(
        [timeline_key(clips[0]), mining_summary_key(batch)]
    )
    catalog.dispose()
