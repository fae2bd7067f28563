"""The training stage: a dataset version from reviewed labels, a candidate model, the gate, the champion.

Autolabelling and mining use the configured detectors, or else the registry's champion: once the first model is
trained and promoted, a cold-start engine switches to model-based mining and autolabelling by itself.
"""

from dataclasses import dataclass
from pathlib import Path

from data_engine.catalog import Catalog
from data_engine.datasets import (
    SPLITS,
    DatasetConfig,
    DatasetVersion,
    build_dataset,
    load_dataset,
    new_reviewed_frames,
)
from data_engine.detectors import Detector, UltralyticsDetector
from data_engine.evaluation import Evaluation
from data_engine.registry import (
    Candidate,
    GateDecision,
    GatePolicy,
    ModelRegistry,
    ModelVersion,
    RetrainingRecords,
    run_candidate,
)
from data_engine.reports.plots import map_per_model_png
from data_engine.settings import Settings
from data_engine.stages.autolabel import load_detectors
from data_engine.store import Store
from data_engine.training import TrainingConfig
from data_engine.training.run import TrainingResult
from data_engine.training.train import TrainingError

MODELS_PICTURE = "models/map_per_version.png"


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
    catalog: Catalog, store: Store, coco: bool = False, run_id: str | None = None, fail_on_leak: bool = True
) -> DatasetVersion:
    """A new dataset version from the reviewed labels (the latest one when nothing changed since). With
    `fail_on_leak` False a leaking version is recorded too, for a check to judge and block."""
    return build_dataset(catalog, store, DatasetConfig(coco=coco, fail_on_leak=fail_on_leak), run_id=run_id)


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
        store.local_path(f"training/{run_id}"),
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


@dataclass(frozen=True)
class TrainedCandidate:
    """A challenger that was trained, evaluated, registered and judged: the gate's decision is data, a rejection
    is an outcome like a promotion."""

    dataset_id: str
    training: TrainingResult
    model: ModelVersion
    evaluation: Evaluation
    decision: GateDecision

    @property
    def verdict(self) -> str:
        return "promoted" if self.decision.passed else f"rejected: {self.decision.reason}"


def train_on_dataset(
    catalog: Catalog, store: Store, settings: Settings, dataset_id: str, run_id: str
) -> TrainedCandidate:
    """`train_candidate` on a recorded dataset version; a training that leaves no weights is an error."""
    candidate = train_candidate(catalog, store, settings, load_dataset(catalog, store, dataset_id), run_id)
    training = candidate.training
    if candidate.model is None or candidate.evaluation is None or candidate.decision is None:
        raise TrainingError(
            f"training run {run_id} on {dataset_id} left no weights ({training.status}): {training.error or 'no epoch'}"
        )
    return TrainedCandidate(dataset_id, training, candidate.model, candidate.evaluation, candidate.decision)


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
    latest = RetrainingRecords(catalog).latest_dataset()
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
