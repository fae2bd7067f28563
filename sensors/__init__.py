"""Sensors and schedules that replace cronjobs."""

from resources import EngineSettingsResource


def interval(default_seconds: int) -> int:
    """A sensor's minimum interval: DATA_ENGINE_SENSOR_INTERVAL_SECONDS when set (demos, tests), else its default.
    Read through the settings resource when the definitions load: Dagster fixes a sensor's interval with its
    definition, before any run could hand it the resource."""
    return EngineSettingsResource.at_load().settings.sensor_interval_seconds or default_seconds
