"""Operator calibration: body size, tracker offsets, headset-to-robot frame, hand ranges; profiles on disk."""

from calibration.exceptions import CalibrationError
from calibration.mapping import OperatorToRobot, RobotTargets, robot_reference
from calibration.profile import PROFILE_VERSION, CalibrationProfile

__all__ = ["PROFILE_VERSION", "CalibrationError", "CalibrationProfile", "OperatorToRobot", "RobotTargets", "robot_reference"]
