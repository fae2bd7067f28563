"""Make the carried wheels importable on a machine without internet: each wheel in FOLDER whose top-level modules do
not import already is unpacked into TARGET (put TARGET first on PYTHONPATH). Unpacking instead of pip: it needs
nothing but Python, and it never touches the packages the machine has (torch, numpy, OpenCV stay as they are).

    python3 bench/gpu/install_wheels.py .whl .gpu-site
"""

import importlib.util
import sys
import zipfile
from pathlib import Path


def top_level_modules(wheel: zipfile.ZipFile) -> set[str]:
    """The importable names a wheel provides (its top-level packages and modules)."""
    names = set()
    for entry in wheel.namelist():
        first = entry.split("/", 1)[0]
        if first.endswith((".dist-info", ".data", ".libs")):
            continue
        names.add(first.split(".", 1)[0])
    return names


def main() -> None:
    folder, target = Path(sys.argv[1]), Path(sys.argv[2])
    target.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(target))
    for path in sorted(folder.glob("*.whl")):
        with zipfile.ZipFile(path) as wheel:
            modules = top_level_modules(wheel)
            missing = sorted(name for name in modules if importlib.util.find_spec(name) is None)
            if not missing:
                print(f"have {path.name}: {', '.join(sorted(modules))} already importable", flush=True)
                continue
            wheel.extractall(target)
            print(f"unpacked {path.name} (was missing: {', '.join(missing)})", flush=True)


if __name__ == "__main__":
    main()
