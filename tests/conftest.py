"""Shared fixtures: catalogs on SQLite and on a real PostgreSQL server, a local store, the sample videos."""

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

pytest_plugins = ["tests.model_fixtures", "tests.labelstudio_fixtures"]

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "data-engine-tests-yolo"))

from data_engine.catalog import Catalog  # noqa: E402  (environment first: ultralytics reads it at import)
from data_engine.store import Store  # noqa: E402
from tests.postgres import throwaway_database  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE_VIDEOS = Path(os.environ.get("DATA_ENGINE_SAMPLE_VIDEOS", REPO.parent / "shared" / "videos"))
POSTGRES_URL = os.environ.get("DATA_ENGINE_TEST_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An engine home of its own for a command-line test: no DATA_ENGINE_* setting of the caller's environment,
    work in process, 2-second clips."""
    for name in [name for name in os.environ if name.startswith("DATA_ENGINE_")]:
        monkeypatch.delenv(name)
    home = tmp_path / "home"
    monkeypatch.setenv("DATA_ENGINE_HOME", str(home))
    monkeypatch.setenv("DATA_ENGINE_COMPUTE", "inprocess")
    monkeypatch.setenv("DATA_ENGINE_CLIP_SECONDS", "2")
    return home


@pytest.fixture(scope="session")
def sample_videos() -> Path:
    if not (SAMPLE_VIDEOS / "crowd_overhead_720p.avi").exists():
        pytest.fail(f"sample videos not found in {SAMPLE_VIDEOS} (set DATA_ENGINE_SAMPLE_VIDEOS)")
    return SAMPLE_VIDEOS


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throwaway database on the PostgreSQL server for this test session."""
    with ExitStack() as opened:
        try:
            url = opened.enter_context(throwaway_database(POSTGRES_URL, "data_engine_test"))
        except Exception as error:  # any failure here means: no server to test against
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable: {error}")
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty catalog URL on each backend (PostgreSQL: a schema of its own per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    database = request.getfixturevalue("postgres_database")
    schema = f"t_{uuid.uuid4().hex[:10]}"
    engine = create_engine(database)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{database}?options=-csearch_path%3D{schema}"


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    opened = Catalog(catalog_url)
    yield opened
    opened.dispose()


@pytest.fixture
def sqlite_catalog(tmp_path: Path) -> Iterator[Catalog]:
    opened = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield opened
    opened.dispose()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(str(tmp_path / "store"))
