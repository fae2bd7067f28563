"""The README's quickstart cannot rot: its commands are read from README.md and run in a clean clone.

The quickstart's demo command(s) run verbatim in a fresh `git clone` of HEAD beside a `shared/videos` folder (the
README points the demo at ../shared/videos), so `make` creates and installs a new virtual environment there. Its
test command is the one .ci/run calls; running it here would recurse, so the fast tests only check that CI and
the README agree. The clean-clone run takes minutes (a full pip install): it runs when CI=true or
DATA_ENGINE_README_TEST=1, and is skipped otherwise.
"""

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
CI_RUN = REPO / ".ci" / "run"
DEMO_SUMMARY = "in total: 2 videos clipped"
SHELL_SETUP = re.compile(r"^(#!|set |cd |export )")


def _without_comment(line: str) -> str:
    """The command on a shell line: a `#` at the start or after whitespace starts a comment."""
    return re.sub(r"(^|\s)#.*$", "", line).strip()


def bash_block(readme: str, heading: str) -> str:
    """The text of the first ```bash block under the README's `## {heading}` section."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", readme, re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no '## {heading}' section"
    block = re.search(r"^```bash\n(.*?)^```", match.group(1), re.MULTILINE | re.DOTALL)
    assert block, f"the {heading} section has no ```bash block"
    return block.group(1)


def quickstart_commands(readme: str) -> list[str]:
    """The commands of the first ```bash block under the README's "## Quickstart" heading, comments removed."""
    return [command for command in map(_without_comment, bash_block(readme, "Quickstart").splitlines()) if command]


def ci_commands(script: str) -> list[str]:
    """The commands .ci/run executes, without the shebang, comments and shell setup (set, cd, export)."""
    lines = (_without_comment(line) for line in script.splitlines() if not line.startswith("#!"))
    return [line for line in lines if line and not SHELL_SETUP.match(line)]


def _demo_commands() -> list[str]:
    ci = set(ci_commands(CI_RUN.read_text()))
    return [command for command in quickstart_commands(README.read_text()) if command not in ci]


def clean_environment() -> dict[str, str]:
    """This machine's environment (pip and proxy settings included) without this checkout's virtual environment
    and without any engine or Dagster setting, as on a machine that has never seen the project."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DATA_ENGINE_", "DAGSTER_", "PYTEST_")) and name not in {"VIRTUAL_ENV", "PYTHONPATH"}
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(REPO)))
    return env


def test_quickstart_parses_into_commands() -> None:
    commands = quickstart_commands(README.read_text())
    assert commands, "the Quickstart bash block is empty"
    assert all(not command.startswith("#") for command in commands)


def test_ci_runs_the_readme_test_command() -> None:
    ci = ci_commands(CI_RUN.read_text())
    assert ci, ".ci/run calls no command"
    quickstart = quickstart_commands(README.read_text())
    assert set(ci) <= set(quickstart), f".ci/run calls {ci}, not among the README's quickstart {quickstart}"
    assert _demo_commands(), f"the quickstart {quickstart} has no command besides the test command CI runs"


def test_command_parsing_drops_comments_and_shell_setup() -> None:
    readme = "# t\n\n## Quickstart\n\ntext\n\n```bash\nmake demo    # the demo\n\n# note\nmake test\n```\n\n## Next\n"
    assert quickstart_commands(readme) == ["make demo", "make test"]
    script = '#!/usr/bin/env bash\n# CI\nset -euo pipefail\ncd "$(dirname "$0")/.."\nmake test  # all\n'
    assert ci_commands(script) == ["make test"]


@pytest.mark.slow
@pytest.mark.timeout(2400)
@pytest.mark.skipif(
    os.environ.get("CI") != "true" and os.environ.get("DATA_ENGINE_README_TEST") != "1",
    reason="runs the README's demo in a fresh clone with a new virtual environment (minutes): "
    "set DATA_ENGINE_README_TEST=1 (CI=true does too)",
)
def test_readme_demo_runs_verbatim_in_a_clean_clone(tmp_path: Path, sample_videos: Path) -> None:
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=300)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "videos").symlink_to(sample_videos, target_is_directory=True)
    models = sample_videos.parent / "models"
    if (models / "yolox_nano.onnx").is_file():  # as beside the real ../shared: the demo mines with YOLOX-Nano
        (tmp_path / "shared" / "models").symlink_to(models, target_is_directory=True)
    env = clean_environment()

    output = ""
    for command in _demo_commands():
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=2100,
        )
        print(f"{command!r}: exit {done.returncode} after {time.monotonic() - started:.0f} s")
        assert done.returncode == 0, f"{command!r} failed in a clean clone:\n{done.stdout[-6000:]}"
        output += done.stdout
    assert DEMO_SUMMARY in output, f"the demo did not print {DEMO_SUMMARY!r}:\n{output[-6000:]}"
    if (models / "yolox_nano.onnx").is_file():
        assert "model in use: yolox_nano-" in output, output[-3000:]
    print(output[-1500:])
    assert (clone / ".venv" / "bin" / "data-engine").exists(), "the demo did not install into a new .venv"
