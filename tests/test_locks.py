"""The lock files are honoured: the engine's environment holds exactly the versions of constraints.txt, every
requirement of pyproject.toml is pinned there within its bounds, and Label Studio's lock pins what its start needs."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
ENGINE_LOCK = REPO / "constraints.txt"
LABEL_STUDIO_LOCK = REPO / "constraints-labelstudio.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;@]+)$")
# Needed by the ONNX detectors, which pyproject.toml lists as dependencies (in the lock before they land here).
ALSO_LOCKED = ("onnxruntime", "lap")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line.strip())
        assert match, f"{lock.name}: not an exact pin: {line!r}"
        found[normalise(match[1])] = match[2]
    return found


def test_installed_versions_are_the_locked_ones() -> None:
    locked = pins(ENGINE_LOCK)
    installed = {
        normalise(dist.metadata["Name"]): dist.version
        for dist in importlib.metadata.distributions()
        if normalise(dist.metadata["Name"]) != "data-engine"
    }
    differ = {
        name: (installed.get(name), version) for name, version in locked.items() if installed.get(name) != version
    }
    assert not differ, f"installed vs constraints.txt (run make setup, or scripts/lock.py engine): {differ}"
    unlocked = sorted(set(installed) - set(locked))
    assert not unlocked, f"installed but not in constraints.txt (refresh it: scripts/lock.py engine): {unlocked}"


def test_every_project_requirement_is_locked_within_its_bounds() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(text) for text in project["dependencies"]]
    requirements += [Requirement(text) for extra in project["optional-dependencies"].values() for text in extra]
    requirements += [Requirement(name) for name in ALSO_LOCKED]
    locked = pins(ENGINE_LOCK)
    for requirement in requirements:
        name = normalise(requirement.name)
        assert name in locked, f"{requirement} is not in constraints.txt"
        assert requirement.specifier.contains(locked[name], prereleases=True), f"{requirement}: locked {locked[name]}"


def test_label_studio_lock_pins_a_sentry_sdk_it_starts_with() -> None:
    locked = pins(LABEL_STUDIO_LOCK)
    script = (REPO / "scripts" / "labelstudio.sh").read_text()
    assert "constraints-labelstudio.txt" in script
    assert "label-studio" in locked and "label-studio-sdk" in locked
    # sentry-sdk 3 makes Label Studio 1.23 exit at start: TypeError: Unknown option 'send_default_pii'.
    assert int(locked["sentry-sdk"].split(".")[0]) < 3
    assert "pip" in locked
