"""Calibration errors."""

from teleop.exceptions import ConfigError


class CalibrationError(ConfigError):
    """A calibration profile or routine failed; the message says what to redo."""
