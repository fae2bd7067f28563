"""The model registry: versions with metrics and lineage, a promotion gate, a champion; and the retraining turn
(train, evaluate, register, gate) built on it."""

from data_engine.registry.candidate import ModelCandidate, run_candidate, train_and_record
from data_engine.registry.gate import GateDecision, GatePolicy, gate
from data_engine.registry.live import detectors_in_use, registry_for
from data_engine.registry.records import RetrainingRecords
from data_engine.registry.registry import (
    CorruptWeightsError,
    ModelRegistry,
    ModelStatus,
    ModelVersion,
    RegistryError,
)

__all__ = [
    "CorruptWeightsError",
    "GateDecision",
    "GatePolicy",
    "ModelCandidate",
    "ModelRegistry",
    "ModelStatus",
    "ModelVersion",
    "RegistryError",
    "RetrainingRecords",
    "detectors_in_use",
    "gate",
    "registry_for",
    "run_candidate",
    "train_and_record",
]
