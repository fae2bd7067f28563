"""Which model is live: the configured detectors, else the registry's champion, else none (a cold start).

Mining, autolabelling, the Dagster detectors resource and the command line all ask here, so they agree on the
model in use and name it the same way (the champion's detector carries its registry id)."""

from data_engine.catalog import Catalog
from data_engine.detectors import Detector
from data_engine.detectors.loading import detector_options, load_detectors, load_entry
from data_engine.registry.gate import GatePolicy
from data_engine.registry.registry import ModelRegistry
from data_engine.settings import Settings
from data_engine.store import Store


def registry_for(catalog: Catalog, store: Store, settings: Settings) -> ModelRegistry:
    """The model registry under the settings' gate policy."""
    policy = GatePolicy(
        min_gain=settings.gate_min_gain,
        max_drop=settings.gate_max_drop,
        keep_best=settings.keep_models,
        min_map50=settings.gate_min_map50,
    )
    return ModelRegistry(catalog, store, policy)


def detectors_in_use(catalog: Catalog, store: Store, settings: Settings) -> list[Detector]:
    """The configured detectors, else the registry's champion (under its registry id), else none (a cold start)."""
    if settings.detectors:
        return load_detectors(settings)
    registry = registry_for(catalog, store, settings)
    champion = registry.champion()
    if champion is None:
        return []
    return [load_entry(str(registry.weights_path(champion.id)), detector_options(settings), model_id=champion.id)]
