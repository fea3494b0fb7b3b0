"""The OpenXR input backend (``--input openxr``): headset, controllers, Vive trackers, hands.

Data flow of one :meth:`OpenXRSource.poll` (synchronous, on the caller's thread)::

    xrPollEvent* ──► session state (READY/FOCUSED/STOPPING/LOSS_PENDING, instance loss)
    t = teleop.clock.now() ──► XrTime (XR_KHR_convert_timespec_time, or an estimated offset)
    xrSyncActions ──► trigger / squeeze / thumbstick / buttons of both controllers
    xrLocateSpace(VIEW, grip, aim, tracker spaces; base = STAGE) ──┐
    xrLocateHandJointsEXT (26 joints, preallocated buffer) ────────┴► xr_to_stage ──► OperatorFrame

Poses are located at the current time plus ``OpenXRConfig.prediction_s`` (default 0),
converted to XrTime, so ``frame.stamp`` is the time the sample describes, on
:func:`teleop.clock.now`; with ``OpenXRConfig.predict_to_display`` and a frame loop running
(the headset view), at the next predicted display time instead.

The instance and session belong to an :class:`~teleop.inputs.openxr_session.OpenXRSession`:
the source's own, headless one (``XR_MND_headless``, offered by Monado and SteamVR), or one
shared with the headset view (``OpenXRSource(config, session=xr_session)``), a graphics
session whose frame loop runs on the view's thread while this backend polls on the loop's.
Events are drained by that session and reach this source as callbacks.

Validity: a pose is valid when the runtime sets ORIENTATION_VALID and POSITION_VALID and
its last *tracked* sample is no older than ``OpenXRConfig.stale_after_s``; an inferred pose
(valid, not tracked) therefore survives short occlusions and becomes invalid after that.
When the runtime ends the session or the instance, the source turns ``LOST``: ``poll`` keeps
returning frames with every validity flag ``False`` and :attr:`OpenXRSource.lost_reason`
says what to do.
"""

from __future__ import annotations

import ctypes
import logging
import math
from dataclasses import dataclass

import numpy as np

from teleop import clock
from teleop.exceptions import MissingExtraError
from teleop.inputs.base import (
    DeviceInfo,
    InputKind,
    InputSource,
    SourceStatus,
    mark_all_invalid,
)
from teleop.inputs.exceptions import (
    FALLBACK_HINT,
    MissingExtensionError,
    RuntimeUnavailableError,
    TrackerRoleMissingError,
)
from teleop.inputs.openxr_config import (
    HTC_XR_TRACKER_EXTENSION,
    HTCX_EXTENSION,
    OpenXRConfig,
    ReferenceSpace,
)
from teleop.inputs.openxr_convert import xr_to_stage
from teleop.inputs.openxr_hand import HandJointLocator
from teleop.inputs.openxr_session import (  # noqa: F401
    HEADLESS_EXTENSION,
    RUNTIME_FIX,
    OpenXRSession,
    create_session,
)
from teleop.operator_frame import ControllerAxis, ControllerButton, OperatorFrame, Side

log = logging.getLogger(__name__)

HAND_TRACKING_EXTENSION = "XR_EXT_hand_tracking"
TIMESPEC_EXTENSION = "XR_KHR_convert_timespec_time"
HAND_PATHS = ("/user/hand/left", "/user/hand/right")
HEAD_PATH = "/user/head"
_VALID = 0x1 | 0x2  # XR_SPACE_LOCATION_{ORIENTATION,POSITION}_VALID_BIT
_TRACKED = 0x4 | 0x8  # XR_SPACE_LOCATION_{ORIENTATION,POSITION}_TRACKED_BIT

# Controller components: name -> per-profile binding suffix (str for both hands, or (left, right)).
_PROFILES: dict[str, dict[str, str | tuple[str | None, str | None]]] = {
    "/interaction_profiles/khr/simple_controller": {
        "grip": "/input/grip/pose", "aim": "/input/aim/pose", "trigger": "/input/select/click",
        "menu": "/input/menu/click",
    },
    "/interaction_profiles/oculus/touch_controller": {
        "grip": "/input/grip/pose", "aim": "/input/aim/pose", "trigger": "/input/trigger/value",
        "squeeze": "/input/squeeze/value", "thumbstick": "/input/thumbstick",
        "thumbstick_click": "/input/thumbstick/click", "primary": ("/input/x/click", "/input/a/click"),
        "secondary": ("/input/y/click", "/input/b/click"), "menu": ("/input/menu/click", None),
    },
    "/interaction_profiles/valve/index_controller": {
        "grip": "/input/grip/pose", "aim": "/input/aim/pose", "trigger": "/input/trigger/value",
        "squeeze": "/input/squeeze/value", "thumbstick": "/input/thumbstick",
        "thumbstick_click": "/input/thumbstick/click", "primary": "/input/a/click", "secondary": "/input/b/click",
    },
    "/interaction_profiles/htc/vive_controller": {
        "grip": "/input/grip/pose", "aim": "/input/aim/pose", "trigger": "/input/trigger/value",
        "squeeze": "/input/squeeze/click", "thumbstick": "/input/trackpad",
        "thumbstick_click": "/input/trackpad/click", "menu": "/input/menu/click",
    },
}
_FLOAT_ACTIONS = {"trigger": ControllerAxis.TRIGGER, "squeeze": ControllerAxis.SQUEEZE}
_BOOL_ACTIONS = {
    "primary": ControllerButton.PRIMARY, "secondary": ControllerButton.SECONDARY,
    "thumbstick_click": ControllerButton.THUMBSTICK_CLICK, "menu": ControllerButton.MENU,
}


def _import_xr():
    try:
        import xr
    except ImportError:
        raise MissingExtraError("xr", "openxr", "The OpenXR input backend (--input openxr)") from None
    return xr


class _Fast:
    """Hot-path OpenXR entry points fetched once per instance, returning plain ``int`` results.

    The backend writes results into structs it preallocated (and reads them back as numpy
    views), so it calls the runtime directly instead of through pyopenxr's wrappers, which
    allocate a result struct and, for extension functions, look the function up on every
    call. ``python -m tests.bench inputs`` compares the two.
    """

    def __init__(self, xr, instance, timespec_enabled: bool):
        c = ctypes

        def bind(name, *argtypes):
            return c.cast(xr.get_instance_proc_addr(instance, name), c.CFUNCTYPE(c.c_int, *argtypes))

        self.locate_space = bind("xrLocateSpace", xr.Space, xr.Space, c.c_int64, c.POINTER(xr.SpaceLocation))
        self.sync_actions = bind("xrSyncActions", xr.Session, c.POINTER(xr.ActionsSyncInfo))
        get_info = c.POINTER(xr.ActionStateGetInfo)
        self.state_float = bind("xrGetActionStateFloat", xr.Session, get_info, c.POINTER(xr.ActionStateFloat))
        self.state_bool = bind("xrGetActionStateBoolean", xr.Session, get_info, c.POINTER(xr.ActionStateBoolean))
        self.state_vec2 = bind("xrGetActionStateVector2f", xr.Session, get_info, c.POINTER(xr.ActionStateVector2f))
        self.poll_event = bind("xrPollEvent", xr.Instance, c.POINTER(xr.EventDataBuffer))
        if timespec_enabled:
            self.to_xr_time = bind(
                "xrConvertTimespecTimeToTimeKHR", xr.Instance, c.POINTER(xr.timespec), c.POINTER(c.c_int64)
            )
            self.from_xr_time = bind(
                "xrConvertTimeToTimespecTimeKHR", xr.Instance, c.c_int64, c.POINTER(xr.timespec)
            )


class TimeBase:
    """Conversion between XrTime [ns] and :func:`teleop.clock.now` [s].

    With ``XR_KHR_convert_timespec_time`` (Linux runtimes) the conversion is exact: the
    monotonic clock of :mod:`teleop.clock` is ``CLOCK_MONOTONIC``, which that extension
    converts. Without it the offset ``o = t_xr - t_mono`` is estimated from the runtime's
    session-state events: each event stamped ``t_ev`` and received at ``t_rx`` gives
    ``t_ev - t_rx <= o`` (the event happened before it was received), so the estimate is the
    maximum over events; its error is the smallest event delivery latency (typically < 1 ms).
    """

    def __init__(self, xr, instance, fast: _Fast | None, events: OpenXRSession | None = None):
        self._xr = xr
        self._instance = instance
        self._fast = fast
        self._events = events  # the session that sees the events (its estimate is used as well)
        self.exact = fast is not None and hasattr(fast, "to_xr_time")
        self._own_offset_ns: int | None = None  # estimated t_xr - t_mono
        if self.exact:
            self._ts = xr.timespec()
            self._t = ctypes.c_int64()

    def observe_event(self, t_event_xr: int, t_received_s: float) -> None:
        """Refine the estimated offset with a runtime event's XrTime (no-op when exact)."""
        if self.exact or t_event_xr <= 0:
            return
        estimate = int(t_event_xr) - int(round(t_received_s * 1e9))
        if self._own_offset_ns is None or estimate > self._own_offset_ns:
            self._own_offset_ns = estimate

    @property
    def _offset_ns(self) -> int | None:
        shared = self._events.event_offset_ns if self._events is not None else None
        if shared is None or self._own_offset_ns is None:
            return self._own_offset_ns if shared is None else shared
        return max(shared, self._own_offset_ns)

    @property
    def ready(self) -> bool:
        return self.exact or self._offset_ns is not None

    def to_xr(self, t_s: float) -> int:
        """XrTime [ns] of the monotonic time ``t_s`` [s]; raises the runtime's error code."""
        if not self.exact:
            if self._offset_ns is None:
                raise RuntimeUnavailableError(
                    "the OpenXR runtime sent no timed event, so its clock cannot be related to ours; "
                    "restart the runtime. " + FALLBACK_HINT
                )
            return int(round(t_s * 1e9)) + self._offset_ns
        ns = int(round(t_s * 1e9))
        self._ts.tv_sec, self._ts.tv_nsec = divmod(ns, 1_000_000_000)
        result = self._fast.to_xr_time(self._instance, ctypes.byref(self._ts), ctypes.byref(self._t))
        if result < 0:
            raise self._xr.check_result(self._xr.Result(result))
        return self._t.value

    def to_mono(self, t_xr: int) -> float:
        """Monotonic time [s] of the XrTime ``t_xr`` [ns]."""
        if not self.exact:
            return (int(t_xr) - (self._offset_ns or 0)) * 1e-9
        result = self._fast.from_xr_time(self._instance, ctypes.c_int64(t_xr), ctypes.byref(self._ts))
        if result < 0:
            raise self._xr.check_result(self._xr.Result(result))
        return self._ts.tv_sec + self._ts.tv_nsec * 1e-9


@dataclass
class _Device:
    """Static description of one pose source (its dynamic state is a row of :class:`_DeviceTable`)."""

    name: str  # OpenXR user path
    role: str  # what it fills in the frame
    space: object = None  # xr.Space (None for hands)
    present: bool = True  # the runtime reports it (interaction profile / tracker path)
    profile: str = ""


class _DeviceTable:
    """Tracking state, staleness and rate of every device, updated with array operations.

    Row ``i`` is device ``i``. Per update, for the rows given: ``tracked`` = runtime says
    valid and tracked; ``last_tracked`` is set where tracked; ``valid`` = pose valid and
    ``t - last_tracked <= stale_after_s``. The rate is ``1 / mean interval`` of valid samples,
    with the interval averaged as in :class:`~teleop.inputs.base.RateMeter` (plain mean over
    the first ``1/alpha`` intervals, exponential after).
    """

    def __init__(self, n: int, stale_after_s: float, alpha: float = 0.05):
        self.stale_after_s = stale_after_s
        self.alpha = alpha
        self.tracked = np.zeros(n, dtype=bool)
        self.valid = np.zeros(n, dtype=bool)
        self.last_tracked = np.full(n, -np.inf)  # [s]
        self.last_valid = np.full(n, -np.inf)  # [s]
        self.n_valid = np.zeros(n)
        self.mean_dt = np.zeros(n)  # [s]

    def update(self, rows: slice, pose_valid: np.ndarray, tracked: np.ndarray, t: float) -> None:
        self.tracked[rows] = tracked
        self.last_tracked[rows] = np.where(tracked, t, self.last_tracked[rows])
        valid = pose_valid & (t - self.last_tracked[rows] <= self.stale_after_s)
        self.valid[rows] = valid
        fresh = valid & (t > self.last_valid[rows])
        if fresh.any():
            idx = np.arange(len(self.valid))[rows][fresh]
            seen = idx[self.n_valid[idx] > 0]  # rows with a previous sample: one more interval
            a = np.maximum(self.alpha, 1.0 / self.n_valid[seen])
            self.mean_dt[seen] += a * ((t - self.last_valid[seen]) - self.mean_dt[seen])
            self.last_valid[idx] = t
            self.n_valid[idx] += 1

    def clear(self) -> None:
        self.tracked[:] = False
        self.valid[:] = False

    def rate_hz(self, i: int) -> float:
        return 1.0 / self.mean_dt[i] if self.n_valid[i] > 1 and self.mean_dt[i] > 0 else 0.0

    def age_s(self, i: int, now: float) -> float:
        return now - self.last_valid[i] if self.n_valid[i] else math.inf


def _element_pointer(array, i: int):
    """A typed pointer to element ``i`` of a ctypes struct array (what a ctypes prototype accepts)."""
    element = array._type_
    return ctypes.cast(ctypes.addressof(array) + i * ctypes.sizeof(element), ctypes.POINTER(element))


def _struct_view(array, fields: dict[str, tuple[str, str]]) -> np.ndarray:
    """A numpy structured view of a ctypes struct array: ``{name: (ctypes field, numpy format)}``."""
    element = array._type_
    dtype = np.dtype({
        "names": list(fields),
        "formats": [fmt for _, fmt in fields.values()],
        "offsets": [getattr(element, f).offset for f, _ in fields.values()],
        "itemsize": ctypes.sizeof(element),
    })
    return np.frombuffer(array, dtype=dtype)


class OpenXRSource(InputSource):
    """Operator frames from an OpenXR runtime (SteamVR, Monado, ...) through pyopenxr.

    Args:
        config: devices, role mapping, staleness; defaults to :class:`OpenXRConfig`.
        session: the :class:`OpenXRSession` to read devices through (shared with the headset
            view); None: the source opens its own headless session.
    """

    kind = InputKind.OPENXR
    needs_frame_loop = False

    def __init__(self, config: OpenXRConfig | None = None, session: OpenXRSession | None = None):
        self.config = config or OpenXRConfig()
        self._status = SourceStatus.IDLE
        self._lost_reason = ""
        self._xr = None
        self._shared = session
        self._owner: OpenXRSession | None = None
        self._instance = None
        self._session = None
        self._pending_loss = ""  # set by the session's callbacks (any thread), acted on in poll
        self._presence_dirty = False
        self._extensions: frozenset[str] = frozenset()
        self._devices: list[_Device] = []
        self._table = _DeviceTable(0, self.config.stale_after_s)
        self._last_stamp = -math.inf
        self.runtime_name = ""
        self.system_name = ""
        self.aim_pose = np.zeros((2, 7))  # T_stage_aim of each controller (pointing ray, x forward)
        self.aim_pose[:, 3] = 1.0
        self.aim_valid = np.zeros(2, dtype=bool)
        if session is not None:
            session.register(self)

    # ---- InputSource -------------------------------------------------------------------
    @property
    def status(self) -> SourceStatus:
        return self._status

    @property
    def lost_reason(self) -> str:
        return self._lost_reason

    @property
    def extensions(self) -> frozenset[str]:
        """The extensions enabled on the instance."""
        return self._extensions

    @property
    def xr_session(self) -> OpenXRSession | None:
        """The OpenXR session the source reads through (None before start)."""
        return self._owner

    def start(self) -> None:
        if self._status is SourceStatus.RUNNING:
            return
        xr = self._xr = _import_xr()
        self._owner = self._shared or OpenXRSession(self.config.application_name, self.config.ready_timeout_s,
                                                    graphics=False)
        self._pending_loss = ""
        try:
            self._owner.attach(self)
            self._open(xr)
        except BaseException:
            self._teardown()
            self._status = SourceStatus.IDLE
            raise
        self._status = SourceStatus.RUNNING
        self._lost_reason = ""
        log.info("OpenXR: %s on %s; present: %s; absent: %s", self.runtime_name, self.system_name,
                 ", ".join(d.role for d in self._devices if d.present) or "nothing",
                 ", ".join(d.role for d in self._devices if not d.present) or "nothing")

    def stop(self) -> None:
        if self._status is SourceStatus.STOPPED:
            return
        self._teardown()
        self._status = SourceStatus.STOPPED

    def poll(self, frame: OperatorFrame) -> bool:
        if self._status is not SourceStatus.RUNNING:
            mark_all_invalid(frame)
            frame.stamp = clock.now()
            return self._status is SourceStatus.LOST
        xr = self._xr
        try:
            self._owner.pump_events()
            if self._pending_loss:
                self._lose(self._pending_loss)
            elif self._presence_dirty:
                self._presence_dirty = False
                self._refresh_presence()
            if self._status is SourceStatus.RUNNING:
                return self._sample(frame)
        except xr.XrException as exc:  # any runtime failure mid-run: lose the session, never crash the loop
            self._lose(f"the OpenXR runtime failed during a poll ({type(exc).__name__})")
        except RuntimeUnavailableError as exc:
            self._lose(str(exc))
        mark_all_invalid(frame)
        frame.stamp = clock.now()
        return True

    def devices(self) -> list[DeviceInfo]:
        now = clock.now()
        lost = self._status is SourceStatus.LOST
        table = self._table
        out = []
        for i, d in enumerate(self._devices):
            tracked, valid = bool(table.tracked[i]) and not lost, bool(table.valid[i]) and not lost
            if not d.present:
                tracker = d.name.startswith(("/user/vive", "/user/xr_tracker"))
                detail = "not present: pair it and assign its role" if tracker else "not connected"
            elif lost:
                detail = "session lost"
            elif not valid:
                why = (f"stale (no tracked sample for more than {self.config.stale_after_s * 1e3:.0f} ms)"
                       if np.isfinite(table.last_tracked[i]) else "not tracked")
                detail = f"{d.profile}; {why}" if d.profile else why
            else:
                detail = d.profile
            out.append(DeviceInfo(name=d.name, role=d.role, tracked=tracked, valid=valid,
                                  age_s=table.age_s(i, now), rate_hz=table.rate_hz(i), detail=detail))
        return out

    # ---- start-up ----------------------------------------------------------------------
    # ---- OpenXRSession client ------------------------------------------------------------
    def xr_extensions(self, available: frozenset[str], graphics: bool) -> set[str]:
        """The extensions this source asks the session for; raises for a required one that is missing."""
        cfg = self.config
        wanted = {TIMESPEC_EXTENSION}
        if cfg.use_hand_tracking or cfg.require_hand_tracking:
            wanted.add(HAND_TRACKING_EXTENSION)
        if cfg.use_trackers:
            wanted |= {b.family.extension for b in cfg.trackers}
        if cfg.require_hand_tracking and HAND_TRACKING_EXTENSION not in available:
            raise MissingExtensionError(
                HAND_TRACKING_EXTENSION, tuple(sorted(available)),
                f"The OpenXR runtime does not offer {HAND_TRACKING_EXTENSION} (hand joints). Enable hand tracking "
                "in the runtime (Quest: Settings > Movement tracking > Hand tracking; Monado: a hand-tracking "
                "driver), or set require_hand_tracking=False to drive the hands from the controller triggers.",
            )
        for binding in cfg.trackers:
            if binding.role in cfg.required_roles and binding.family.extension not in available:
                raise MissingExtensionError(
                    binding.family.extension, tuple(sorted(available)),
                    f"The {binding.role.name.lower()} tracker ({binding.user_path}) needs {binding.family.extension}, "
                    "which this OpenXR runtime does not offer. Use SteamVR with Vive trackers (it offers "
                    f"{HTCX_EXTENSION}) or VIVE's runtime for self-trackers ({HTC_XR_TRACKER_EXTENSION}).",
                )
        return wanted

    def on_xr_event(self, kind: int, event, received: float) -> None:
        T = self._xr.StructureType if self._xr is not None else None
        if T is None:
            return
        if kind == T.EVENT_DATA_INTERACTION_PROFILE_CHANGED.value or \
                kind == getattr(T, "EVENT_DATA_VIVE_TRACKER_CONNECTED_HTCX", T.EVENT_DATA_BUFFER).value:
            self._presence_dirty = True

    def on_xr_lost(self, reason: str) -> None:
        self._pending_loss = reason

    # ---- start-up ----------------------------------------------------------------------
    def _open(self, xr) -> None:
        owner = self._owner
        self._extensions = enabled = owner.enabled
        self._instance, self._session = owner.instance, owner.session
        self.runtime_name, self.system_name = owner.runtime_name, owner.system_name
        self._fast = _Fast(xr, self._instance, TIMESPEC_EXTENSION in enabled)
        self._time = TimeBase(xr, self._instance, self._fast, events=owner)
        self._build_actions(xr, enabled)
        self._presence_dirty = False
        self._check_required_trackers()

    def _build_actions(self, xr, enabled: frozenset[str]) -> None:
        cfg = self.config
        inst = self._instance
        path = self._path = lambda s: xr.string_to_path(inst, s)
        hands = [path(p) for p in HAND_PATHS]
        self._action_set = xr.create_action_set(inst, xr.ActionSetCreateInfo(
            action_set_name="teleop", localized_action_set_name="psi-teleop", priority=0))

        def action(name, kind, subpaths):
            return xr.create_action(self._action_set, xr.ActionCreateInfo(
                action_type=kind, action_name=name, localized_action_name=name.replace("_", " "),
                subaction_paths=subpaths))

        T = xr.ActionType
        actions = {"grip": action("grip_pose", T.POSE_INPUT, hands), "aim": action("aim_pose", T.POSE_INPUT, hands),
                   "thumbstick": action("thumbstick", T.VECTOR2F_INPUT, hands)}
        actions.update({n: action(n, T.FLOAT_INPUT, hands) for n in _FLOAT_ACTIONS})
        actions.update({n: action(n, T.BOOLEAN_INPUT, hands) for n in _BOOL_ACTIONS})
        for profile, components in _PROFILES.items():
            bindings = []
            for name, suffix in components.items():
                for side, hand in enumerate(HAND_PATHS):
                    s = suffix if isinstance(suffix, str) else suffix[side]
                    if s:
                        bindings.append(xr.ActionSuggestedBinding(actions[name], path(hand + s)))
            self._suggest(xr, profile, bindings)
        trackers = [b for b in cfg.trackers if cfg.use_trackers and b.family.extension in enabled]
        tracker_action = None
        if trackers:
            tracker_action = action("tracker_pose", T.POSE_INPUT, [path(b.user_path) for b in trackers])
            for family in {b.family for b in trackers}:
                self._suggest(xr, family.profile, [
                    xr.ActionSuggestedBinding(tracker_action, path(b.user_path + family.pose_input))
                    for b in trackers if b.family is family])
        xr.attach_session_action_sets(self._session, xr.SessionActionSetsAttachInfo(action_sets=[self._action_set]))

        # spaces: base, head, grips, aims, trackers (in this order: one locate loop)
        base_type = (xr.ReferenceSpaceType.STAGE if cfg.reference_space is ReferenceSpace.STAGE
                     else xr.ReferenceSpaceType.LOCAL)
        identity = xr.Posef()
        self._base = xr.create_reference_space(self._session, xr.ReferenceSpaceCreateInfo(base_type, identity))
        view = xr.create_reference_space(self._session, xr.ReferenceSpaceCreateInfo(xr.ReferenceSpaceType.VIEW, identity))
        self._devices = [_Device(HEAD_PATH, "head", view)]
        for kind in ("grip", "aim"):
            for side, hand in enumerate(HAND_PATHS):
                space = xr.create_action_space(self._session, xr.ActionSpaceCreateInfo(
                    action=actions[kind], subaction_path=hands[side], pose_in_action_space=identity))
                role = f"{Side(side).name.lower()}_controller" + ("" if kind == "grip" else "_aim")
                self._devices.append(_Device(hand, role, space))
        self._tracker_rows = []
        for b in trackers:
            space = xr.create_action_space(self._session, xr.ActionSpaceCreateInfo(
                action=tracker_action, subaction_path=path(b.user_path), pose_in_action_space=identity))
            self._devices.append(_Device(b.user_path, b.role.name.lower(), space))
            self._tracker_rows.append(int(b.role))
        # one SpaceLocation per located space, read back as one numpy structured array
        self._n_located = n_loc = len(self._devices)
        self._locations = (xr.SpaceLocation * n_loc)(*[xr.SpaceLocation() for _ in range(n_loc)])
        size = ctypes.sizeof(xr.SpaceLocation)
        self._locate_args = [(d.space, _element_pointer(self._locations, i)) for i, d in enumerate(self._devices)]
        pose_offset = xr.SpaceLocation.pose.offset
        self._loc_view = np.frombuffer(self._locations, dtype=np.dtype({
            "names": ["flags", "q", "p"], "formats": ["<u8", ("<f4", 4), ("<f4", 3)],
            "offsets": [xr.SpaceLocation._location_flags.offset, pose_offset, pose_offset + 16], "itemsize": size}))
        self._pose_stage = np.zeros((n_loc, 7))
        self._tracker_rows = np.array(self._tracker_rows, dtype=int)
        self._tracker_slice = slice(5, 5 + len(self._tracker_rows))

        # action states: one struct per (action, side), queried in a fixed order, read as arrays
        n_f, n_b = 2 * len(_FLOAT_ACTIONS), 2 * len(_BOOL_ACTIONS)
        self._states_f = (xr.ActionStateFloat * n_f)(*[xr.ActionStateFloat() for _ in range(n_f)])
        self._states_b = (xr.ActionStateBoolean * n_b)(*[xr.ActionStateBoolean() for _ in range(n_b)])
        self._states_v = (xr.ActionStateVector2f * 2)(*[xr.ActionStateVector2f() for _ in range(2)])
        self._queries = {(name, side): xr.ActionStateGetInfo(action=actions[name], subaction_path=hands[side])
                         for name in list(_FLOAT_ACTIONS) + list(_BOOL_ACTIONS) + ["thumbstick"] for side in (0, 1)}
        calls = []
        for states, fn, names in ((self._states_f, self._fast.state_float, _FLOAT_ACTIONS),
                                  (self._states_b, self._fast.state_bool, _BOOL_ACTIONS),
                                  (self._states_v, self._fast.state_vec2, ("thumbstick",))):
            for k, (name, side) in enumerate((n, sd) for n in names for sd in (0, 1)):
                calls.append((fn, ctypes.byref(self._queries[(name, side)]), _element_pointer(states, k)))
        self._state_calls = calls
        self._view_f = _struct_view(self._states_f, {"value": ("current_state", "<f4"), "active": ("is_active", "<u4")})
        self._view_b = _struct_view(self._states_b, {"value": ("current_state", "<u4"), "active": ("is_active", "<u4")})
        self._view_v = _struct_view(self._states_v, {"value": ("current_state", ("<f4", 2)), "active": ("is_active", "<u4")})
        self._float_cols = [int(c) for c in _FLOAT_ACTIONS.values()]
        self._bool_cols = [int(c) for c in _BOOL_ACTIONS.values()]
        self._sync_info = xr.ActionsSyncInfo(active_action_sets=[xr.ActiveActionSet(self._action_set, xr.NULL_PATH)])

        # hands
        self._hands: list[HandJointLocator | None] = [None, None]
        if cfg.use_hand_tracking and HAND_TRACKING_EXTENSION in enabled:
            for side, hand_enum in enumerate((xr.HandEXT.LEFT, xr.HandEXT.RIGHT)):
                tracker = xr.create_hand_tracker_ext(self._session, xr.HandTrackerCreateInfoEXT(
                    hand=hand_enum, hand_joint_set=xr.HandJointSetEXT.DEFAULT))
                self._hands[side] = HandJointLocator(xr, self._instance, tracker)
                self._devices.append(_Device(f"{HAND_PATHS[side]} (hand tracking)", f"{Side(side).name.lower()}_hand"))
        self._table = _DeviceTable(len(self._devices), cfg.stale_after_s)
        self._pose_valid = np.zeros(len(self._devices), dtype=bool)
        self._pose_tracked = np.zeros(len(self._devices), dtype=bool)
        self._refresh_presence()

    def _suggest(self, xr, profile: str, bindings: list) -> None:
        try:
            xr.suggest_interaction_profile_bindings(self._instance, xr.InteractionProfileSuggestedBinding(
                interaction_profile=self._path(profile), suggested_bindings=bindings))
        except (xr.PathUnsupportedError, xr.PathInvalidError) as exc:
            log.info("OpenXR runtime does not know %s (%s); skipped", profile, type(exc).__name__)

    def _refresh_presence(self) -> None:
        """Which devices the runtime reports: interaction profile per user path, HTCX tracker roles."""
        xr = self._xr
        htcx_roles: set[str] | None = None
        if HTCX_EXTENSION in self._extensions:
            htcx_roles = {_path_str(xr, self._instance, p.role_path)
                          for p in xr.enumerate_vive_tracker_paths_htcx(self._instance) if p.role_path}
        for d in self._devices:
            if d.space is None:  # hand tracking: present when the extension is enabled
                continue
            user_path = d.name
            try:
                state = xr.get_current_interaction_profile(self._session, self._path(user_path))
                d.profile = _path_str(xr, self._instance, state.interaction_profile) if state.interaction_profile else ""
            except xr.XrException:
                d.profile = ""
            if d.name == HEAD_PATH:
                d.present = True
            elif htcx_roles is not None and user_path.startswith("/user/vive_tracker_htcx/"):
                d.present = user_path in htcx_roles
            else:
                d.present = bool(d.profile)

    def _check_required_trackers(self) -> None:
        present = {d.role for d in self._devices if d.present}
        missing = [b for b in self.config.trackers if b.role in self.config.required_roles
                   and b.role.name.lower() not in present]
        if missing:
            have = tuple(sorted(d.name for d in self._devices if d.present and d.name.startswith("/user/vive")))
            raise TrackerRoleMissingError(
                tuple(b.user_path for b in missing), have,
                "No tracker holds the role(s) " + ", ".join(f"{b.role.name.lower()} ({b.user_path})" for b in missing)
                + f"; trackers present: {list(have) or 'none'}. Pair each tracker (SteamVR > Devices > Pair "
                "Controller) and assign its role in SteamVR > Settings > Controllers > Manage Vive Trackers, or "
                "change the role mapping (--tracker PATH=ROLE).",
            )

    # ---- per poll ----------------------------------------------------------------------
    def _sample(self, frame: OperatorFrame) -> bool:
        xr = self._xr
        fast = self._fast
        t_mono = clock.now()
        t_sample = t_mono + self.config.prediction_s  # the time the located poses describe
        t_xr = self._time.to_xr(t_sample)
        if self.config.predict_to_display:
            t_display = self._owner.next_display_time_ns(t_xr)
            if t_display is not None:  # a frame loop runs: the poses as the operator will see them
                t_xr, t_sample = t_display, self._time.to_mono(t_display)
        result = fast.sync_actions(self._session, ctypes.byref(self._sync_info))
        if result < 0:
            raise xr.check_result(xr.Result(result))

        # poses: locate every space into its own struct, then convert them all at once
        base, locate = self._base, fast.locate_space
        for space, ref in self._locate_args:
            result = locate(space, base, t_xr, ref)
            if result < 0:
                raise xr.check_result(xr.Result(result))
        view = self._loc_view
        xr_to_stage(view["p"], view["q"], self._pose_stage)
        flags = view["flags"]
        n = self._n_located
        pose_valid, tracked = self._pose_valid, self._pose_tracked
        np.equal(flags & _VALID, _VALID, out=pose_valid[:n])
        np.equal(flags & _TRACKED, _TRACKED, out=tracked[:n])
        tracked[:n] &= pose_valid[:n]
        self._locate_hands(frame, t_xr)  # fills rows n, n+1 of pose_valid / tracked
        self._table.update(slice(None), pose_valid, tracked, t_mono)
        valid = self._table.valid
        frame.hand_valid[:] = valid[n:n + 2] if len(valid) >= n + 2 else False
        pose = self._pose_stage

        frame.stamp = t_sample
        frame.head_valid = bool(valid[0])
        frame.head_pose[:] = pose[0]
        frame.controller_valid[:] = valid[1:3]
        frame.controller_pose[:] = pose[1:3]
        self.aim_valid[:] = valid[3:5]
        self.aim_pose[:] = pose[3:5]
        frame.tracker_valid[:] = False
        rows = self._tracker_rows
        if len(rows):
            frame.tracker_valid[rows] = valid[self._tracker_slice]
            frame.tracker_pose[rows] = pose[self._tracker_slice]

        self._read_inputs(frame)
        new = t_sample > self._last_stamp
        self._last_stamp = t_sample
        return new

    def _read_inputs(self, frame: OperatorFrame) -> None:
        xr = self._xr
        session = self._session
        for fn, query, state in self._state_calls:
            r = fn(session, query, state)
            if r < 0:
                raise xr.check_result(xr.Result(r))
        # rows of the views are (action, side) in _FLOAT_ACTIONS / _BOOL_ACTIONS order, side fastest
        vf, vb, vv = self._view_f, self._view_b, self._view_v
        axes = frame.controller_axes
        axes[:, self._float_cols] = (vf["value"] * (vf["active"] != 0)).reshape(-1, 2).T
        axes[:, ControllerAxis.THUMBSTICK_X:ControllerAxis.THUMBSTICK_Y + 1] = vv["value"] * (vv["active"] != 0)[:, None]
        frame.controller_buttons[:, self._bool_cols] = ((vb["value"] != 0) & (vb["active"] != 0)).reshape(-1, 2).T

    def _locate_hands(self, frame: OperatorFrame, t_xr: int) -> None:
        """Locate both hands' joints into ``frame``; their flags go to rows after the located spaces."""
        xr = self._xr
        for side, locator in enumerate(self._hands):
            if locator is None:
                continue
            result, valid = locator.locate(self._base, t_xr, frame.hand_joints[side], frame.hand_radii[side])
            if result < 0:
                raise xr.check_result(xr.Result(result))
            row = self._n_located + side
            self._pose_valid[row] = valid
            self._pose_tracked[row] = valid and locator.tracked()

    # ---- loss and teardown -------------------------------------------------------------
    def _lose(self, reason: str) -> None:
        if self._status is SourceStatus.LOST:
            return
        self._lost_reason = f"OpenXR input lost: {reason}. Every device reads invalid until then. {FALLBACK_HINT}"
        log.error("%s", self._lost_reason)
        if hasattr(self, "_table"):
            self._table.clear()
        self._teardown()
        self._status = SourceStatus.LOST

    def _teardown(self) -> None:
        """Let go of the session: a private one is ended and destroyed, a shared one stays with its other clients."""
        owner, self._owner = self._owner, None
        self._instance = self._session = None
        if owner is not None:
            try:
                owner.detach(self)
            except Exception as exc:  # noqa: BLE001 - a runtime that is already gone
                log.debug("OpenXR: closing the session: %s", exc)


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _path_str(xr, instance, path) -> str:
    return _text(xr.path_to_string(instance, path))
