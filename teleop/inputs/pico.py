"""The PICO backend (``--input pico``): headset, controllers, hands and motion trackers.

Data path: PICO headset running the XRoboToolkit app ──Wi-Fi/USB──► XRoboToolkit PC Service
(``127.0.0.1:60061``) ──► ``xrobotoolkit_sdk`` (extra ``pico``) ──► this module. The SDK keeps
the newest sample of every stream; :meth:`PicoSource.poll` reads them (non-blocking) and
converts them with :func:`teleop.inputs.openxr_convert.xr_to_stage`: PICO reports poses in
the OpenXR convention (y up, -z forward, quaternions ``x y z w``), so the one conversion
function of the OpenXR backend serves here too.

Trackers come in two ways (:class:`PicoTrackerMode`):

* ``BODY``: PICO's full-body estimate (24 SMPL-like joints, needs at least two PICO Swift
  motion trackers and "Full body" in the XRoboToolkit app); joints map to body parts by
  :data:`BODY_JOINT_ROLES` (pelvis → waist, ankles, wrists, elbows).
* ``MOTION_TRACKERS``: each PICO motion tracker's own pose, mapped by serial number
  (``psi-teleop devices --input pico`` lists the serials).

Time: the SDK stamps samples in nanoseconds on a clock it does not name. The offset to
:func:`teleop.clock.now` is estimated as ``o = min_k (t_received_k - t_sample_k)`` (the
fastest delivery seen), so ``frame.stamp = t_sample + o`` is late by at most the jitter
above the fastest delivery and never in the future.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from teleop import clock
from teleop.exceptions import ConfigError, MissingExtraError
from teleop.inputs.base import DeviceInfo, InputKind, InputSource, RateMeter, SourceStatus, mark_all_invalid
from teleop.inputs.exceptions import FALLBACK_HINT, RuntimeUnavailableError, TrackerRoleMissingError
from teleop.inputs.openxr_convert import xr_to_stage
from teleop.operator_frame import ControllerAxis, ControllerButton, OperatorFrame, Side, TrackerRole

log = logging.getLogger(__name__)

SERVICE_FIX = (
    "Install and start the XRoboToolkit PC Service (it listens on 127.0.0.1:60061), open the XRoboToolkit "
    "app on the PICO headset and connect it to this PC's IP. " + FALLBACK_HINT
)
N_BODY_JOINTS = 24
#: PICO body-tracking joint index -> body part (the SDK's SMPL-like order).
BODY_JOINT_ROLES: dict[int, TrackerRole] = {
    0: TrackerRole.WAIST,  # pelvis
    7: TrackerRole.LEFT_ANKLE,
    8: TrackerRole.RIGHT_ANKLE,
    18: TrackerRole.LEFT_ELBOW,
    19: TrackerRole.RIGHT_ELBOW,
    20: TrackerRole.LEFT_WRIST,
    21: TrackerRole.RIGHT_WRIST,
}
BODY_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)


class PicoTrackerMode(enum.Enum):
    """Where tracker poses come from."""

    NONE = "none"  # headset, controllers and hands only
    BODY = "body"  # PICO full-body estimate (SDK body joints)
    MOTION_TRACKERS = "motion_trackers"  # raw PICO Swift tracker poses, mapped by serial


@dataclass(frozen=True)
class PicoTrackerBinding:
    """A PICO motion tracker (by serial number) and the body part it is strapped to."""

    serial: str
    role: TrackerRole

    def __post_init__(self) -> None:
        if not self.serial.strip():
            raise ConfigError("PicoTrackerBinding.serial is empty; `psi-teleop devices --input pico` lists the serials")
        if not isinstance(self.role, TrackerRole):
            object.__setattr__(self, "role", TrackerRole.parse(str(self.role)))


@dataclass(frozen=True)
class PicoConfig:
    """What the PICO backend reads.

    Attributes:
        tracker_mode: body-tracking joints, raw motion trackers by serial, or none.
        trackers: serial → body part, for ``MOTION_TRACKERS``.
        required_roles: body parts that must be tracked at start.
        use_hand_tracking: read PICO hand tracking (26 OpenXR joints per hand).
        stale_after_s: a stream whose sample stopped changing this long ago is invalid [s].
        lost_after_s: no new sample at all for this long → the source is ``LOST`` until data
            resumes (headset asleep, app closed, Wi-Fi gone) [s].
        connect_timeout_s: how long ``start`` waits for the first sample [s].
    """

    tracker_mode: PicoTrackerMode = PicoTrackerMode.BODY
    trackers: tuple[PicoTrackerBinding, ...] = ()
    required_roles: tuple[TrackerRole, ...] = ()
    use_hand_tracking: bool = True
    stale_after_s: float = 0.1  # [s]
    lost_after_s: float = 2.0  # [s]
    connect_timeout_s: float = 3.0  # [s]

    def __post_init__(self) -> None:
        object.__setattr__(self, "trackers", tuple(self.trackers))
        object.__setattr__(self, "required_roles", tuple(TrackerRole(r) for r in self.required_roles))
        if not isinstance(self.tracker_mode, PicoTrackerMode):
            raise ConfigError(f"PicoConfig.tracker_mode={self.tracker_mode!r}; use one of {[m.value for m in PicoTrackerMode]}")
        for name, lo, hi in (("stale_after_s", 0.0, 5.0), ("lost_after_s", 0.0, 60.0), ("connect_timeout_s", 0.0, 60.0)):
            value = getattr(self, name)
            if not lo < value <= hi:
                raise ConfigError(f"PicoConfig.{name}={value} s is outside ({lo}, {hi}]")
        if self.lost_after_s <= self.stale_after_s:
            raise ConfigError(f"PicoConfig.lost_after_s={self.lost_after_s} s must exceed stale_after_s={self.stale_after_s} s")
        serials = [b.serial for b in self.trackers]
        roles = [b.role for b in self.trackers]
        if len(set(serials)) != len(serials) or len(set(roles)) != len(roles):
            raise ConfigError("PicoConfig.trackers maps a serial or a body part twice; each may appear once")
        mapped = set(BODY_JOINT_ROLES.values()) if self.tracker_mode is PicoTrackerMode.BODY else set(roles)
        if self.tracker_mode is PicoTrackerMode.NONE:
            mapped = set()
        unmapped = [r.name.lower() for r in self.required_roles if r not in mapped]
        if unmapped:
            raise ConfigError(f"PicoConfig.required_roles {unmapped} cannot be tracked with tracker_mode={self.tracker_mode.value}")


def _import_sdk():
    try:
        import xrobotoolkit_sdk
    except ImportError:
        raise MissingExtraError("xrobotoolkit_sdk", "pico", "The PICO input backend (--input pico)") from None
    return xrobotoolkit_sdk


def _rows(values: Any, n: int, width: int = 7) -> np.ndarray:
    """The SDK's nested float lists as an (n, width) array (zeros where it returned fewer)."""
    a = np.asarray(values, dtype=float).reshape(-1, width) if len(values) else np.zeros((0, width))
    out = np.zeros((n, width))
    out[: min(n, len(a))] = a[:n]
    return out


def _valid_quat(xyzw: np.ndarray) -> np.ndarray:
    """Rows whose quaternion is unit-norm (the SDK sends zeros for 'no data')."""
    return np.abs(np.linalg.norm(xyzw, axis=-1) - 1.0) < 1e-2


class _Stream:
    """Freshness of one SDK stream: a sample counts as new when its numbers change."""

    def __init__(self, name: str, role: str):
        self.name, self.role = name, role
        self.last_values: np.ndarray | None = None
        self.last_change = -math.inf  # [s] teleop.clock
        self.meter = RateMeter()
        self.present = False
        self.valid = False
        self.detail = ""

    def update(self, values: np.ndarray, ok: bool, t: float, stale_after_s: float) -> bool:
        if ok and (self.last_values is None or not np.array_equal(values, self.last_values)):
            self.last_values = values.copy()
            self.last_change = t
            self.meter.update(t)
        self.present = self.present or ok
        self.valid = ok and t - self.last_change <= stale_after_s
        return self.valid


class PicoSource(InputSource):
    """Operator frames from a PICO headset through the XRoboToolkit PC Service.

    Args:
        config: streams and role mapping; defaults to :class:`PicoConfig`.
        sdk: the ``xrobotoolkit_sdk`` module or an object with the same functions (tests);
            imported on :meth:`start` when omitted.
    """

    kind = InputKind.PICO

    def __init__(self, config: PicoConfig | None = None, sdk: Any = None):
        self.config = config or PicoConfig()
        self._sdk = sdk
        self._status = SourceStatus.IDLE
        self._lost_reason = ""
        self._offset_s = math.inf  # estimated t_mono - t_sdk
        self._last_ts = -1
        self._last_new = -math.inf
        self._streams: dict[str, _Stream] = {}
        self._serials: list[str] = []
        self._head = np.zeros((1, 7))
        self._ctrl = np.zeros((2, 7))
        self._hands = np.zeros((2, 26, 7))
        self._trk = np.zeros((0, 7))

    @property
    def status(self) -> SourceStatus:
        return self._status

    @property
    def lost_reason(self) -> str:
        return self._lost_reason

    def start(self) -> None:
        if self._status is SourceStatus.RUNNING:
            return
        if self._sdk is None:
            self._sdk = _import_sdk()
        sdk = self._sdk
        sdk.init()
        deadline = time.monotonic() + self.config.connect_timeout_s
        while sdk.get_time_stamp_ns() == 0:
            if time.monotonic() > deadline:
                sdk.close()
                raise RuntimeUnavailableError(
                    f"No data from the PICO headset within {self.config.connect_timeout_s:.1f} s. {SERVICE_FIX}"
                )
            time.sleep(0.01)
        self._status = SourceStatus.RUNNING
        frame = OperatorFrame()
        self.poll(frame)
        missing = [r for r in self.config.required_roles if not frame.tracker_valid[r]]
        if missing:
            names = tuple(r.name.lower() for r in missing)
            present = tuple(s.role for s in self._streams.values() if s.valid and s.role)
            self.stop()
            fix = ("enable Full body in the XRoboToolkit app and calibrate at least two PICO Swift trackers"
                   if self.config.tracker_mode is PicoTrackerMode.BODY else
                   "pair the PICO motion trackers in the headset and map their serials (--tracker SERIAL=ROLE)")
            raise TrackerRoleMissingError(names, present, f"PICO reports no tracking for {list(names)}: {fix}.")
        log.info("PICO: streaming (%s)", ", ".join(s.role for s in self._streams.values() if s.valid))

    def stop(self) -> None:
        if self._status in (SourceStatus.RUNNING, SourceStatus.LOST) and self._sdk is not None:
            self._sdk.close()
        self._status = SourceStatus.STOPPED

    def _stream(self, name: str, role: str) -> _Stream:
        s = self._streams.get(name)
        if s is None:
            s = self._streams[name] = _Stream(name, role)
        return s

    def poll(self, frame: OperatorFrame) -> bool:
        t = clock.now()
        if self._status not in (SourceStatus.RUNNING, SourceStatus.LOST):
            mark_all_invalid(frame)
            frame.stamp = t
            return False
        sdk = self._sdk
        ts = int(sdk.get_time_stamp_ns())
        new = ts != self._last_ts and ts != 0
        if new:
            self._last_ts = ts
            self._last_new = t
            self._offset_s = min(self._offset_s, t - ts * 1e-9)
        if t - self._last_new > self.config.lost_after_s:
            if self._status is not SourceStatus.LOST:
                self._lost_reason = (
                    f"PICO input lost: no data for more than {self.config.lost_after_s:.1f} s (headset asleep, "
                    "XRoboToolkit app closed or Wi-Fi dropped). Wake the headset and reopen the app; the stream "
                    f"resumes by itself. {FALLBACK_HINT}"
                )
                log.error("%s", self._lost_reason)
            self._status = SourceStatus.LOST
            for s in self._streams.values():
                s.valid = False
            mark_all_invalid(frame)
            frame.stamp = t
            return True
        if self._status is SourceStatus.LOST:
            log.info("PICO input resumed")
            self._status = SourceStatus.RUNNING
            self._lost_reason = ""
        stale = self.config.stale_after_s
        frame.stamp = ts * 1e-9 + self._offset_s

        # head and controllers: x y z qx qy qz qw, OpenXR convention
        raw = np.array([sdk.get_headset_pose(), sdk.get_left_controller_pose(), sdk.get_right_controller_pose()], dtype=float)
        ok = _valid_quat(raw[:, 3:])
        xr_to_stage(raw[0:1, :3], raw[0:1, 3:], self._head)
        xr_to_stage(raw[1:, :3], raw[1:, 3:], self._ctrl)
        frame.head_pose[:] = self._head[0]
        frame.head_valid = self._stream("headset", "head").update(raw[0], bool(ok[0]), t, stale)
        frame.controller_pose[:] = self._ctrl
        for side, name in ((Side.LEFT, "left_controller"), (Side.RIGHT, "right_controller")):
            frame.controller_valid[side] = self._stream(name, name).update(raw[1 + side], bool(ok[1 + side]), t, stale)
        self._read_inputs(frame)
        if self.config.use_hand_tracking:
            self._read_hands(frame, t)
        else:
            frame.hand_valid[:] = False
        self._read_trackers(frame, t)
        return new

    def _read_inputs(self, frame: OperatorFrame) -> None:
        sdk = self._sdk
        ax, bt = frame.controller_axes, frame.controller_buttons
        L, R = Side.LEFT, Side.RIGHT
        ax[L, ControllerAxis.TRIGGER], ax[R, ControllerAxis.TRIGGER] = sdk.get_left_trigger(), sdk.get_right_trigger()
        ax[L, ControllerAxis.SQUEEZE], ax[R, ControllerAxis.SQUEEZE] = sdk.get_left_grip(), sdk.get_right_grip()
        (ax[L, ControllerAxis.THUMBSTICK_X], ax[L, ControllerAxis.THUMBSTICK_Y]) = sdk.get_left_axis()[:2]
        (ax[R, ControllerAxis.THUMBSTICK_X], ax[R, ControllerAxis.THUMBSTICK_Y]) = sdk.get_right_axis()[:2]
        bt[L, ControllerButton.PRIMARY], bt[L, ControllerButton.SECONDARY] = sdk.get_X_button(), sdk.get_Y_button()
        bt[R, ControllerButton.PRIMARY], bt[R, ControllerButton.SECONDARY] = sdk.get_A_button(), sdk.get_B_button()
        bt[L, ControllerButton.THUMBSTICK_CLICK] = sdk.get_left_axis_click()
        bt[R, ControllerButton.THUMBSTICK_CLICK] = sdk.get_right_axis_click()
        bt[L, ControllerButton.MENU], bt[R, ControllerButton.MENU] = sdk.get_left_menu_button(), sdk.get_right_menu_button()

    def _read_hands(self, frame: OperatorFrame, t: float) -> None:
        sdk = self._sdk
        states = (sdk.get_left_hand_tracking_state(), sdk.get_right_hand_tracking_state())
        active = (sdk.get_left_hand_is_active(), sdk.get_right_hand_is_active())
        for side in (Side.LEFT, Side.RIGHT):
            joints = _rows(states[side], 26)
            ok = bool(active[side]) and bool(np.all(_valid_quat(joints[:, 3:])))
            xr_to_stage(joints[:, :3], joints[:, 3:], self._hands[side])
            name = f"{side.name.lower()}_hand"
            stream = self._stream(name, name)
            stream.detail = "" if active[side] else "tracking quality low or hand not seen"
            if stream.update(joints, ok, t, self.config.stale_after_s):
                frame.hand_joints[side] = self._hands[side]
            frame.hand_valid[side] = stream.valid
            frame.hand_radii[side] = 0.0  # the SDK does not report joint radii

    def _read_trackers(self, frame: OperatorFrame, t: float) -> None:
        sdk, cfg = self._sdk, self.config
        frame.tracker_valid[:] = False
        stale = cfg.stale_after_s
        if cfg.tracker_mode is PicoTrackerMode.BODY:
            available = bool(sdk.is_body_data_available())
            joints = _rows(sdk.get_body_joints_pose(), N_BODY_JOINTS) if available else np.zeros((N_BODY_JOINTS, 7))
            ok = _valid_quat(joints[:, 3:]) & available
            stage = np.zeros((N_BODY_JOINTS, 7))
            xr_to_stage(joints[:, :3], joints[:, 3:], stage)
            for index, role in BODY_JOINT_ROLES.items():
                stream = self._stream(f"body/{BODY_JOINT_NAMES[index]}", role.name.lower())
                stream.detail = "" if available else "body tracking off: enable Full body in the XRoboToolkit app"
                if stream.update(joints[index], bool(ok[index]), t, stale):
                    frame.tracker_pose[role] = stage[index]
                frame.tracker_valid[role] = stream.valid
        elif cfg.tracker_mode is PicoTrackerMode.MOTION_TRACKERS:
            n = int(sdk.num_motion_data_available())
            serials = [str(s) for s in sdk.get_motion_tracker_serial_numbers()][:n]
            poses = _rows(sdk.get_motion_tracker_pose(), n) if n else np.zeros((0, 7))
            ok = _valid_quat(poses[:, 3:]) if n else np.zeros(0, dtype=bool)
            stage = np.zeros((n, 7))
            xr_to_stage(poses[:, :3], poses[:, 3:], stage)
            roles = {b.serial: b.role for b in cfg.trackers}
            self._serials = serials
            for k, serial in enumerate(serials):
                role = roles.get(serial)
                stream = self._stream(f"tracker/{serial}", role.name.lower() if role else "")
                stream.detail = "" if role else "not mapped: add --tracker SERIAL=ROLE"
                if stream.update(poses[k], bool(ok[k]), t, stale) and role is not None:
                    frame.tracker_pose[role] = stage[k]
                if role is not None:
                    frame.tracker_valid[role] = stream.valid
            for b in cfg.trackers:  # configured but not reported
                if b.serial not in serials:
                    stream = self._stream(f"tracker/{b.serial}", b.role.name.lower())
                    stream.valid = False
                    stream.detail = "not connected: switch it on and pair it in the headset"

    def devices(self) -> list[DeviceInfo]:
        t = clock.now()
        lost = self._status is SourceStatus.LOST
        return [
            DeviceInfo(
                name=s.name, role=s.role, tracked=s.valid and not lost, valid=s.valid and not lost,
                age_s=s.meter.age(t), rate_hz=s.meter.rate_hz,
                detail="no data (PICO input lost)" if lost else s.detail,
            )
            for s in self._streams.values()
        ]
