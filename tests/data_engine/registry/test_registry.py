"""The registry and its gate without training (hand-made evaluations, real files), on SQLite and PostgreSQL: the
quality floor, promote/rollback/rollback sequences, what each state says, retention that keeps what a rollback
needs, and a class added in round two."""

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from data_engine.catalog import Catalog
from data_engine.catalog.upgrade import alembic_config
from data_engine.datasets.records import DatasetRecords
from data_engine.evaluation import Evaluation
from data_engine.registry import GatePolicy, ModelRegistry, ModelStatus, RegistryError, gate


def _evaluation(map50_95, per_class, per_slice=None, dataset_id="ds-0001", per_slice_class=None):
    return Evaluation(
        dataset_id=dataset_id,
        split="test",
        images=10,
        map50=min(1.0, map50_95 * 1.5),
        map50_95=map50_95,
        per_class={name: {"map50": value, "map50_95": value} for name, value in per_class.items()},
        per_slice={name: {"map50": value, "map50_95": value, "images": 5} for name, value in (per_slice or {}).items()},
        absent_classes=(),
        ms_per_image=3.0,
        imgsz=160,
        device="cpu",
        per_slice_class={
            name: {cls: {"map50": v, "map50_95": v} for cls, v in classes.items()}
            for name, classes in (per_slice_class or {}).items()
        },
    )


@pytest.fixture
def registry(catalog, store, tmp_path):
    DatasetRecords(catalog).add_dataset(
        id="ds-0001", number=1, content_hash="0" * 64, manifest_key="datasets/ds-0001/manifest.json"
    )
    return ModelRegistry(catalog, store, GatePolicy(min_gain=0.01, max_drop=0.05, keep_best=1, min_map50=0.2))


def _register(registry, tmp_path, name, map50_95, per_class=None):
    weights = tmp_path / f"{name}.pt"
    weights.write_bytes(name.encode() * 1000)
    evaluation = _evaluation(map50_95, per_class or {"car": map50_95, "person": map50_95})
    return registry.register(weights, evaluation, dataset_id="ds-0001", model_id=name, actor="test")


def _statuses(registry):
    return {model.id: model.status.value for model in registry.models()}


def test_gate_rules():
    policy = GatePolicy(min_gain=0.02, max_drop=0.05, min_map50=0.3)
    champion = _evaluation(0.40, {"car": 0.5, "person": 0.3}, {"cam1": 0.4, "cam2": 0.4})
    first = gate(_evaluation(0.5, {"car": 0.6}), None, policy)
    assert first.passed and first.verdict == "promoted to champion (first model above the quality floor)"
    weak = gate(_evaluation(0.1, {"car": 0.1}), None, policy)
    assert not weak.passed and "mAP50 0.1500 on the test split of ds-0001 is below the quality floor" in weak.reason
    better = gate(_evaluation(0.45, {"car": 0.6, "person": 0.3}, {"cam1": 0.45}), champion, policy)
    assert better.passed and better.gain == pytest.approx(0.05) and "over" in better.verdict
    assert any("['cam2']" in note for note in better.notes)
    small = gate(_evaluation(0.41, {"car": 0.5, "person": 0.3}), champion, policy)
    assert not small.passed and "gain +0.0100 does not beat the champion by min_gain 0.0200" in small.reason
    drop = gate(_evaluation(0.50, {"car": 0.8, "person": 0.2}, {"cam1": 0.6, "cam2": 0.3}), champion, policy)
    assert not drop.passed and len(drop.reasons) == 2 and drop.verdict.startswith("rejected: ")
    assert "class 'person' mAP50-95 drops by 0.1000" in drop.reason and "slice 'cam2'" in drop.reason
    other = gate(_evaluation(0.5, {"car": 0.6, "person": 0.3}, dataset_id="ds-0002"), champion, policy)
    assert any("across dataset versions" in note for note in other.notes)
    with pytest.raises(ValueError, match="keep_best >= 1"):
        GatePolicy(keep_best=0)
    with pytest.raises(ValueError, match=r"min_map50 in \[0, 1\]"):
        GatePolicy(min_map50=2)


def test_a_class_added_in_round_two_is_compared_on_the_classes_both_know():
    """The challenger knows `bus`, weak so far; the champion does not. Overall (a mean over three classes) the
    challenger looks worse, on car and person it is better: it passes, and `bus` is reported apart."""
    policy = GatePolicy(min_gain=0.01, max_drop=0.05)
    champion = _evaluation(0.40, {"car": 0.5, "person": 0.3}, {"cam1": 0.4}, per_slice_class={"cam1": {"car": 0.5}})
    challenger = _evaluation(
        0.35,
        {"car": 0.55, "person": 0.35, "bus": 0.15},
        {"cam1": 0.3},
        dataset_id="ds-0002",
        per_slice_class={"cam1": {"car": 0.55, "bus": 0.05}},
    )
    decision = gate(challenger, champion, policy)
    assert decision.passed, decision.reason
    assert decision.gain == pytest.approx(0.05), "mean over car and person"
    assert any(
        note.startswith("new class 'bus' (the champion does not know it): mAP50-95 0.1500") for note in decision.notes
    )
    worse = _evaluation(0.5, {"car": 0.3, "person": 0.3, "bus": 0.9}, dataset_id="ds-0002")
    rejected = gate(worse, champion, policy)
    assert not rejected.passed and "on the classes both know (car, person) 0.3000 vs champion 0.4000" in rejected.reason
    assert "class 'car' mAP50-95 drops by 0.2000" in rejected.reason, "a known class may not get worse"


def test_quality_floor_keeps_a_useless_first_model_out(registry, tmp_path):
    weak = _register(registry, tmp_path, "weak", 0.05)
    decision = registry.decide(weak.id)
    assert not decision.passed and registry.champion() is None, "the engine stays in cold start"
    assert registry.get("weak").status is ModelStatus.REJECTED
    assert registry.get("weak").reason.startswith(
        "mAP50 0.0750 on the test split of ds-0001 is below the quality floor"
    )
    good = _register(registry, tmp_path, "good", 0.30)
    assert registry.decide(good.id).passed and registry.champion().id == "good"
    assert registry.get("good").reason == "gate: promoted to champion (first model above the quality floor)"


def test_promote_and_rollback_walk_the_champion_history(registry, tmp_path):
    for name, score in (("a", 0.30), ("b", 0.35), ("c", 0.40)):
        _register(registry, tmp_path, name, score)
        assert registry.decide(name).passed
    assert _statuses(registry) == {"a": "retired", "b": "retired", "c": "champion"}
    assert registry.get("b").reason == "replaced by c"

    assert registry.rollback(actor="ops", note="c misses cyclists").id == "b"
    assert _statuses(registry) == {"a": "retired", "b": "champion", "c": "rolled_back"}
    assert registry.get("c").reason == "rolled back by ops: c misses cyclists"
    assert registry.get("b").reason == "reinstated by ops's rollback from c: c misses cyclists"
    assert registry.rollback(actor="ops").id == "a", "a second rollback goes further back, not to c"
    assert _statuses(registry) == {"a": "champion", "b": "rolled_back", "c": "rolled_back"}
    with pytest.raises(RegistryError, match="no earlier champion to roll back to from a"):
        registry.rollback(actor="ops")

    # a hand promotion puts the champion aside as retired (not challenger); rollback returns to it
    registry.promote("c", actor="alice", note="fixed upstream")
    assert _statuses(registry) == {"a": "retired", "b": "rolled_back", "c": "champion"}
    assert registry.get("c").reason == "promoted by hand by alice: fixed upstream"
    assert registry.rollback(actor="bob").id == "a"
    assert "rolled back" not in registry.get("a").reason
    kinds = [(event.kind, event.from_status, event.to_status) for event in registry.events("a")]
    assert kinds == [
        ("register", None, "challenger"),
        ("promote", "challenger", "champion"),
        ("retire", "champion", "retired"),
        ("reinstate", "retired", "champion"),
        ("retire", "champion", "retired"),
        ("reinstate", "retired", "champion"),
    ]
    with pytest.raises(RegistryError, match="only a challenger goes through the gate"):
        registry.decide("b")


def test_retention_never_removes_weights_a_rollback_needs(registry, store, tmp_path):
    """keep_best=1: of the models a rollback cannot reach only the best keeps its weights; the retired former
    champions keep theirs however many there are, so a rollback after retention still works."""
    for name, score in (("a", 0.30), ("b", 0.35), ("c", 0.40)):
        _register(registry, tmp_path, name, score)
        registry.decide(name)
    for name, score in (("x", 0.20), ("y", 0.25)):
        _register(registry, tmp_path, name, score)
        registry.decide(name)
    assert registry.apply_retention() == []
    assert {m.id: (m.status.value, m.archived) for m in registry.models()} == {
        "a": ("retired", False),
        "b": ("retired", False),
        "c": ("champion", False),
        "x": ("rejected", True),
        "y": ("rejected", False),
    }
    assert not store.local_path("models/x/weights.pt").exists() and registry.get("x").map50_95 == 0.20, "row kept"
    assert registry.get("x").reason.startswith("mAP50-95 0.2000 vs champion 0.4000"), "the gate's reason stays"
    with pytest.raises(RegistryError, match="archived"):
        registry.weights_path("x")
    assert registry.rollback(actor="ops").id == "b" and registry.rollback(actor="ops").id == "a"
    assert registry.weights_path("a").read_bytes() == b"a" * 1000
    assert [event.kind for event in registry.events("x")] == ["register", "reject", "archive"]


def test_models_added_from_outside_and_bad_requests(registry, tmp_path):
    weights = tmp_path / "team.pt"
    weights.write_bytes(b"team" * 100)
    added = registry.register(weights, None, dataset_id=None, model_id="team", actor="cli", source=str(weights))
    assert added.status is ModelStatus.CHALLENGER and added.map50 is None and added.evaluation is None
    assert added.reason == f"added from {weights}"
    with pytest.raises(RegistryError, match="no evaluation on a test split"):
        registry.decide("team")
    assert registry.promote("team", actor="cli").status is ModelStatus.CHAMPION
    assert registry.lineage("team") == [registry.get("team")]
    with pytest.raises(RegistryError, match="no model 'zzz'"):
        registry.get("zzz")
    with pytest.raises(RegistryError, match="already registered"):
        _register(registry, tmp_path, "team", 0.1)
    with pytest.raises(RegistryError, match="do not exist"):
        registry.register(Path(tmp_path / "nope.pt"), _evaluation(0.1, {}), dataset_id="ds-0001")
    assert registry.get("team").to_json()["status"] == "champion"


def test_the_migration_rewrites_old_statuses_to_what_happened(catalog_url, store):
    """A registry written before revision 0007: a demoted champion listed as `challenger`, a rolled-back one as
    `rejected`, an archived one that lost its status."""
    config = alembic_config()
    engine = create_engine(catalog_url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.execute(
            text(
                "INSERT INTO dataset_versions (id, number, content_hash, manifest_key, class_map, splits, counts, "
                "report, created_at) VALUES ('ds-0001', 1, 'h', 'k', '{}', '{}', '{}', '{}', CURRENT_TIMESTAMP)"
            )
        )
        history = {
            "a": ("challenger", [("register", "challenger"), ("promote", "champion"), ("demote", "challenger")]),
            "b": ("rejected", [("register", "challenger"), ("manual_promote", "champion"), ("rollback", "rejected")]),
            "c": ("archived", [("register", "challenger"), ("reject", "rejected"), ("archive", "archived")]),
            "d": ("champion", [("register", "challenger"), ("rollback", "champion")]),
        }
        for model_id, (status, events) in history.items():
            connection.execute(
                text(
                    "INSERT INTO model_versions (id, status, dataset_id, weights_key, sha256, size_bytes, metrics, "
                    "created_at, updated_at) VALUES (:id, :status, 'ds-0001', 'k', 's', 1, '{}', CURRENT_TIMESTAMP, "
                    "CURRENT_TIMESTAMP)"
                ),
                {"id": model_id, "status": status},
            )
            for kind, to_status in events:
                connection.execute(
                    text(
                        "INSERT INTO registry_events (model_id, kind, to_status, detail, created_at) VALUES "
                        "(:id, :kind, :to, '{}', CURRENT_TIMESTAMP)"
                    ),
                    {"id": model_id, "kind": kind, "to": to_status},
                )
    engine.dispose()
    migrated = Catalog(catalog_url)
    models = {model.id: (model.status.value, model.archived) for model in ModelRegistry(migrated, store).models()}
    migrated.dispose()
    assert models == {
        "a": ("retired", False),
        "b": ("rolled_back", False),
        "c": ("rejected", True),
        "d": ("champion", False),
    }
