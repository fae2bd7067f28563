"""The registry and its gate without training (hand-made evaluations, real files), on SQLite and PostgreSQL."""

from pathlib import Path

import pytest

from data_engine.evaluation import Evaluation
from data_engine.registry import GatePolicy, ModelRegistry, RegistryError, RetrainingRecords, gate


def _evaluation(map50_95, per_class, per_slice=None, dataset_id="ds-0001"):
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
    )


def test_gate_rules():
    policy = GatePolicy(min_gain=0.02, max_drop=0.05)
    champion = _evaluation(0.40, {"car": 0.5, "person": 0.3}, {"cam1": 0.4, "cam2": 0.4})
    assert gate(_evaluation(0.5, {"car": 0.6}), None, policy).passed
    better = gate(_evaluation(0.45, {"car": 0.6, "person": 0.3, "bus": 0.1}, {"cam1": 0.45}), champion, policy)
    assert better.passed and better.gain == pytest.approx(0.05)
    assert any("['bus']" in note for note in better.notes) and any("['cam2']" in note for note in better.notes)
    small = gate(_evaluation(0.41, {"car": 0.5, "person": 0.3}), champion, policy)
    assert not small.passed and "gain +0.0100 does not beat the champion by min_gain 0.0200" in small.reason
    drop = gate(_evaluation(0.50, {"car": 0.8, "person": 0.2}, {"cam1": 0.6, "cam2": 0.3}), champion, policy)
    assert not drop.passed and len(drop.reasons) == 2
    assert "class 'person' mAP50-95 drops by 0.1000" in drop.reason and "slice 'cam2'" in drop.reason
    other = gate(_evaluation(0.5, {"car": 0.6}, dataset_id="ds-0002"), champion, policy)
    assert any("across dataset versions" in note for note in other.notes)
    with pytest.raises(ValueError, match="keep_best >= 1"):
        GatePolicy(keep_best=0)


def test_registry_lifecycle_on_both_backends(catalog, store, tmp_path):
    records = RetrainingRecords(catalog)
    records.add_dataset(id="ds-0001", number=1, content_hash="0" * 64, manifest_key="datasets/ds-0001/manifest.json")
    registry = ModelRegistry(catalog, store, GatePolicy(min_gain=0.01, max_drop=0.05, keep_best=1))
    assert registry.champion() is None and registry.champion_weights() is None

    def register(name, evaluation):
        weights = tmp_path / f"{name}.pt"
        weights.write_bytes(name.encode() * 1000)
        return registry.register(weights, evaluation, dataset_id="ds-0001", model_id=name, actor="test")

    register("a", _evaluation(0.30, {"car": 0.4, "person": 0.2}))
    assert registry.decide("a").passed and registry.champion().id == "a"
    register("b", _evaluation(0.35, {"car": 0.5, "person": 0.1}))
    decision = registry.decide("b")
    assert not decision.passed and registry.get("b").status == "rejected"
    assert "class 'person' mAP50-95 drops by 0.1000" in registry.get("b").reason
    register("c", _evaluation(0.33, {"car": 0.45, "person": 0.2}))
    assert registry.decide("c").passed
    statuses = {model.id: model.status for model in registry.models()}
    assert statuses == {"a": "archived", "b": "rejected", "c": "champion"}, "the best one besides the champion"
    assert not store.local_path("models/a/weights.pt").exists() and registry.get("a").map50_95 == 0.30, "row kept"
    assert registry.weights_path("c").read_bytes() == b"c" * 1000
    with pytest.raises(RegistryError, match="archived"):
        registry.weights_path("a")
    with pytest.raises(RegistryError, match="no earlier champion with weights"):
        registry.rollback(actor="ops")

    registry.promote("b", actor="ops", note="per-class drop accepted")
    assert registry.rollback(actor="ops", note="regression").id == "c"
    assert registry.get("b").status == "rejected" and registry.get("b").reason == "rolled back by ops: regression"
    with pytest.raises(RegistryError, match="only a challenger goes through the gate"):
        registry.decide("b")
    with pytest.raises(RegistryError, match="no model 'zzz'"):
        registry.get("zzz")
    with pytest.raises(RegistryError, match="already registered"):
        register("a", _evaluation(0.1, {}))
    with pytest.raises(RegistryError, match="do not exist"):
        registry.register(Path(tmp_path / "nope.pt"), _evaluation(0.1, {}), dataset_id="ds-0001")
    assert [event.kind for event in registry.events("c")] == ["register", "promote", "demote", "rollback"]
    assert [event.kind for event in registry.events("a")] == ["register", "promote", "demote", "archive"]
    assert registry.get("c").to_json()["status"] == "champion"
