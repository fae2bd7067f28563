"""Training stage: dataset versions, a challenger trained and gated, the champion autolabelling and mining use."""

import dagster as dg

from assets.annotation import reviewed_labels
from assets.declaration import Check, engine_asset
from assets.metadata import check_results, pictures
from data_engine.checks import dataset_checks
from data_engine.datasets import DatasetConfig
from data_engine.registry import ModelVersion
from data_engine.stages.train import build_training_dataset, summarise_models, train_on_dataset
from resources import CatalogResource, EngineSettingsResource, StoreResource


@engine_asset(
    "training",
    "An immutable dataset version from the reviewed labels, split by video with a frozen test split, "
    "exported in Ultralytics YOLO format. A version whose train images nearly duplicate val/test images is "
    "recorded, and the blocking no_leakage check keeps it from training.",
    deps=[reviewed_labels],
    kinds={"yolo"},
    checks=[
        Check(
            "no_leakage",
            "No train image within the duplicate distance (perceptual hash) of a val or test image.",
            blocking=True,
        ),
    ],
)
def training_dataset(
    context: dg.AssetExecutionContext, catalog: CatalogResource, store: StoreResource
) -> dg.MaterializeResult:
    built = build_training_dataset(
        catalog.catalog, store.store, DatasetConfig(fail_on_leak=False), run_id=context.run.run_id
    )
    return dg.MaterializeResult(
        metadata={
            "dataset": built.dataset_id,
            "new_version": built.created,
            "frames_per_split": dg.MetadataValue.json(built.manifest.counts()),
            "classes": dg.MetadataValue.json({str(k): v for k, v in built.manifest.class_map.items()}),
            "rejected_label_files": len(built.report.rejected),
            "classes_absent_from_test": ", ".join(built.report.classes_missing_from_test) or "none",
            "data_yaml": str(built.data_yaml),
        },
        check_results=check_results(dataset_checks(built)),
    )


@engine_asset(
    "training",
    "A challenger trained on the dataset version training_dataset materialized (fine-tuning the "
    "champion) under a hard time budget, evaluated on the frozen test split (mAP50, mAP50-95 per class and slice, "
    "ms per image), registered, and judged by the promotion gate: `gate` says promoted or rejected and why.",
    deps=[training_dataset],
    kinds={"pytorch"},
    pool="gpu",
)
def candidate_model(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    engine_settings: EngineSettingsResource,
) -> dg.MaterializeResult:
    candidate = train_on_dataset(
        catalog.catalog, store.store, engine_settings.settings, _materialized_dataset(context), context.run.run_id
    )
    training, model, evaluation = candidate.training, candidate.model, candidate.evaluation
    return dg.MaterializeResult(
        metadata={
            "gate": candidate.verdict,
            "model": model.id,
            "dataset": candidate.dataset_id,
            "map50": model.map50,
            "map50_95": model.map50_95,
            "gain": candidate.decision.gain,
            "champion_before": candidate.decision.champion_id or "none",
            "training_status": training.status,
            "epochs": training.epochs_completed,
            "device": training.device,
            "duration_s": round(training.duration_s, 1),
            "estimated_cost": round(training.estimated_cost, 2),
            "ms_per_image": evaluation.ms_per_image,
            "per_class": dg.MetadataValue.json(evaluation.per_class),
        }
    )


def _materialized_dataset(context: dg.AssetExecutionContext) -> str:
    """The dataset version of training_dataset's latest materialization (this run's, in a retrain run)."""
    event = context.instance.get_latest_materialization_event(training_dataset.key)
    materialization = event.asset_materialization if event is not None else None
    if materialization is None or "dataset" not in materialization.metadata:
        raise dg.Failure("training_dataset has not been materialized yet: materialize it (or run `retrain`) first")
    return str(materialization.metadata["dataset"].value)


@engine_asset(
    "training",
    "The registry's champion, which autolabelling and mining read; mAP per model version.",
    deps=[candidate_model],
)
def champion_model(
    catalog: CatalogResource, store: StoreResource, engine_settings: EngineSettingsResource
) -> dg.MaterializeResult:
    summary = summarise_models(catalog.catalog, store.store, engine_settings.settings)
    return dg.MaterializeResult(
        metadata={
            "champion": summary.champion.id if summary.champion else "none yet",
            "models": dg.MetadataValue.md(_models_table(summary.models)),
            **pictures(map_per_model_version=summary.picture),
        }
    )


def _models_table(versions: list[ModelVersion]) -> str:
    rows = [
        f"| {m.id} | {m.status} | {_metric(m.map50)} | {_metric(m.map50_95)} | {m.dataset_id} | {m.parent_id or '-'} |"
        for m in versions
    ]
    return "| model | status | mAP50 | mAP50-95 | dataset | parent |\n|---|---|---|---|---|---|\n" + "\n".join(rows)


def _metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
