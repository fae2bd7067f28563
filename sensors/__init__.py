"""Sensors and schedules that replace cronjobs."""

from data_engine.settings import Settings

_CONFIGURED_INTERVAL = Settings.from_env().sensor_interval_seconds


def interval(default_seconds: int) -> int:
    """A sensor's minimum interval: DATA_ENGINE_SENSOR_INTERVAL_SECONDS when set (demos, tests), else its default.
    Read once, when the definitions load: Dagster fixes a sensor's interval with its definition."""
    return _CONFIGURED_INTERVAL or default_seconds
