"""The model registry: model versions with metrics and lineage, weights in the store under a sha256, a champion.

Weights are copied into the store (atomically) before their row is written, so the registry never lists a model
whose file is half-written; every load checks the checksum, so a damaged file is caught, not used. The N best
models by mAP50-95 (plus the champion) keep their weights; the others are archived: file removed, row kept.
Every status change is an event (register, promote, reject, demote, rollback, archive) with its actor and detail.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec

from data_engine.catalog import Catalog
from data_engine.errors import EngineError
from data_engine.evaluation import Evaluation
from data_engine.layout import model_weights_key
from data_engine.registry.gate import GateDecision, GatePolicy, gate
from data_engine.registry.models import ModelVersionRecord, RegistryEvent
from data_engine.registry.records import RetrainingRecords
from data_engine.store import Store, atomic_path, content_hash

CHAMPION, CHALLENGER, REJECTED, ARCHIVED = "champion", "challenger", "rejected", "archived"
MODEL_STATUSES = (CHAMPION, CHALLENGER, REJECTED, ARCHIVED)
EvaluateChampion = Callable[[Path], Evaluation]


class RegistryError(EngineError):
    """A registry operation that cannot be done; the message says why and what to do."""


class CorruptWeightsError(RegistryError):
    """A weights file whose sha256 is not the one recorded at registration."""


@dataclass(frozen=True)
class ModelVersion:
    """A registered model, as autolabelling, mining and the CLI see it."""

    id: str
    status: str
    dataset_id: str | None
    parent_id: str | None
    training_run_id: str | None
    weights_key: str
    sha256: str
    size_bytes: int
    map50: float | None
    map50_95: float | None
    metrics: dict[str, Any]
    reason: str | None
    created_at: datetime

    @classmethod
    def from_record(cls, row: ModelVersionRecord) -> ModelVersion:
        return cls(
            id=row.id,
            status=row.status,
            dataset_id=row.dataset_id,
            parent_id=row.parent_id,
            training_run_id=row.training_run_id,
            weights_key=row.weights_key,
            sha256=row.sha256,
            size_bytes=row.size_bytes,
            map50=row.map50,
            map50_95=row.map50_95,
            metrics=dict(row.metrics or {}),
            reason=row.reason,
            created_at=row.created_at,
        )

    def to_json(self) -> dict[str, Any]:
        """The CLI's `models --json` object."""
        return {
            "id": self.id,
            "status": self.status,
            "map50": self.map50,
            "map50_95": self.map50_95,
            "dataset": self.dataset_id,
            "parent": self.parent_id,
            "reason": self.reason,
            "sha256": self.sha256,
            "created_at": self.created_at.isoformat(),
        }


class ModelRegistry:
    """Model versions in the catalog database, their weights in the store."""

    def __init__(self, catalog: Catalog, store: Store, policy: GatePolicy | None = None) -> None:
        self.records = RetrainingRecords(catalog)
        self.store = store
        self.policy = policy or GatePolicy()

    # Reading

    def get(self, model_id: str) -> ModelVersion:
        row = self.records.get_model(model_id)
        if row is None:
            raise RegistryError(f"no model {model_id!r} in the registry; `data-engine models` lists them")
        return ModelVersion.from_record(row)

    def models(self, status: str | None = None) -> list[ModelVersion]:
        return [ModelVersion.from_record(row) for row in self.records.models(status)]

    def champion(self) -> ModelVersion | None:
        champions = self.records.models(CHAMPION)
        return ModelVersion.from_record(champions[-1]) if champions else None

    def events(self, model_id: str | None = None) -> list[RegistryEvent]:
        return self.records.events(model_id)

    def weights_path(self, model_id: str) -> Path:
        """A local path of the model's weights, checked against the recorded sha256."""
        model = self.get(model_id)
        if model.status == ARCHIVED:
            raise RegistryError(f"model {model_id} is archived: its weights were removed; use a kept model")
        try:
            path = self.store.fetch(model.weights_key)
            digest = content_hash(path)
        except (FileNotFoundError, OSError) as error:
            raise CorruptWeightsError(
                f"weights of model {model_id} ({model.weights_key}) are missing: {error}"
            ) from error
        if digest != model.sha256:
            raise CorruptWeightsError(
                f"weights of model {model_id} ({path}) are damaged: sha256 {digest[:12]}... is not the registered "
                f"{model.sha256[:12]}...; restore the file or promote another model"
            )
        return path

    def champion_weights(self) -> Path | None:
        """The champion's verified weights, or None when there is no champion yet (for autolabelling, mining)."""
        champion = self.champion()
        return None if champion is None else self.weights_path(champion.id)

    # Writing

    def register(
        self,
        weights: str | Path,
        evaluation: Evaluation,
        *,
        dataset_id: str,
        parent_id: str | None = None,
        training_run_id: str | None = None,
        model_id: str | None = None,
        actor: str | None = None,
    ) -> ModelVersion:
        """Copy the weights into the store, then record the model as a challenger with its evaluation."""
        weights = Path(weights)
        if not weights.is_file():
            raise RegistryError(f"weights {weights} do not exist; train a model first")
        digest = content_hash(weights)
        model_id = model_id or f"m-{datetime.now(UTC):%Y%m%d-%H%M%S}-{digest[:8]}"
        if self.records.get_model(model_id) is not None:
            raise RegistryError(f"model id {model_id} is already registered")
        key = model_weights_key(model_id)
        with atomic_path(self.store.local_path(key)) as temporary:
            shutil.copyfile(weights, temporary)
        self.store.commit(key)
        metrics = evaluation.to_json()
        self.records.add_model(
            {"kind": "register", "actor": actor, "detail": {"source": str(weights), "dataset": dataset_id}},
            id=model_id,
            status=CHALLENGER,
            dataset_id=dataset_id,
            parent_id=parent_id,
            training_run_id=training_run_id,
            weights_key=key,
            sha256=digest,
            size_bytes=weights.stat().st_size,
            map50=evaluation.map50,
            map50_95=evaluation.map50_95,
            metrics=metrics,
        )
        self.records.save_evaluation(model_id, evaluation.dataset_id, metrics)
        return self.get(model_id)

    def gate_decision(self, model_id: str, evaluate_champion: EvaluateChampion | None = None) -> GateDecision:
        """The gate's verdict on a challenger, without changing anything but the evaluation cache.

        The champion is compared on the challenger's test split: its stored evaluation on that dataset version,
        else `evaluate_champion(weights)` (stored for next time), else its own registration metrics (noted)."""
        challenger = self.get(model_id)
        challenger_eval = Evaluation.from_json(challenger.metrics)
        champion = self.champion()
        if champion is None or champion.id == model_id:
            return gate(challenger_eval, None, self.policy)
        stored = self.records.evaluation(champion.id, challenger_eval.dataset_id)
        if stored is not None:
            champion_eval = Evaluation.from_json(stored)
        elif evaluate_champion is not None:
            champion_eval = evaluate_champion(self.weights_path(champion.id))
            self.records.save_evaluation(champion.id, champion_eval.dataset_id, champion_eval.to_json())
        else:
            champion_eval = Evaluation.from_json(champion.metrics)
        return gate(challenger_eval, champion_eval, self.policy, champion.id)

    def decide(
        self, model_id: str, evaluate_champion: EvaluateChampion | None = None, actor: str = "gate"
    ) -> GateDecision:
        """Apply the gate to a challenger: promote it, or reject it with the reasons; then apply retention."""
        model = self.get(model_id)
        if model.status != CHALLENGER:
            raise RegistryError(f"model {model_id} is {model.status}; only a challenger goes through the gate")
        decision = self.gate_decision(model_id, evaluate_champion)
        if decision.passed:
            self._make_champion(model_id, "promote", actor, decision.to_json())
        else:
            self.records.set_statuses(
                [(model_id, REJECTED, decision.reason, {"kind": "reject", "detail": decision.to_json()})], actor
            )
        self.apply_retention(actor)
        return decision

    def promote(self, model_id: str, *, actor: str, note: str = "") -> ModelVersion:
        """Make a model champion by hand (its weights must be intact), bypassing the gate; recorded as an event."""
        model = self.get(model_id)
        if model.status == CHAMPION:
            return model
        self.weights_path(model_id)
        self._make_champion(model_id, "manual_promote", actor, {"note": note})
        return self.get(model_id)

    def rollback(self, *, actor: str, note: str = "") -> ModelVersion:
        """Give the champion role back to the previous champion that still has weights; the current champion is
        marked rejected with the rollback as its reason."""
        current = self.champion()
        if current is None:
            raise RegistryError("there is no champion to roll back")
        for event in reversed(self.records.events()):
            if event.to_status != CHAMPION or event.model_id == current.id:
                continue
            previous = self.get(event.model_id)
            if previous.status == ARCHIVED:
                continue
            self.weights_path(previous.id)
            reason = f"rolled back by {actor}" + (f": {note}" if note else "")
            self.records.set_statuses(
                [
                    (current.id, REJECTED, reason, {"kind": "rollback", "detail": {"to": previous.id, "note": note}}),
                    (previous.id, CHAMPION, None, {"kind": "rollback", "detail": {"from": current.id, "note": note}}),
                ],
                actor,
            )
            return self.get(previous.id)
        raise RegistryError(f"no earlier champion with weights to roll back to from {current.id}")

    def apply_retention(self, actor: str | None = None) -> list[str]:
        """Archive every model outside the `keep_best` best by mAP50-95 (the champion always stays): weights
        removed from the store, row kept. Returns the archived ids."""
        kept = [model for model in self.models() if model.status != ARCHIVED]
        ranked = sorted(
            (model for model in kept if model.status != CHAMPION),
            key=lambda model: (model.map50_95 if model.map50_95 is not None else -1.0, model.created_at),
            reverse=True,
        )
        archived = [model.id for model in ranked[self.policy.keep_best :]]
        for model in ranked[self.policy.keep_best :]:
            _remove(self.store, model.weights_key)
        if archived:
            detail = {"keep_best": self.policy.keep_best}
            self.records.set_statuses(
                [(model_id, ARCHIVED, None, {"kind": "archive", "detail": detail}) for model_id in archived], actor
            )
        return archived

    def _make_champion(self, model_id: str, kind: str, actor: str | None, detail: dict[str, Any]) -> None:
        changes = [(model_id, CHAMPION, None, {"kind": kind, "detail": detail})]
        current = self.champion()
        if current is not None and current.id != model_id:
            changes.insert(0, (current.id, CHALLENGER, None, {"kind": "demote", "detail": {"by": model_id}}))
        self.records.set_statuses(changes, actor)


def _remove(store: Store, key: str) -> None:
    """Delete a file from the store (and its local staging copy)."""
    store.local_path(key).unlink(missing_ok=True)
    if not store.is_local:
        filesystem, path = fsspec.core.url_to_fs(store.uri(key))
        if filesystem.exists(path):
            filesystem.rm(path)
