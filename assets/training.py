"""Training stage: dataset versions, a challenger trained and gated, the champion autolabelling and mining use."""

import tempfile
from pathlib import Path

import dagster as dg
from matplotlib.figure import Figure

from assets.annotation import reviewed_labels
from assets.pictures import png_markdown
from data_engine.registry import ModelVersion
from data_engine.stages.train import build_training_dataset, registry_for, train_candidate
from resources import CatalogResource, EngineSettingsResource, StoreResource


@dg.asset(
    group_name="training",
    kinds={"python", "yolo"},
    deps=[reviewed_labels],
    description="An immutable dataset version from the reviewed labels, split by video with a frozen test split, "
    "exported in Ultralytics YOLO format; the build fails if a train frame nearly duplicates a val/test frame.",
    check_specs=[
        dg.AssetCheckSpec(
            "no_leakage",
            asset="training_dataset",
            blocking=True,
            description="No train frame within the duplicate distance of a val/test frame.",
        )
    ],
)
def training_dataset(
    context: dg.AssetExecutionContext, catalog: CatalogResource, store: StoreResource
) -> dg.MaterializeResult:
    built = build_training_dataset(catalog.catalog, store.store, run_id=context.run.run_id)
    counts = built.manifest.counts()
    return dg.MaterializeResult(
        metadata={
            "dataset": built.dataset_id,
            "new_version": built.created,
            "frames_per_split": dg.MetadataValue.json(counts),
            "classes": dg.MetadataValue.json({str(k): v for k, v in built.manifest.class_map.items()}),
            "rejected_label_files": len(built.report.rejected),
            "classes_absent_from_test": ", ".join(built.report.classes_missing_from_test) or "none",
            "data_yaml": str(built.data_yaml),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="no_leakage", passed=True, metadata={"pairs_checked": built.report.leak_pairs_checked}
            )
        ],
    )


@dg.asset(
    group_name="training",
    kinds={"python", "pytorch"},
    deps=[training_dataset],
    pool="gpu",
    description="A challenger trained on the newest dataset (fine-tuning the champion) under a hard time budget, "
    "evaluated on the frozen test split (mAP50, mAP50-95 per class and slice, ms per image) and registered.",
    check_specs=[
        dg.AssetCheckSpec(
            "promotion_gate",
            asset="candidate_model",
            blocking=True,
            description="The challenger beats the champion by min_gain and no class or slice "
            "drops by more than max_drop.",
        )
    ],
)
def candidate_model(
    context: dg.AssetExecutionContext,
    catalog: CatalogResource,
    store: StoreResource,
    engine_settings: EngineSettingsResource,
) -> dg.MaterializeResult:
    settings = engine_settings.get()
    built = build_training_dataset(catalog.catalog, store.store)
    candidate = train_candidate(catalog.catalog, store.store, settings, built, context.run.run_id)
    training = candidate.training
    metadata: dict[str, object] = {
        "training_status": training.status,
        "epochs": training.epochs_completed,
        "device": training.device,
        "duration_s": round(training.duration_s, 1),
        "estimated_cost": round(training.estimated_cost, 2),
        "dataset": built.dataset_id,
    }
    if candidate.model is None or candidate.decision is None:
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=[
                dg.AssetCheckResult(
                    check_name="promotion_gate",
                    passed=False,
                    metadata={"reason": f"training left no weights ({training.status})"},
                )
            ],
        )
    evaluation = candidate.evaluation
    metadata.update(
        {
            "model": candidate.model.id,
            "map50": candidate.model.map50,
            "map50_95": candidate.model.map50_95,
            "ms_per_image": evaluation.ms_per_image if evaluation else None,
            "per_class": dg.MetadataValue.json(evaluation.per_class if evaluation else {}),
        }
    )
    decision = candidate.decision
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name="promotion_gate",
                passed=decision.passed,
                metadata={"reason": decision.reason or "promoted", "gain": decision.gain},
            )
        ],
    )


@dg.asset(
    group_name="training",
    kinds={"python"},
    deps=[candidate_model],
    description="The registry's champion, which autolabelling and mining read; mAP per model version.",
)
def champion_model(
    catalog: CatalogResource, store: StoreResource, engine_settings: EngineSettingsResource
) -> dg.MaterializeResult:
    registry = registry_for(catalog.catalog, store.store, engine_settings.get())
    champion = registry.champion()
    versions = registry.models()
    metadata: dict[str, object] = {
        "champion": champion.id if champion else "none yet",
        "models": dg.MetadataValue.md(_models_table(versions)),
    }
    if versions:
        with tempfile.TemporaryDirectory() as scratch:
            metadata["map_per_model_version"] = png_markdown(
                _map_plot(versions, Path(scratch) / "map.png"), "mAP per model version"
            )
    return dg.MaterializeResult(metadata=metadata)


def _models_table(versions: list[ModelVersion]) -> str:
    rows = [
        f"| {m.id} | {m.status} | {_metric(m.map50)} | {_metric(m.map50_95)} | {m.dataset_id} | {m.parent_id or '-'} |"
        for m in versions
    ]
    return "| model | status | mAP50 | mAP50-95 | dataset | parent |\n|---|---|---|---|---|---|\n" + "\n".join(rows)


def _metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _map_plot(versions: list[ModelVersion], path: Path) -> Path:
    figure = Figure(figsize=(9, 3), dpi=100)
    axes = figure.add_subplot()
    ordered = sorted(versions, key=lambda m: m.created_at)
    axes.plot(range(len(ordered)), [m.map50_95 or 0.0 for m in ordered], marker="o", label="mAP50-95")
    axes.plot(range(len(ordered)), [m.map50 or 0.0 for m in ordered], marker="s", label="mAP50")
    axes.set_xticks(range(len(ordered)), [m.id[-8:] for m in ordered], rotation=30, fontsize=7)
    axes.set_ylabel("test mAP")
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
    return path
