"""The training stage: a dataset version from reviewed labels, a candidate model, the gate, the champion.

Autolabelling and mining use the configured detectors, or else the registry's champion: once the first model is
trained and passes the gate (its quality floor included), a cold-start engine switches to model-based mining and
autolabelling by itself. The champion's detector carries its registry id, so labels, run output and `models`
name a model the same way.
"""

from dataclasses import dataclass
from pathlib import Path

from data_engine.catalog import Catalog, ClipState
from data_engine.datasets import (
    SPLITS,
    DatasetConfig,
    DatasetVersion,
    build_dataset,
    load_dataset,
    new_reviewed_frames,
)
from data_engine.datasets.records import DatasetRecords
from data_engine.detectors.loading import is_ultralytics_export
from data_engine.evaluation import Evaluation, evaluate_model
from data_engine.evaluation.detection import trained_imgsz
from data_engine.layout import MODELS_PICTURE, training_key
from data_engine.plots import map_per_model_png
from data_engine.progress import Progress
from data_engine.registry import (
    ModelCandidate,
    ModelStatus,
    ModelVersion,
    RegistryError,
    registry_for,
    run_candidate,
)
from data_engine.settings import Settings
from data_engine.store import Store, content_hash
from data_engine.training import EpochProgress, TrainingConfig


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
) -> ModelCandidate:
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
    digest = content_hash(weights)
    same = next((known for known in registry.models() if known.sha256 == digest), None)
    if same is not None:
        if promote and same.status != ModelStatus.CHAMPION:
            same = registry.promote(same.id, actor=actor, note="added from outside again")
        return AddedModel(same, f"these weights are already registered as {same.id} ({same.status}); nothing added")
    foreign_onnx = weights.suffix.lower() == ".onnx" and not is_ultralytics_export(weights)
    if use_gate and foreign_onnx:
        raise RegistryError(
            f"{weights} is an ONNX model of another family: the test split is measured with Ultralytics' validator, "
            "which reads Ultralytics models only; add it with --promote (or as a challenger) instead of --gate"
        )
    latest = DatasetRecords(catalog).latest_dataset()
    dataset = load_dataset(catalog, store, latest.id) if latest is not None else None
    if use_gate and dataset is None:
        raise RegistryError("the gate needs a test split to measure the model on; build a dataset version first")
    evaluation = None
    if dataset is not None and not foreign_onnx:
        # At the size the weights learnt at (a 160-px model scores near 0 at 640), not DATA_ENGINE_TRAIN_IMGSZ.
        evaluation = evaluate_model(weights, dataset, imgsz=trained_imgsz(weights, settings.train_imgsz))
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
            return evaluate_model(
                champion_weights, test_set, imgsz=trained_imgsz(champion_weights, settings.train_imgsz)
            )

        verdict = registry.decide(model.id, evaluate_champion=evaluate, actor=actor).verdict
        model = registry.get(model.id)
    return AddedModel(model, verdict)


def train_on_dataset(
    catalog: Catalog, store: Store, settings: Settings, dataset_id: str, run_id: str
) -> ModelCandidate:
    """`train_candidate` on a recorded dataset version."""
    return train_candidate(catalog, store, settings, load_dataset(catalog, store, dataset_id), run_id)


@dataclass(frozen=True)
class ModelsSummary:
    """The registry at a glance: the champion, every model version, and test mAP per version as a picture."""

    champion: ModelVersion | None
    models: list[ModelVersion]
    picture: Path | None


def summarise_models(catalog: Catalog, store: Store, settings: Settings) -> ModelsSummary:
    """The champion and all model versions, with a picture of their test mAP in registration order."""
    registry = registry_for(catalog, store, settings)
    models = registry.models()
    picture = None
    if models:
        ordered = sorted(models, key=lambda model: model.created_at)
        picture = map_per_model_png(
            store.local_path(MODELS_PICTURE), [(m.id[-8:], m.map50, m.map50_95) for m in ordered]
        )
        store.commit(MODELS_PICTURE)
    return ModelsSummary(registry.champion(), models, picture)


@dataclass(frozen=True)
class RetrainBacklog:
    """Reviewed images the latest dataset version lacks, against the retraining threshold, and how many videos
    have reviews (splits are per video: train, val and test need one each before a dataset can be built)."""

    new_images: int
    threshold: int
    latest_dataset: str | None
    reviewed_videos: int

    @property
    def due(self) -> bool:
        return self.new_images >= self.threshold and self.reviewed_videos >= len(SPLITS)

    @property
    def reason(self) -> str:
        """Why a retrain is (not) due, in one line."""
        if self.reviewed_videos < len(SPLITS):
            return (
                f"reviewed images from {self.reviewed_videos} video(s); train, val and test need {len(SPLITS)} to split"
            )
        return f"{self.new_images} new reviewed images, retraining at {self.threshold}"


def retrain_backlog(catalog: Catalog, store: Store, settings: Settings) -> RetrainBacklog:
    """What the retrain sensor decides on: new reviewed images since the latest dataset version."""
    latest = DatasetRecords(catalog).latest_dataset()
    reviewed_videos = {
        clip.video_id
        for clip in catalog.clips()
        if any(version.kind == "review" for version in catalog.label_versions(clip.id))
    }
    return RetrainBacklog(
        new_reviewed_frames(catalog, store),
        settings.retrain_min_new_images,
        latest.id if latest else None,
        len(reviewed_videos),
    )
