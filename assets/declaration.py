"""How every asset of the pipeline is declared: the options they share (Python among the kinds, the ingest-batch
partitions of the per-batch steps, check specs that belong to the asset they are declared on) spelled once."""

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import dagster as dg

from assets.partitions import ingest_batches


@dataclass(frozen=True)
class Check:
    """A check the asset's body computes; a blocking one keeps the run's later steps from running when it fails."""

    name: str
    description: str
    blocking: bool = False


def engine_asset(
    group: str,
    description: str,
    *,
    deps: Sequence[dg.AssetsDefinition] = (),
    kinds: Collection[str] = (),
    pool: str | None = None,
    per_batch: bool = False,
    checks: Sequence[Check] = (),
) -> Callable[[Callable[..., dg.MaterializeResult]], dg.AssetsDefinition]:
    """`dg.asset` for a step of the pipeline: `kinds` besides python, one partition per ingest batch when
    `per_batch`, and `checks` as check specs of this asset."""

    def declare(body: Callable[..., dg.MaterializeResult]) -> dg.AssetsDefinition:
        return dg.asset(
            partitions_def=ingest_batches if per_batch else None,
            group_name=group,
            kinds={"python", *kinds},
            deps=list(deps),
            pool=pool,
            description=description,
            check_specs=[
                dg.AssetCheckSpec(
                    check.name, asset=body.__name__, blocking=check.blocking, description=check.description
                )
                for check in checks
            ],
        )(body)

    return declare
