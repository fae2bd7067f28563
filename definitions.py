"""The one Dagster Definitions object of the data engine (`dagster dev -w workspace.yaml`).

Sensors and schedules that start enabled: `inbox_sensor` (new videos -> one run per batch), `annotation_sensor`
(reviewed tasks on Label Studio -> a pull), `retrain_sensor` (enough new reviewed images -> retrain) and the
`weekly_retrain` schedule (Mondays 03:00). Every resource holds one settings resource whose fields are bound to the
DATA_ENGINE_* variables set in the environment.
"""

import dagster as dg

from assets import annotation, autolabel, ingest, mining, training
from assets.jobs import process_new_videos, pull_reviews_job, retrain_job
from resources import EngineSettingsResource, engine_resources
from sensors.annotation import annotation_sensor
from sensors.inbox import inbox_sensor
from sensors.training import retrain_sensor, weekly_retrain

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingest, mining, autolabel, annotation, training]),
    jobs=[process_new_videos, pull_reviews_job, retrain_job],
    sensors=[inbox_sensor, annotation_sensor, retrain_sensor],
    schedules=[weekly_retrain],
    resources=engine_resources(EngineSettingsResource.from_environment()),
)
