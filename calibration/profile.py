"""An operator's calibration profile: body size, tracker mounting offsets, frame alignment, hand ranges.

Profiles are saved as versioned JSON files (``<name>.json``) and validated when loaded; a
profile is immutable once built. :mod:`calibration.mapping` applies one online.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from calibration.exceptions import CalibrationError
from teleop.operator_frame import IDENTITY_POSE, TrackerRole

#: Version of the profile file format; bumped when a field changes meaning.
PROFILE_VERSION = 1
#: Plausible human ranges, to catch a calibration taken with trackers in the wrong place.
_RANGES = {
    "eye_height": (1.0, 2.2),  # [m] standing eye height
    "shoulder_width": (0.25, 0.60),  # [m] between shoulder joints
    "arm_length": (0.40, 0.90),  # [m] shoulder joint to wrist
    "shoulder_drop": (0.10, 0.45),  # [m] eyes to shoulder line, vertically
}


@dataclass(frozen=True)
class CalibrationProfile:
    """Everything the online mapping needs to know about one operator and rig.

    Attributes:
        name: profile name (file stem), letters, digits, ``-`` and ``_``.
        eye_height: standing eye height of the operator [m] (head pose height in neutral stance).
        shoulder_width: distance between the shoulder joints [m].
        arm_length: shoulder joint to wrist, arm straight [m].
        shoulder_drop: vertical distance from the eyes to the shoulder line [m].
        head_to_shoulder_back: horizontal distance the shoulder line sits behind the eyes [m].
        yaw_offset: stage yaw of the operator's forward direction [rad]; robot forward = this.
        origin_xy: stage position of the operator's standing spot [m] (below the head in neutral).
        tracker_offsets: per :class:`TrackerRole` name, the pose ``T_tracker_body`` (7,) of the
            body part in the tracker's frame (mounting offset).
        hand_open: per side, thumb-index tip distance with the hand open [m].
        hand_closed: per side, thumb-index tip distance in a pinch [m].
        created: ISO date the profile was made (information only).
    """

    name: str = "default"
    eye_height: float = 1.62
    shoulder_width: float = 0.38
    arm_length: float = 0.58
    shoulder_drop: float = 0.22
    head_to_shoulder_back: float = 0.06
    yaw_offset: float = 0.0
    origin_xy: tuple[float, float] = (0.0, 0.0)
    tracker_offsets: dict[str, tuple[float, ...]] = field(default_factory=dict)
    hand_open: tuple[float, float] = (0.10, 0.10)
    hand_closed: tuple[float, float] = (0.015, 0.015)
    created: str = ""
    version: int = PROFILE_VERSION

    def __post_init__(self) -> None:
        if not self.name or not all(c.isalnum() or c in "-_" for c in self.name):
            raise CalibrationError(f"profile name '{self.name}' must be letters, digits, '-' or '_'")
        for key, (lo, hi) in _RANGES.items():
            v = getattr(self, key)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi):
                raise CalibrationError(
                    f"{key}={v!r} is outside the plausible range [{lo}, {hi}] m; re-run `psi-teleop calibrate` "
                    "and check the trackers are on the right body parts"
                )
        if not math.isfinite(self.yaw_offset):
            raise CalibrationError(f"yaw_offset={self.yaw_offset} is not a finite angle [rad]")
        for role, pose in self.tracker_offsets.items():
            try:
                TrackerRole.parse(role)
            except ValueError as exc:
                raise CalibrationError(str(exc)) from None
            arr = np.asarray(pose, dtype=float)
            if arr.shape != (7,) or not np.all(np.isfinite(arr)) or abs(np.linalg.norm(arr[3:]) - 1.0) > 1e-3:
                raise CalibrationError(
                    f"tracker offset for '{role}' must be [x y z qw qx qy qz] with a unit quaternion, got {pose}"
                )
        for side in (0, 1):
            if not (0.0 <= self.hand_closed[side] < self.hand_open[side] <= 0.25):
                raise CalibrationError(
                    f"hand range of side {side}: closed {self.hand_closed[side]} m must be below open "
                    f"{self.hand_open[side]} m (both within 0..0.25 m)"
                )
        if self.version != PROFILE_VERSION:
            raise CalibrationError(
                f"profile '{self.name}' has format version {self.version}; this psi-teleop reads version "
                f"{PROFILE_VERSION}: re-run `psi-teleop calibrate`"
            )

    def tracker_offset(self, role: TrackerRole) -> np.ndarray:
        """``T_tracker_body`` (7,) of ``role``; identity if the profile has none."""
        pose = self.tracker_offsets.get(role.name.lower())
        return np.array(pose, dtype=float) if pose is not None else IDENTITY_POSE.copy()

    # -- files -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["origin_xy"] = list(self.origin_xy)
        d["hand_open"] = list(self.hand_open)
        d["hand_closed"] = list(self.hand_closed)
        d["tracker_offsets"] = {k: list(v) for k, v in self.tracker_offsets.items()}
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CalibrationProfile":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise CalibrationError(f"unknown profile field(s) {unknown}; valid fields: {sorted(known)}")
        d = dict(data)
        for key in ("origin_xy", "hand_open", "hand_closed"):
            if key in d:
                d[key] = tuple(float(x) for x in d[key])
        if "tracker_offsets" in d:
            d["tracker_offsets"] = {k: tuple(float(x) for x in v) for k, v in d["tracker_offsets"].items()}
        try:
            return cls(**d)
        except TypeError as exc:
            raise CalibrationError(f"malformed calibration profile: {exc}") from None

    def save(self, directory: Path) -> Path:
        """Write ``<directory>/<name>.json`` atomically; return its path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> "CalibrationProfile":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise CalibrationError(f"no calibration profile at {path}; run `psi-teleop calibrate --name NAME`") from None
        except json.JSONDecodeError as exc:
            raise CalibrationError(f"{path} is not valid JSON ({exc}); re-run `psi-teleop calibrate`") from None
        if not isinstance(data, dict):
            raise CalibrationError(f"{path} must hold a JSON object, found {type(data).__name__}")
        return cls.from_dict(data)
