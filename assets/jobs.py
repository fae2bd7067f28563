"""Jobs a person launches from the UI or that sensors and schedules request."""

import dagster as dg

process_new_videos = dg.define_asset_job(
    "process_new_videos",
    selection=dg.AssetSelection.groups("ingest", "mining", "autolabel"),
    description="Register, clip, mine and autolabel the videos of one ingest batch.",
    executor_def=dg.in_process_executor,
)
