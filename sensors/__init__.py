"""Sensors and schedules that replace cronjobs."""
