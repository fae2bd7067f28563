"""`Catalog` is a facade over concern modules of a readable size, each method defined in one of them."""

import inspect
from pathlib import Path

from data_engine.catalog import Catalog

CATALOG_DIR = Path(inspect.getfile(Catalog)).parent


def test_each_catalog_module_is_at_most_300_lines() -> None:
    sizes = {path.name: len(path.read_text().splitlines()) for path in CATALOG_DIR.glob("*.py")}
    assert max(sizes.values()) <= 300, sizes


def test_the_facade_defines_nothing_and_no_concern_overrides_another() -> None:
    assert [name for name in vars(Catalog) if not name.startswith("__")] == []
    owners: dict[str, list[str]] = {}
    for cls in Catalog.__mro__[1:-1]:
        for name, value in vars(cls).items():
            if callable(value) or isinstance(value, staticmethod):
                owners.setdefault(name, []).append(cls.__name__)
    assert {name: classes for name, classes in owners.items() if len(classes) > 1 and name != "__init__"} == {}
