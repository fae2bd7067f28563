"""One model version with the records around it, gathered for `data-engine models show` (which only prints it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from data_engine.registry.gate import GateDecision
from data_engine.registry.models import RegistryEvent, TrainingRunRecord
from data_engine.registry.registry import ModelRegistry, ModelVersion


@dataclass(frozen=True)
class ModelCard:
    """A model, where its weights came from, the run that trained it, its ancestors (parent first), the gate's
    decision, its scores on dataset versions other than its own, and its events."""

    model: ModelVersion
    source: str | None
    training_run: TrainingRunRecord | None
    ancestors: list[ModelVersion]
    decision: GateDecision | None
    other_evaluations: dict[str, dict[str, Any]]
    events: list[RegistryEvent]

    def training_run_json(self) -> dict[str, Any] | None:
        run = self.training_run
        if run is None:
            return None
        return {
            "id": run.id,
            "dataset": run.dataset_id,
            "status": run.status,
            "epochs": run.epochs_completed,
            "device": run.device,
            "duration_s": run.duration_s,
            "estimated_cost": run.estimated_cost,
            "params": run.params,
        }


def model_card(registry: ModelRegistry, model_id: str) -> ModelCard:
    """The card of `model_id` (a RegistryError when the registry has no such model)."""
    model = registry.get(model_id)
    events = registry.events(model_id)
    return ModelCard(
        model=model,
        source=next((event.detail.get("source") for event in events if event.kind == "register"), None),
        training_run=registry.records.get_training_run(model.training_run_id) if model.training_run_id else None,
        ancestors=registry.lineage(model_id)[1:],
        decision=registry.gate_record(model_id),
        other_evaluations={
            row.dataset_id: {"map50": row.metrics.get("map50"), "map50_95": row.metrics.get("map50_95")}
            for row in registry.records.evaluations(model_id)
            if row.dataset_id != model.dataset_id
        },
        events=events,
    )
