"""Operator calibration: body size, tracker offsets, headset-to-robot frame, hand ranges; profiles on disk."""

from calibration.exceptions import CalibrationError
from calibration.mapping import OperatorToRobot, robot_reference
from calibration.profile import PROFILE_VERSION, CalibrationProfile
from calibration.recording import CalibrationRecording, Phase
from calibration.routine import (
    CalibrationResult,
    RoutineConfig,
    calibrate,
    record_routine,
)
from calibration.store import list_profiles, load_profile, profiles_dir, save_profile

__all__ = [
    "PROFILE_VERSION",
    "CalibrationError",
    "CalibrationProfile",
    "CalibrationRecording",
    "CalibrationResult",
    "OperatorToRobot",
    "Phase",
    "RoutineConfig",
    "calibrate",
    "list_profiles",
    "load_profile",
    "profiles_dir",
    "record_routine",
    "robot_reference",
    "save_profile",
]
