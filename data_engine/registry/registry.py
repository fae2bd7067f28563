"""The model registry: model versions with metrics and lineage, weights in the store under a sha256, a champion.

Weights are copied into the store (atomically) before their row is written, so the registry never lists a model
whose file is half-written; every load checks the checksum, so a damaged file is caught, not used.

A model's status says what happened to it (`ModelStatus`), its reason says why. The champion history is the
sequence of events that made a model champion: a rollback walks back along it to the latest former champion that
was replaced by a newer one (`retired`), never to the model the rollback itself takes out (`rolled_back`) nor
to a model the gate rejected. Retention removes the weights of the models a rollback cannot reach beyond the
`keep_best` best (row and status kept, `archived` set). Every change is an event with its actor and detail.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import fsspec

from data_engine.attributes import attributes
from data_engine.catalog import Catalog
from data_engine.errors import EngineError
from data_engine.evaluation import Evaluation
from data_engine.layout import model_weights_key
from data_engine.registry.gate import GateDecision, GatePolicy, gate
from data_engine.registry.models import ModelVersionRecord, RegistryEvent
from data_engine.registry.records import RetrainingRecords, StatusChange
from data_engine.store import Store, atomic_path, content_hash


class ModelStatus(StrEnum):
    """What happened to a model version (its `reason` says why)."""

    CHALLENGER = "challenger"  # registered, not yet through the gate (or added from outside, not promoted)
    CHAMPION = "champion"  # the model autolabelling and mining use
    RETIRED = "retired"  # a former champion replaced by a newer one: a rollback can reinstate it
    REJECTED = "rejected"  # the gate said no
    ROLLED_BACK = "rolled_back"  # taken out as champion by a rollback


EvaluateChampion = Callable[[Path], Evaluation]


class RegistryError(EngineError):
    """A registry operation that cannot be done; the message says why and what to do."""


class CorruptWeightsError(RegistryError):
    """A weights file whose sha256 is not the one recorded at registration."""


_RECORD_FIELDS = (
    "dataset_id",
    "parent_id",
    "training_run_id",
    "weights_key",
    "sha256",
    "size_bytes",
    "map50",
    "map50_95",
    "reason",
)
"""The fields a `ModelVersion` takes from its catalog record as they are."""


@dataclass(frozen=True)
class ModelVersion:
    """A registered model, as autolabelling, mining and the CLI see it. `metrics` is its evaluation (empty for a
    model added from outside before any dataset existed); `archived`: retention removed its weights."""

    id: str
    status: ModelStatus
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
    archived: bool = False

    @classmethod
    def from_record(cls, row: ModelVersionRecord) -> ModelVersion:
        return cls(
            id=row.id,
            status=ModelStatus(row.status),
            **attributes(row, *_RECORD_FIELDS),
            metrics=dict(row.metrics or {}),
            created_at=_aware(row.created_at),
            archived=row.archived_at is not None,
        )

    @property
    def evaluation(self) -> Evaluation | None:
        return Evaluation.from_json(self.metrics) if self.metrics else None

    def to_json(self) -> dict[str, Any]:
        """The CLI's `models --json` object."""
        return {
            "id": self.id,
            "status": self.status.value,
            "archived": self.archived,
            "map50": self.map50,
            "map50_95": self.map50_95,
            "dataset": self.dataset_id,
            "parent": self.parent_id,
            "training_run": self.training_run_id,
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

    def models(self, status: ModelStatus | None = None) -> list[ModelVersion]:
        return [ModelVersion.from_record(row) for row in self.records.models(status)]

    def champion(self) -> ModelVersion | None:
        champions = self.records.models(ModelStatus.CHAMPION)
        return ModelVersion.from_record(champions[-1]) if champions else None

    def events(self, model_id: str | None = None) -> list[RegistryEvent]:
        return self.records.events(model_id)

    def lineage(self, model_id: str) -> list[ModelVersion]:
        """The model and its ancestors (the champions it was fine-tuned from), newest first."""
        chain = [self.get(model_id)]
        seen = {model_id}
        while chain[-1].parent_id is not None and chain[-1].parent_id not in seen:
            parent = self.records.get_model(chain[-1].parent_id)
            if parent is None:
                break
            seen.add(parent.id)
            chain.append(ModelVersion.from_record(parent))
        return chain

    def gate_record(self, model_id: str) -> GateDecision | None:
        """The gate's decision on the model as recorded (None when it never went through the gate)."""
        for event in reversed(self.records.events(model_id)):
            if event.kind in ("promote", "reject") and "passed" in event.detail:
                return GateDecision.from_json(event.detail)
        return None

    def rollback_target(self) -> ModelVersion | None:
        """The model a rollback would reinstate: the latest former champion that is `retired` with its weights."""
        current = self.champion()
        for event in reversed(self.records.events()):
            if event.to_status != ModelStatus.CHAMPION or (current is not None and event.model_id == current.id):
                continue
            previous = self.get(event.model_id)
            if previous.status == ModelStatus.RETIRED and not previous.archived:
                return previous
        return None

    def weights_path(self, model_id: str) -> Path:
        """A local path of the model's weights, checked against the recorded sha256."""
        model = self.get(model_id)
        if model.archived:
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

    # Writing

    def register(
        self,
        weights: str | Path,
        evaluation: Evaluation | None,
        *,
        dataset_id: str | None,
        parent_id: str | None = None,
        training_run_id: str | None = None,
        model_id: str | None = None,
        actor: str | None = None,
        source: str | None = None,
    ) -> ModelVersion:
        """Copy the weights into the store, then record the model as a challenger with its evaluation (None for a
        model added from outside before there is a test split to measure it on). `source` says where it came from
        when it was not trained here."""
        weights = Path(weights)
        if not weights.is_file():
            raise RegistryError(f"weights {weights} do not exist; train a model first")
        digest = content_hash(weights)
        model_id = model_id or f"m-{datetime.now(UTC):%Y%m%d-%H%M%S}-{digest[:8]}"
        if self.records.get_model(model_id) is not None:
            raise RegistryError(f"model id {model_id} is already registered")
        key = model_weights_key(model_id, ".onnx" if weights.suffix.lower() == ".onnx" else ".pt")
        with atomic_path(self.store.local_path(key)) as temporary:
            shutil.copyfile(weights, temporary)
        self.store.commit(key)
        metrics = evaluation.to_json() if evaluation is not None else {}
        detail = {"source": source or str(weights), "dataset": dataset_id, "external": source is not None}
        self.records.add_model(
            {"kind": "register", "actor": actor, "detail": detail},
            id=model_id,
            status=ModelStatus.CHALLENGER,
            dataset_id=dataset_id,
            parent_id=parent_id,
            training_run_id=training_run_id,
            weights_key=key,
            sha256=digest,
            size_bytes=weights.stat().st_size,
            map50=evaluation.map50 if evaluation is not None else None,
            map50_95=evaluation.map50_95 if evaluation is not None else None,
            metrics=metrics,
            reason=f"added from {source}" if source else "trained, waiting for the gate",
        )
        if evaluation is not None:
            self.records.save_evaluation(model_id, evaluation.dataset_id, metrics)
        return self.get(model_id)

    def gate_decision(self, model_id: str, evaluate_champion: EvaluateChampion | None = None) -> GateDecision:
        """The gate's verdict on a challenger, without changing anything but the evaluation cache.

        The champion is compared on the challenger's test split: its stored evaluation on that dataset version,
        else `evaluate_champion(weights)` (stored for next time), else its own registration metrics (noted)."""
        challenger = self.get(model_id)
        challenger_eval = challenger.evaluation
        if challenger_eval is None:
            raise RegistryError(
                f"model {model_id} has no evaluation on a test split, so the gate cannot judge it; build a dataset "
                "version first (or promote it by hand)"
            )
        champion = self.champion()
        if champion is None or champion.id == model_id:
            return gate(challenger_eval, None, self.policy)
        stored = self.records.evaluation(champion.id, challenger_eval.dataset_id)
        if stored is not None:
            champion_eval = Evaluation.from_json(stored)
        elif evaluate_champion is not None:
            champion_eval = evaluate_champion(self.weights_path(champion.id))
            self.records.save_evaluation(champion.id, champion_eval.dataset_id, champion_eval.to_json())
        elif champion.evaluation is not None:
            champion_eval = champion.evaluation
        else:
            raise RegistryError(f"champion {champion.id} has no evaluation to compare with; evaluate it first")
        return gate(challenger_eval, champion_eval, self.policy, champion.id)

    def decide(
        self, model_id: str, evaluate_champion: EvaluateChampion | None = None, actor: str = "gate"
    ) -> GateDecision:
        """Apply the gate to a challenger: promote it, or reject it with the reasons; then apply retention."""
        model = self.get(model_id)
        if model.status != ModelStatus.CHALLENGER:
            raise RegistryError(f"model {model_id} is {model.status}; only a challenger goes through the gate")
        decision = self.gate_decision(model_id, evaluate_champion)
        if decision.passed:
            self._make_champion(model_id, "promote", actor, f"gate: {decision.verdict}", decision.to_json())
        else:
            self.records.set_statuses(
                [StatusChange(model_id, ModelStatus.REJECTED, decision.reason, "reject", decision.to_json())], actor
            )
        self.apply_retention(actor)
        return decision

    def promote(self, model_id: str, *, actor: str, note: str = "") -> ModelVersion:
        """Make a model champion by hand (its weights must be intact), bypassing the gate; recorded as an event."""
        model = self.get(model_id)
        if model.status == ModelStatus.CHAMPION:
            return model
        self.weights_path(model_id)
        reason = f"promoted by hand by {actor}" + (f": {note}" if note else "")
        self._make_champion(model_id, "manual_promote", actor, reason, {"note": note, "was": model.status.value})
        self.apply_retention(actor)
        return self.get(model_id)

    def rollback(self, *, actor: str, note: str = "") -> ModelVersion:
        """Take the champion out (`rolled_back`) and reinstate the latest former champion still `retired` with its
        weights; a second rollback goes further back, never to the model the first one took out."""
        current = self.champion()
        if current is None:
            raise RegistryError("there is no champion to roll back")
        previous = self.rollback_target()
        if previous is None:
            raise RegistryError(
                f"no earlier champion to roll back to from {current.id} (none retired with its weights); promote "
                "a model by hand with `data-engine promote ID`"
            )
        self.weights_path(previous.id)
        suffix = f": {note}" if note else ""
        self.records.set_statuses(
            [
                StatusChange(
                    current.id,
                    ModelStatus.ROLLED_BACK,
                    f"rolled back by {actor}{suffix}",
                    "rollback",
                    {"to": previous.id, "note": note},
                ),
                StatusChange(
                    previous.id,
                    ModelStatus.CHAMPION,
                    f"reinstated by {actor}'s rollback from {current.id}{suffix}",
                    "reinstate",
                    {"from": current.id, "note": note},
                ),
            ],
            actor,
        )
        return self.get(previous.id)

    def apply_retention(self, actor: str | None = None) -> list[str]:
        """Remove the weights of every model outside the `keep_best` best by mAP50-95, except those a rollback can
        reach or a person may want back at once: the champion and the retired former champions keep theirs. The
        row and the status stay (`archived` is set). Returns the archived ids."""
        protected = {ModelStatus.CHAMPION, ModelStatus.RETIRED}
        candidates = [model for model in self.models() if not model.archived and model.status not in protected]
        ranked = sorted(
            candidates,
            key=lambda model: (model.map50_95 if model.map50_95 is not None else -1.0, model.created_at),
            reverse=True,
        )
        archived = ranked[self.policy.keep_best :]
        for model in archived:
            _remove(self.store, model.weights_key)
        if archived:
            self.records.mark_archived([model.id for model in archived], actor, {"keep_best": self.policy.keep_best})
        return [model.id for model in archived]

    def _make_champion(self, model_id: str, kind: str, actor: str | None, reason: str, detail: dict[str, Any]) -> None:
        changes: list[StatusChange] = []
        current = self.champion()
        if current is not None and current.id != model_id:
            changes.append(
                StatusChange(current.id, ModelStatus.RETIRED, f"replaced by {model_id}", "retire", {"by": model_id})
            )
        changes.append(StatusChange(model_id, ModelStatus.CHAMPION, reason, kind, detail))
        self.records.set_statuses(changes, actor)


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; the catalog writes UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _remove(store: Store, key: str) -> None:
    """Delete a file from the store (and its local staging copy)."""
    store.local_path(key).unlink(missing_ok=True)
    if not store.is_local:
        filesystem, path = fsspec.core.url_to_fs(store.uri(key))
        if filesystem.exists(path):
            filesystem.rm(path)
