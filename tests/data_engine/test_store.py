"""The store on a local folder and on an fsspec object store (fsspec's in-memory filesystem)."""

from pathlib import Path

from data_engine.store import Store, atomic_path, is_temporary


def test_local_store_writes_atomically_and_lists_keys(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "store"))
    store.write_text("clips/v/00000/clip.json", "{}")
    assert store.list_keys("clips") == ["clips/v/00000/clip.json"]
    assert store.fetch("clips/v/00000/clip.json").read_text() == "{}"
    assert store.list_keys("nothing-here") == []


def test_an_interrupted_atomic_write_leaves_no_file_behind(tmp_path: Path) -> None:
    final = tmp_path / "out" / "clip.mkv"
    try:
        with atomic_path(final) as temporary:
            temporary.write_bytes(b"half a clip")
            assert is_temporary(temporary.name)
            raise RuntimeError("crash")
    except RuntimeError:
        pass
    assert list((tmp_path / "out").iterdir()) == []


def test_object_store_stages_locally_and_publishes_complete_files(tmp_path: Path) -> None:
    store = Store("memory://engine-test/store", staging=tmp_path / "staging")
    store.write_text("labels/v0001.json", '{"ok": true}')
    assert not store.is_local
    assert store.exists("labels/v0001.json")
    assert store.uri("labels/v0001.json") == "memory://engine-test/store/labels/v0001.json"
    assert store.list_keys("labels") == ["labels/v0001.json"]
    (tmp_path / "staging" / "labels" / "v0001.json").unlink()
    assert store.fetch("labels/v0001.json").read_text() == '{"ok": true}'
