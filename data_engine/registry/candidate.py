"""One turn of the retraining loop: train on a dataset version, evaluate on its frozen test split, register the
model with its lineage, and put it through the promotion gate. Each step is also usable on its own (the Dagster
assets call them separately so that the gate can be a blocking check)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from data_engine.attributes import attributes
from data_engine.catalog import Catalog
from data_engine.datasets import DatasetVersion
from data_engine.evaluation import Evaluation, evaluate_model
from data_engine.evaluation.detection import SliceBy
from data_engine.registry.gate import GateDecision
from data_engine.registry.records import RetrainingRecords
from data_engine.registry.registry import ModelRegistry, ModelVersion
from data_engine.training.run import EpochProgress, TrainingConfig, TrainingResult, run_training
from data_engine.training.train import TrainingError


@dataclass(frozen=True)
class ModelCandidate:
    """What a turn produced: the training run, the model it registered, its evaluation and the gate's decision (a
    rejection is an outcome like a promotion)."""

    run_id: str
    dataset_id: str
    training: TrainingResult
    model: ModelVersion
    evaluation: Evaluation
    decision: GateDecision

    @property
    def verdict(self) -> str:
        return self.decision.verdict


def train_and_record(
    catalog: Catalog,
    dataset: DatasetVersion,
    config: TrainingConfig,
    run_dir: str | Path,
    *,
    run_id: str,
    parent_id: str | None = None,
    progress: EpochProgress | None = None,
) -> TrainingResult:
    """Run (or resume) training and keep the run's record current: parameters, dataset, parent, status, device,
    attempts, duration, device-hours and estimated cost."""
    records = RetrainingRecords(catalog)
    common = {"dataset_id": dataset.dataset_id, "parent_model_id": parent_id, "params": config.params()}
    existing = records.get_training_run(run_id)
    if existing is not None and existing.dataset_id != dataset.dataset_id:
        raise ValueError(f"training run {run_id} is for dataset {existing.dataset_id}, not {dataset.dataset_id}")
    records.save_training_run(run_id, status="running", run_dir=str(Path(run_dir).resolve()), **common)
    result = run_training(dataset.data_yaml, run_dir, config, progress=progress)
    records.save_training_run(
        run_id,
        **attributes(
            result, "status", "device", "attempts", "epochs_completed", "duration_s", "device_hours", "estimated_cost"
        ),
        error=result.error,
    )
    return result


def run_candidate(
    catalog: Catalog,
    registry: ModelRegistry,
    dataset: DatasetVersion,
    config: TrainingConfig,
    run_dir: str | Path,
    *,
    run_id: str,
    from_champion: bool = False,
    slice_by: SliceBy = "source",
    actor: str = "gate",
    progress: EpochProgress | None = None,
) -> ModelCandidate:
    """Train (from the champion's weights when `from_champion`), evaluate, register and gate one candidate.
    `progress(epochs_done, epochs)` follows the training; a training that leaves no weights is a `TrainingError`
    (its run is recorded with its status and error first)."""
    parent = registry.champion() if from_champion else None
    if parent is not None:
        config = replace(config, model=str(registry.weights_path(parent.id)))
    training = train_and_record(
        catalog, dataset, config, run_dir, run_id=run_id, parent_id=parent.id if parent else None, progress=progress
    )
    if training.best_weights is None:
        raise TrainingError(
            f"training run {run_id} on {dataset.dataset_id} left no weights ({training.status}): "
            f"{training.error or 'no epoch'}; see {training.run_dir}"
        )

    def evaluate(weights: Path) -> Evaluation:
        return evaluate_model(weights, dataset, imgsz=config.imgsz, device=training.device, slice_by=slice_by)

    evaluation = evaluate(training.best_weights)
    model = registry.register(
        training.best_weights,
        evaluation,
        dataset_id=dataset.dataset_id,
        parent_id=parent.id if parent else None,
        training_run_id=run_id,
    )
    decision = registry.decide(model.id, evaluate_champion=evaluate, actor=actor)
    return ModelCandidate(run_id, dataset.dataset_id, training, registry.get(model.id), evaluation, decision)
