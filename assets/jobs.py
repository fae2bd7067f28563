"""Jobs a person launches from the UI or that sensors and schedules request."""

import dagster as dg

from assets.partitions import ingest_batches

process_new_videos = dg.define_asset_job(
    "process_new_videos",
    selection=dg.AssetSelection.groups("ingest", "mining", "autolabel"),
    partitions_def=ingest_batches,
    description="Register, clip, mine and autolabel the videos of one ingest batch.",
    executor_def=dg.in_process_executor,
)
