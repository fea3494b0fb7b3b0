"""The input-source interface every operator device backend implements.

A source turns one kind of device (an OpenXR runtime, the PICO PC service, a recorded
episode, the scripted operator) into :class:`teleop.operator_frame.OperatorFrame` samples.
The teleop loop calls :meth:`InputSource.poll` about 100 times a second with a frame it
owns; the source fills it in place with its newest sample and says whether it was new::

    source = make_source(InputKind.OPENXR)
    source.start()                      # raises InputDeviceError with the fix
    frame = OperatorFrame()
    try:
        while running:
            if source.poll(frame):      # non-blocking
                ...                     # frame.stamp is on teleop.clock.now()
            if source.lost:             # runtime gone: frames keep coming, all invalid
                ...
    finally:
        source.stop()                   # idempotent

Life cycle (:class:`SourceStatus`): ``IDLE`` → :meth:`~InputSource.start` → ``RUNNING`` →
(``LOST`` when the runtime goes away mid-run) → :meth:`~InputSource.stop` → ``STOPPED``.
A lost source never raises from ``poll``: it keeps returning frames whose validity flags
are all ``False``, so the safety filter holds the robot instead of the loop crashing, and
:attr:`~InputSource.lost_reason` tells the operator what happened and what to do.
"""

from __future__ import annotations

import abc
import enum
import math
from dataclasses import dataclass
from typing import Any

from teleop.enums import parse_enum
from teleop.exceptions import ConfigError
from teleop.operator_frame import OperatorFrame


class InputKind(enum.Enum):
    """Which backend produces the operator frames (the CLI's ``--input``)."""

    SCRIPTED = "scripted"  # synthetic operator, no hardware (teleop.inputs.scripted)
    REPLAY = "replay"  # operator streams of a recorded episode (teleop.inputs.replay)
    OPENXR = "openxr"  # any OpenXR runtime through pyopenxr (teleop.inputs.openxr_backend)
    PICO = "pico"  # PICO headset + motion trackers through XRoboToolkit (teleop.inputs.pico)

    @classmethod
    def parse(cls, value: "InputKind | str") -> "InputKind":
        """``InputKind`` from itself or its CLI spelling (case-insensitive)."""
        return parse_enum(cls, value, "input kind")


class SourceStatus(enum.Enum):
    """Where a source is in its life cycle."""

    IDLE = "idle"  # constructed, not started
    RUNNING = "running"  # started; poll delivers samples
    LOST = "lost"  # the runtime went away mid-run; poll delivers all-invalid frames
    STOPPED = "stopped"  # stop() was called


@dataclass(frozen=True)
class DeviceInfo:
    """One device as ``psi-teleop devices`` shows it.

    Attributes:
        name: what the runtime calls it (``/user/head``, ``/user/vive_tracker_htcx/role/waist``, a serial).
        role: what it stands for in an OperatorFrame (``head``, ``left_controller``,
            ``left_hand``, or a :class:`~teleop.operator_frame.TrackerRole` name in lower case);
            empty when the device is seen but mapped to nothing.
        tracked: the runtime reports it as tracked right now.
        valid: its pose reaches the OperatorFrame as valid (tracked and not stale).
        age_s: time since its last valid sample [s]; ``inf`` if never seen.
        rate_hz: measured rate of its valid samples [Hz]; 0 if unknown.
        detail: free text for the operator (the interaction profile, why it is invalid).
    """

    name: str
    role: str
    tracked: bool
    valid: bool
    age_s: float = math.inf
    rate_hz: float = 0.0
    detail: str = ""


class RateMeter:
    """Rate [Hz] and age [s] of a stream of sample stamps, for :class:`DeviceInfo`.

    The rate is the inverse of a running mean of the sample interval,
    ``dt_k = dt_{k-1} + a_k (Δt_k - dt_{k-1})`` with ``a_k = max(alpha, 1/k)`` (a plain
    mean over the first ``1/alpha`` intervals, an exponential average after), and
    ``rate = 1 / dt``. Averaging intervals rather than inverse intervals keeps one short
    interval (two samples close together) from inflating the rate. Repeated stamps (the
    same sample seen twice) are ignored. O(1) and allocation-free per update.
    """

    __slots__ = ("alpha", "last_stamp", "rate_hz", "count", "_dt")

    def __init__(self, alpha: float = 0.05):
        if not 0.0 < alpha <= 1.0:
            raise ConfigError(f"RateMeter alpha={alpha} is outside (0, 1]; use e.g. 0.05")
        self.alpha = alpha
        self.last_stamp = -math.inf  # [s] on teleop.clock.now()
        self.rate_hz = 0.0
        self.count = 0
        self._dt = 0.0  # mean sample interval [s]

    def update(self, stamp: float) -> None:
        """Record a sample taken at ``stamp`` [s]."""
        dt = stamp - self.last_stamp
        if dt <= 0.0:
            return
        if math.isfinite(dt):
            a = max(self.alpha, 1.0 / self.count)  # count >= 1 here: intervals seen = count
            self._dt += a * (dt - self._dt)
            self.rate_hz = 1.0 / self._dt
        self.last_stamp = stamp
        self.count += 1

    def age(self, now: float) -> float:
        """Seconds since the last sample, ``inf`` if none."""
        return now - self.last_stamp if self.count else math.inf


def mark_all_invalid(frame: OperatorFrame) -> None:
    """Clear every validity flag of ``frame`` in place (numbers are left as they are)."""
    frame.head_valid = False
    frame.tracker_valid[:] = False
    frame.hand_valid[:] = False
    frame.controller_valid[:] = False


class InputSource(abc.ABC):
    """A device backend that fills :class:`OperatorFrame` samples.

    Implementations set :attr:`kind` and keep :attr:`status` current. ``poll`` is called
    from the teleop loop thread; it must not block longer than a few milliseconds and must
    not allocate per call what it could reuse.
    """

    kind: InputKind

    @abc.abstractmethod
    def start(self) -> None:
        """Open the device runtime/session.

        Raises:
            teleop.exceptions.InputDeviceError: the runtime, an extension or a required
                device is missing; the message names the fix.
        """

    @abc.abstractmethod
    def stop(self) -> None:
        """Release the device; calling it twice, or before ``start``, is harmless."""

    @abc.abstractmethod
    def poll(self, frame: OperatorFrame) -> bool:
        """Fill ``frame`` in place with the newest sample, without blocking.

        Returns ``True`` if the sample is newer than the one of the previous call, ``False``
        otherwise (``frame`` then still holds the newest sample). After the session is lost
        it keeps filling ``frame`` with every validity flag ``False``.
        """

    @abc.abstractmethod
    def devices(self) -> list[DeviceInfo]:
        """The devices this source sees now (for ``psi-teleop devices``)."""

    @property
    @abc.abstractmethod
    def status(self) -> SourceStatus:
        """Life-cycle state of the source."""

    @property
    def lost(self) -> bool:
        """``True`` once the runtime went away mid-run (see :attr:`lost_reason`)."""
        return self.status is SourceStatus.LOST

    @property
    def lost_reason(self) -> str:
        """Why the source is lost and what to do, in operator words; empty if not lost."""
        return ""

    def __enter__(self) -> "InputSource":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_source(kind: InputKind | str, **options: Any) -> InputSource:
    """Construct the input source of ``kind``; ``options`` go to its constructor.

    Only the chosen backend's module is imported, so a missing optional extra (pyopenxr,
    xrobotoolkit-sdk) only matters when that backend is asked for.

    ============  ===============================================  ==========================
    kind          class                                            typical options
    ============  ===============================================  ==========================
    SCRIPTED      ``teleop.inputs.scripted.ScriptedOperator``      see that class
    REPLAY        ``teleop.inputs.replay.ReplaySource``            see that class
    OPENXR        ``teleop.inputs.openxr_backend.OpenXRSource``    ``config=OpenXRConfig(...)``
    PICO          ``teleop.inputs.pico.PicoSource``                ``config=PicoConfig(...)``
    ============  ===============================================  ==========================
    """
    kind = InputKind.parse(kind)
    if kind is InputKind.SCRIPTED:
        from teleop.inputs.scripted import ScriptedOperator

        return ScriptedOperator(**options)
    if kind is InputKind.REPLAY:
        from teleop.inputs.replay import ReplaySource

        return ReplaySource(**options)
    if kind is InputKind.OPENXR:
        from teleop.inputs.openxr_backend import OpenXRSource

        return OpenXRSource(**options)
    from teleop.inputs.pico import PicoSource

    return PicoSource(**options)
