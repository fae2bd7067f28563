"""The README's loop section cannot rot: its bash block runs verbatim, as a new user would paste it, in an empty
folder with a fresh home, an environment without any engine, Dagster or Ultralytics setting, and this virtual
environment's `bin` on PATH. Two rounds of the loop with tiny models on CPU; the block's own output is checked: a
first champion, the champion in use in round two, `data-engine train` printing the model and the gate's verdict,
and the rollback to the first champion."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_readme import README, bash_block, clean_environment

SECTION = "The loop on the command line"


def _walkthrough_environment(home: Path) -> dict[str, str]:
    env = {name: value for name, value in clean_environment().items() if not name.startswith("YOLO_")}
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_readme_loop_runs_verbatim_from_a_clean_home(tmp_path: Path) -> None:
    script = tmp_path / "loop.sh"
    script.write_text(bash_block(README.read_text(), SECTION))
    folder, home = tmp_path / "work", tmp_path / "home"
    folder.mkdir()
    home.mkdir()
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", str(script)],
        cwd=folder,
        env=_walkthrough_environment(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=840,
    )
    output = done.stdout
    assert done.returncode == 0, f"the README's loop failed (exit {done.returncode}):\n{output[-8000:]}"

    # round 1: a cold start whose first model becomes the champion
    first = re.search(r"^model (m-\S+)\n(?:  .*\n)*?gate: promoted to champion \(first model", output, re.MULTILINE)
    assert first, f"round 1 promoted no first champion:\n{output[-8000:]}"
    champion = first.group(1)
    assert "note: cold start" in output and "answered 30 frames from the ground truth" in output
    assert re.search(r"^dataset ds-0001 \(new\): train \d+ images \(\d+ groups?\), val ", output, re.MULTILINE)

    # round 2: the champion mines and autolabels; `train` prints the challenger, its scores and the gate's verdict
    assert f"model in use: {champion}" in output
    assert re.search(r"clips autolabelled: [1-9]", output), "the champion autolabelled no clip in round 2"
    round_two = (folder / "train-round-2.txt").read_text()
    assert "fine-tuning champion " + champion in round_two
    challenger = re.search(r"^model (m-\S+)$", round_two, re.MULTILINE)
    assert challenger and challenger.group(1) != champion, round_two
    assert re.search(r"test split of ds-0002 \(\d+ images\): mAP50 \d\.\d{3}", round_two)
    assert re.search(r"^gate: (promoted to champion|rejected: .+)$", round_two, re.MULTILINE), round_two

    # the challenger promoted by hand, then rolled back: the first champion is the champion again
    assert f"{challenger.group(1)} is the champion" in output
    assert f"rolled back: {champion} is the champion again; {challenger.group(1)} is rolled_back" in output
    assert re.search(rf"^{champion} +champion ", output, re.MULTILINE)
