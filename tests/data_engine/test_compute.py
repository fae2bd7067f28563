"""Compute backends: the same per-clip work (real decoding + features) gives identical results in-process, in a local
process pool and on a real Dask cluster (a `dask scheduler` and two `dask worker` processes on 127.0.0.1)."""

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_engine.compute import (
    GPU,
    ComputeBackend,
    ComputeError,
    DaskBackend,
    InProcessBackend,
    ProcessPoolBackend,
    backend_from_settings,
)
from data_engine.mining.features import FeaturesError, FrameFeatures, compute_features
from data_engine.settings import Settings, SettingsError
from tests.dask_cluster import dask_cluster, free_port
from tests.videos import make_test_video


def features_and_worker(clip: str) -> tuple[FrameFeatures, str]:
    """The clip's features and the name of the Dask worker that computed them ("local" outside Dask)."""
    from distributed import get_worker

    try:
        worker = str(get_worker().name)
    except ValueError:
        worker = "local"
    return compute_features(clip, width=96), worker


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, sample_videos: Path) -> list[str]:
    """Six small generated H.264/MPEG-4 clips of different sizes and lengths, and a real 720p sample video."""
    folder = tmp_path_factory.mktemp("compute-clips")
    generated = [
        make_test_video(folder / f"clip{index}.mp4", frames=30 + 10 * index, size=(160 + 32 * index, 120), gop=10)
        for index in range(5)
    ]
    generated.append(make_test_video(folder / "mpeg4.avi", frames=40, codec="mpeg4"))
    return [str(path) for path in generated] + [str(sample_videos / "crowd_overhead_720p.avi")]


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    with dask_cluster(workers=2) as address:
        yield address


@pytest.fixture(scope="module")
def expected(clips: list[str]) -> list[FrameFeatures]:
    return [compute_features(clip, width=96) for clip in clips]


def _assert_identical(results: list[FrameFeatures], expected: list[FrameFeatures]) -> None:
    assert len(results) == len(expected)
    for result, wanted in zip(results, expected, strict=True):
        assert result == wanted


def _run(backend: ComputeBackend, clips: list[str]) -> tuple[list[tuple[FrameFeatures, str]], list[tuple[int, int]]]:
    reported: list[tuple[int, int]] = []
    with backend:
        results = backend.map(features_and_worker, clips, progress=lambda done, total: reported.append((done, total)))
    return results, reported


@pytest.mark.parametrize("backend", [InProcessBackend(), ProcessPoolBackend(2)], ids=["inprocess", "processes"])
def test_local_backends_match_a_plain_loop(
    backend: ComputeBackend, clips: list[str], expected: list[FrameFeatures]
) -> None:
    results, reported = _run(backend, clips)
    _assert_identical([features for features, _ in results], expected)
    assert {worker for _, worker in results} == {"local"}
    assert reported == [(done, len(clips)) for done in range(1, len(clips) + 1)]


def test_dask_cluster_gives_identical_results_in_input_order_on_both_workers(
    dask_address: str, clips: list[str], expected: list[FrameFeatures]
) -> None:
    results, reported = _run(backend_from_settings("dask", workers=1, address=dask_address), clips)
    _assert_identical([features for features, _ in results], expected)
    assert {worker for _, worker in results} == {"worker-0", "worker-1"}
    assert reported == [(done, len(clips)) for done in range(1, len(clips) + 1)]


def test_gpu_jobs_run_on_any_worker_when_no_worker_offers_a_gpu(
    dask_address: str, clips: list[str], expected: list[FrameFeatures]
) -> None:
    """Asking for a GPU where no worker has one must not wait forever: the jobs run wherever they can."""
    with DaskBackend(dask_address) as backend:
        results = backend.map(features_and_worker, clips[:3], resources=GPU)
    _assert_identical([features for features, _ in results], expected[:3])


def test_imap_yields_each_result_with_its_input_position_as_it_finishes(clips: list[str]) -> None:
    with ProcessPoolBackend(2) as backend:
        done = sorted(backend.imap(features_and_worker, clips[:4]))
    assert [position for position, _ in done] == [0, 1, 2, 3]
    assert [worker for _, (_, worker) in done] == ["local"] * 4


def test_a_failing_item_raises_its_own_error_on_every_backend(
    dask_address: str, clips: list[str], tmp_path: Path
) -> None:
    for backend in (InProcessBackend(), ProcessPoolBackend(2), DaskBackend(dask_address)):
        with backend, pytest.raises(FeaturesError, match="does not exist"):
            backend.map(compute_features, [clips[0], str(tmp_path / "missing.mp4")])


def test_partial_of_a_top_level_function_is_accepted(dask_address: str, clips: list[str]) -> None:
    small = functools.partial(compute_features, width=64)
    with DaskBackend(dask_address) as backend:
        (features,) = backend.map(small, clips[:1])
    assert features == compute_features(clips[0], width=64)


def test_no_items_returns_an_empty_list_without_starting_workers() -> None:
    backend = ProcessPoolBackend(2)
    assert backend.map(compute_features, []) == []
    assert backend.describe() == "processes(2)"


def test_a_lambda_is_refused_with_a_clear_error_on_every_backend() -> None:
    for backend in (InProcessBackend(), ProcessPoolBackend(1), DaskBackend("tcp://127.0.0.1:1")):
        with pytest.raises(ComputeError, match="top level of a module"):
            backend.map(lambda clip: clip, ["a"])


def test_an_unreachable_scheduler_is_a_clear_error() -> None:
    backend = DaskBackend(f"tcp://127.0.0.1:{free_port()}", connect_timeout_s=2)
    with pytest.raises(ComputeError, match="cannot reach the Dask scheduler"):
        backend.map(compute_features, ["clip.mkv"])


@pytest.mark.parametrize(
    ("kind", "workers", "address", "message"),
    [
        ("gpu", 2, "", "not a compute backend"),
        ("processes", 0, "", "at least 1"),
        ("dask", 2, "", "needs DATA_ENGINE_DASK_ADDRESS"),
    ],
)
def test_bad_backend_settings_are_clear_errors(kind: str, workers: int, address: str, message: str) -> None:
    with pytest.raises(ComputeError, match=message):
        backend_from_settings(kind, workers, address)


def test_settings_choose_the_backend_from_the_environment() -> None:
    environ = {
        "DATA_ENGINE_COMPUTE": "dask",
        "DATA_ENGINE_WORKERS": "3",
        "DATA_ENGINE_DASK_ADDRESS": "tcp://scheduler:8786",
    }
    settings = Settings.from_env(environ, dotenv=None)
    assert (settings.compute, settings.workers, settings.dask_address) == ("dask", 3, "tcp://scheduler:8786")
    backend = backend_from_settings(settings.compute, settings.workers, settings.dask_address)
    assert backend.describe() == "dask(tcp://scheduler:8786)"
    assert Settings.from_env({}, dotenv=None).compute == "processes"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DATA_ENGINE_COMPUTE": "spark"}, "not one of inprocess, processes, dask"),
        ({"DATA_ENGINE_COMPUTE": "dask"}, "needs DATA_ENGINE_DASK_ADDRESS"),
        ({"DATA_ENGINE_WORKERS": "0"}, "WORKERS must be at least 1"),
        ({"DATA_ENGINE_WORKERS": "two"}, "WORKERS='two' is not valid"),
    ],
)
def test_bad_compute_settings_are_clear_errors(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(environ, dotenv=None)
