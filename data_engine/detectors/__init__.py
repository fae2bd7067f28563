"""Detectors: the `Detector` protocol and its Ultralytics implementation."""

from data_engine.detectors.base import Detector, DetectorError, check_same_classes
from data_engine.detectors.device import pick_device
from data_engine.detectors.ultralytics_detector import UltralyticsDetector

__all__ = ["Detector", "DetectorError", "UltralyticsDetector", "check_same_classes", "pick_device"]
