"""The training stage: a dataset version from reviewed labels, a candidate model, the gate, the champion.

Autolabelling and mining use the configured detectors, or else the registry's champion: once the first model is
trained and promoted, a cold-start engine switches to model-based mining and autolabelling by itself.
"""

from pathlib import Path

from data_engine.catalog import Catalog, ClipState
from data_engine.datasets import DatasetConfig, DatasetVersion, build_dataset
from data_engine.detectors import Detector, UltralyticsDetector
from data_engine.layout import training_key
from data_engine.progress import Progress
from data_engine.registry import Candidate, GatePolicy, ModelRegistry, run_candidate
from data_engine.settings import Settings
from data_engine.stages.autolabel import load_detectors
from data_engine.store import Store
from data_engine.training import TrainingConfig


def registry_for(catalog: Catalog, store: Store, settings: Settings) -> ModelRegistry:
    policy = GatePolicy(
        min_gain=settings.gate_min_gain, max_drop=settings.gate_max_drop, keep_best=settings.keep_models
    )
    return ModelRegistry(catalog, store, policy)


def training_config(settings: Settings) -> TrainingConfig:
    return TrainingConfig(
        model=settings.train_model,
        epochs=settings.train_epochs,
        imgsz=settings.train_imgsz,
        budget_s=settings.train_budget_hours * 3600,
        price_per_hour=settings.price_per_hour,
    )


def build_training_dataset(
    catalog: Catalog,
    store: Store,
    config: DatasetConfig | None = None,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> DatasetVersion:
    """A new dataset version from the reviewed labels (the latest one when nothing changed since); its clips move
    to `in_dataset` (again after a crash between recording the version and moving them: a move is idempotent)."""
    built = build_dataset(catalog, store, config, progress=progress)
    catalog.transition(
        sorted({frame.clip_id for frame in built.manifest.frames}),
        ClipState.IN_DATASET,
        stage="dataset",
        run_id=run_id,
        detail={"dataset": built.dataset_id},
    )
    return built


def train_candidate(
    catalog: Catalog, store: Store, settings: Settings, dataset: DatasetVersion, run_id: str
) -> Candidate:
    """Train a challenger on `dataset` (fine-tuning the champion when there is one), evaluate it on the frozen
    test split, register it and let the gate decide."""
    registry = registry_for(catalog, store, settings)
    return run_candidate(
        catalog,
        registry,
        dataset,
        training_config(settings),
        store.local_path(training_key(run_id)),
        run_id=run_id,
        from_champion=registry.champion() is not None,
    )


def detectors_in_use(catalog: Catalog, store: Store, settings: Settings) -> list[Detector]:
    """The configured detectors, else the registry's champion, else none (a cold start)."""
    if settings.detectors:
        return load_detectors(settings)
    weights: Path | None = registry_for(catalog, store, settings).champion_weights()
    if weights is None:
        return []
    return [
        UltralyticsDetector(
            weights, imgsz=settings.detector_imgsz, conf=settings.detector_conf, iou=settings.detector_iou
        )
    ]
