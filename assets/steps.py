"""The context an asset runs its pipeline step with, built from the resources: the compute backend is opened and
the detectors are loaded only for the steps whose declaration says they need them."""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import dagster as dg

from data_engine.compute import InProcessBackend
from data_engine.context import StageContext
from data_engine.stages.pipeline import BatchStep, CatalogStep
from resources import CatalogResource, ComputeResource, DetectorsResource, EngineSettingsResource, StoreResource


@contextmanager
def step_context(
    context: dg.AssetExecutionContext,
    step: BatchStep[Any] | CatalogStep[Any],
    catalog: CatalogResource,
    store: StoreResource,
    engine_settings: EngineSettingsResource,
    compute: ComputeResource | None = None,
    detectors: DetectorsResource | None = None,
) -> Iterator[StageContext]:
    """A `StageContext` for `step` in this run: its run id, progress to the run's debug log, and what it needs."""
    given = {"backend": compute, "detectors": detectors}
    lacking = sorted(need for need in step.needs if given[need] is None)
    if lacking:
        raise dg.Failure(f"asset {step.name} is not given what its step needs: {', '.join(lacking)}")
    with ExitStack() as opened:
        yield StageContext(
            catalog.catalog,
            store.store,
            engine_settings.settings,
            opened.enter_context(compute.backend()) if compute is not None else InProcessBackend(),
            detectors.detectors if detectors is not None else (),
            run_id=context.run.run_id,
            progress=lambda name, done, total: context.log.debug(f"{name}: {done} of {total}"),
        )
