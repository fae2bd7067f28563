"""Sensors and schedules that replace cronjobs."""

from collections.abc import Callable
from typing import Any

import dagster as dg

from resources import EngineSettingsResource


def interval(default_seconds: int) -> int:
    """A sensor's minimum interval: DATA_ENGINE_SENSOR_INTERVAL_SECONDS when set (demos, tests), else its default.
    Read through the settings resource when the definitions load: Dagster fixes a sensor's interval with its
    definition, before any run could hand it the resource."""
    return EngineSettingsResource.at_load().settings.sensor_interval_seconds or default_seconds


def engine_sensor(job: Any, default_seconds: int, description: str) -> Callable[..., dg.SensorDefinition]:
    """`dg.sensor` as every engine sensor is declared: running from the start, at `interval(default_seconds)`."""
    return dg.sensor(
        job=job,
        minimum_interval_seconds=interval(default_seconds),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=description,
    )
