"""Where the browser tests keep their screenshots."""

from pathlib import Path


def screenshot_folder(folder: Path) -> Path:
    """`folder`, created, without the screenshots an earlier run left in it."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    return folder
