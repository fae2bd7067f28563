"""The training stage: a dataset version from reviewed labels, a candidate model, the gate, the champion.

Autolabelling and mining use the configured detectors, or else the registry's champion: once the first model is
trained and passes the gate (its quality floor included), a cold-start engine switches to model-based mining and
autolabelling by itself. The champion's detector carries its registry id, so labels, run output and `models`
name a model the same way.
"""

from dataclasses import dataclass
from pathlib import Path

from data_engine.catalog import Catalog, ClipState
from data_engine.datasets import DatasetConfig, DatasetVersion, build_dataset, load_dataset
from data_engine.detectors import Detector, UltralyticsDetector
from data_engine.evaluation import Evaluation, evaluate_model
from data_engine.layout import training_key
from data_engine.progress import Progress
from data_engine.registry import Candidate, GatePolicy, ModelRegistry, ModelVersion, RegistryError, run_candidate
from data_engine.registry.records import RetrainingRecords
from data_engine.settings import Settings
from data_engine.stages.autolabel import load_detectors
from data_engine.store import Store
from data_engine.training import EpochProgress, TrainingConfig


def registry_for(catalog: Catalog, store: Store, settings: Settings) -> ModelRegistry:
    policy = GatePolicy(
        min_gain=settings.gate_min_gain,
        max_drop=settings.gate_max_drop,
        keep_best=settings.keep_models,
        min_map50=settings.gate_min_map50,
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
    catalog: Catalog,
    store: Store,
    settings: Settings,
    dataset: DatasetVersion,
    run_id: str,
    progress: EpochProgress | None = None,
) -> Candidate:
    """Train a challenger on `dataset` (fine-tuning the champion when there is one), evaluate it on the frozen
    test split, register it and let the gate decide; `progress(epochs_done, epochs)` follows the training."""
    registry = registry_for(catalog, store, settings)
    return run_candidate(
        catalog,
        registry,
        dataset,
        training_config(settings),
        store.local_path(training_key(run_id)),
        run_id=run_id,
        from_champion=registry.champion() is not None,
        progress=progress,
    )


@dataclass(frozen=True)
class AddedModel:
    """An external model registered by `add_model`, and what happened to it."""

    model: ModelVersion
    verdict: str


def add_model(
    catalog: Catalog,
    store: Store,
    settings: Settings,
    weights: Path,
    *,
    actor: str,
    model_id: str | None = None,
    promote: bool = False,
    use_gate: bool = False,
) -> AddedModel:
    """Register a model trained elsewhere (a team's own pretrained weights). It is evaluated on the latest dataset
    version's frozen test split when there is one; then it stays a challenger, is promoted by hand (`promote`, the
    way out of a cold start before any dataset exists) or goes through the gate (`use_gate`)."""
    registry = registry_for(catalog, store, settings)
    latest = RetrainingRecords(catalog).latest_dataset()
    dataset = load_dataset(catalog, store, latest.id) if latest is not None else None
    if use_gate and dataset is None:
        raise RegistryError("the gate needs a test split to measure the model on; build a dataset version first")
    evaluation = None
    if dataset is not None:
        evaluation = evaluate_model(weights, dataset, imgsz=settings.train_imgsz)
    model = registry.register(
        weights,
        evaluation,
        dataset_id=dataset.dataset_id if dataset is not None else None,
        model_id=model_id,
        actor=actor,
        source=str(weights.resolve()),
    )
    verdict = f"registered as challenger (make it the champion with `data-engine promote {model.id}`)"
    if promote:
        model = registry.promote(model.id, actor=actor, note="added from outside")
        verdict = "promoted to champion by hand"
    elif use_gate and dataset is not None:
        test_set = dataset

        def evaluate(champion_weights: Path) -> Evaluation:
            return evaluate_model(champion_weights, test_set, imgsz=settings.train_imgsz)

        verdict = registry.decide(model.id, evaluate_champion=evaluate, actor=actor).verdict
        model = registry.get(model.id)
    return AddedModel(model, verdict)


def detectors_in_use(catalog: Catalog, store: Store, settings: Settings) -> list[Detector]:
    """The configured detectors, else the registry's champion (under its registry id), else none (a cold start)."""
    if settings.detectors:
        return load_detectors(settings)
    registry = registry_for(catalog, store, settings)
    champion = registry.champion()
    if champion is None:
        return []
    return [
        UltralyticsDetector(
            registry.weights_path(champion.id),
            imgsz=settings.detector_imgsz,
            conf=settings.detector_conf,
            iou=settings.detector_iou,
            model_id=champion.id,
        )
    ]
