"""The jobs over the assets: what a person launches from the UI and what sensors and schedules request."""

import dagster as dg

from assets.annotation import annotation_tasks, reviewed_labels

process_new_videos = dg.define_asset_job(
    "process_new_videos",
    selection=dg.AssetSelection.groups("ingest", "mining", "autolabel") | dg.AssetSelection.assets(annotation_tasks),
    description="Register, clip, mine and autolabel the videos of one ingest batch, then push what is ready to "
    "the annotators: the inbox sensor's run ends with tasks on the platform.",
    executor_def=dg.in_process_executor,
)

pull_reviews_job = dg.define_asset_job(
    "pull_reviewed_labels",
    selection=dg.AssetSelection.assets(reviewed_labels),
    description="Bring reviewed labels back from the annotation platform.",
    executor_def=dg.in_process_executor,
)

retrain_job = dg.define_asset_job(
    "retrain",
    selection=dg.AssetSelection.groups("training"),
    description="Build a dataset version, train and evaluate a challenger, let the promotion gate decide.",
    executor_def=dg.in_process_executor,
)
