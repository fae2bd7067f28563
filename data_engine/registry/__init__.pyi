"""The names the package exports, read by mypy and by `lazy_loader.attach_stub` in `__init__.py`: each
submodule is imported when one of its names is first used."""

from .candidate import (
    ModelCandidate as ModelCandidate,
    run_candidate as run_candidate,
    train_and_record as train_and_record,
)
from .gate import GateDecision as GateDecision, GatePolicy as GatePolicy, gate as gate
from .live import detectors_in_use as detectors_in_use, registry_for as registry_for
from .records import RetrainingRecords as RetrainingRecords
from .registry import (
    CorruptWeightsError as CorruptWeightsError,
    ModelRegistry as ModelRegistry,
    ModelStatus as ModelStatus,
    ModelVersion as ModelVersion,
    RegistryError as RegistryError,
)
