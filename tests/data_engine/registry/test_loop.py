"""The retraining loop end to end on CPU: reviewed labels -> dataset -> tiny model -> evaluation on the frozen
test split -> registry -> champion; a deliberately worse challenger is rejected by the gate with its reason;
manual promote and rollback are events; retention archives weights; a damaged weights file is caught."""

from dataclasses import replace
from pathlib import Path

import pytest

from data_engine.catalog import Catalog
from data_engine.datasets import DatasetConfig, SplitConfig, build_dataset
from data_engine.evaluation import EvaluationError, evaluate_model
from data_engine.registry import CorruptWeightsError, GatePolicy, ModelRegistry, RegistryError, run_candidate
from data_engine.registry.records import RetrainingRecords
from data_engine.store import Store
from data_engine.synthetic import generate
from data_engine.training.run import TrainingConfig
from data_engine.training.tiny import tiny_model_yaml
from tests.data_engine.datasets.reviewed import ingest_videos, review_from_truth
from tests.model_fixtures import TINY_IMGSZ


@pytest.fixture
def reviewed_dataset(tmp_path, proving_ground):
    """Two training videos (every 5th frame reviewed), one val and two test videos (every 25th)."""
    extra = [generate(tmp_path / "videos", seed=seed) for seed in (104, 105)]
    videos = [*proving_ground.train, *proving_ground.val, *extra]
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    store = Store(str(tmp_path / "store"))
    ingest_videos(catalog, store, [video.video_path for video in videos])
    splits = {}
    for video, split in zip(videos, ("train", "train", "val", "test", "test"), strict=True):
        review_from_truth(catalog, store, video, every=5 if split == "train" else 25)
        (row,) = [v for v in catalog.videos() if Path(v.source_uri) == video.video_path]
        splits[row.id] = split
    dataset = build_dataset(catalog, store, DatasetConfig(split=SplitConfig(assign=splits)))
    yield catalog, store, dataset
    catalog.dispose()


def test_train_evaluate_register_promote_then_reject_a_worse_challenger(
    reviewed_dataset, tiny_detector_weights, tmp_path
):
    """The champion fine-tunes the session's tiny detector (starting weights) for a few epochs; the challenger
    trains the tiny architecture from scratch for one epoch on a tenth of the train split."""
    catalog, store, dataset = reviewed_dataset
    registry = ModelRegistry(catalog, store, GatePolicy(min_gain=0.01, max_drop=0.05))
    base = TrainingConfig(
        model=str(tiny_detector_weights),
        epochs=4,
        imgsz=TINY_IMGSZ,
        batch=8,
        device="cpu",
        price_per_hour=0.5,
        options={"optimizer": "AdamW", "lr0": 0.004, "warmup_epochs": 1},
    )

    first = run_candidate(catalog, registry, dataset, base, tmp_path / "runs" / "r1", run_id="r1", slice_by="video_id")
    evaluation = first.evaluation
    assert first.decision.passed and first.model.status == "champion"
    assert 0 < evaluation.map50_95 <= evaluation.map50 <= 1
    assert evaluation.images == len(dataset.manifest.frames_in("test")) and evaluation.split == "test"
    assert evaluation.ms_per_image > 0 and set(evaluation.per_class) == {"car", "person"}
    per_video = {f.video_id: 0 for f in dataset.manifest.frames_in("test")}
    for frame in dataset.manifest.frames_in("test"):
        per_video[frame.video_id] += 1
    assert {key: s["images"] for key, s in evaluation.per_slice.items()} == per_video, "one slice per test video"
    run = RetrainingRecords(catalog).get_training_run("r1")
    assert (run.status, run.dataset_id, run.parent_model_id, run.device) == (
        "finished",
        dataset.dataset_id,
        None,
        "cpu",
    )
    assert run.params["epochs"] == 4 and run.params["model"] == str(tiny_detector_weights) and run.duration_s > 0
    assert run.estimated_cost == pytest.approx(run.duration_s / 3600 * 0.5)
    champion = registry.champion()
    assert champion.id == first.model.id and registry.weights_path(champion.id).is_file()

    worse = replace(base, model=str(tiny_model_yaml(tmp_path)), epochs=1, fraction=0.1)
    second = run_candidate(
        catalog, registry, dataset, worse, tmp_path / "runs" / "r2", run_id="r2", slice_by="video_id"
    )
    assert not second.decision.passed and second.model.status == "rejected"
    assert "does not beat the champion by min_gain 0.0100" in second.model.reason
    assert second.model.reason == second.decision.reason
    assert registry.champion().id == champion.id, "the champion stays"
    kinds = [(e.model_id, e.kind, e.to_status) for e in registry.events()]
    assert kinds == [
        (champion.id, "register", "challenger"),
        (champion.id, "promote", "champion"),
        (second.model.id, "register", "challenger"),
        (second.model.id, "reject", "rejected"),
    ]
    listed = {model["id"]: model for model in (m.to_json() for m in registry.models())}
    assert listed[second.model.id]["status"] == "rejected" and listed[champion.id]["dataset"] == dataset.dataset_id

    # manual promote and rollback are recorded with their actor
    registry.promote(second.model.id, actor="alice", note="try it")
    assert registry.champion().id == second.model.id and registry.get(champion.id).status == "retired"
    back = registry.rollback(actor="bob", note="worse in production")
    assert back.id == champion.id and registry.get(second.model.id).reason == "rolled back by bob: worse in production"
    assert registry.get(second.model.id).status == "rolled_back"
    assert [(e.kind, e.actor) for e in registry.events()][-4:] == [
        ("retire", "alice"),
        ("manual_promote", "alice"),
        ("rollback", "bob"),
        ("reinstate", "bob"),
    ]

    # a class the model does not know is left out (by name); a dataset of none of its classes is refused
    other = replace(dataset, manifest=replace(dataset.manifest, class_map={0: "car", 1: "van"}))
    narrowed = evaluate_model(registry.weights_path(champion.id), other, imgsz=TINY_IMGSZ, device="cpu")
    assert set(narrowed.per_class) == {"car"} and narrowed.unknown_classes == ("van",)
    assert narrowed.per_class["car"] == pytest.approx(evaluation.per_class["car"]), "same images, same car boxes"
    foreign = replace(dataset, manifest=replace(dataset.manifest, class_map={0: "cat", 1: "dog"}))
    with pytest.raises(EvaluationError, match="share none with dataset"):
        evaluate_model(registry.weights_path(champion.id), foreign, imgsz=TINY_IMGSZ, device="cpu")

    # retention: keep the best one besides the champion; the other loses its weights but keeps its row
    registry.register(
        second.training.best_weights,
        replace(second.evaluation, map50_95=-0.5),
        dataset_id=dataset.dataset_id,
        model_id="m-low",
    )
    strict = ModelRegistry(catalog, store, GatePolicy(keep_best=1))
    assert strict.apply_retention(actor="janitor") == ["m-low"]
    assert strict.get("m-low").archived and not store.local_path(strict.get("m-low").weights_key).exists()
    with pytest.raises(RegistryError, match="archived"):
        strict.weights_path("m-low")

    # a damaged weights file is caught by its checksum
    weights = store.local_path(registry.get(champion.id).weights_key)
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptWeightsError, match="damaged: sha256"):
        registry.weights_path(registry.champion().id)
