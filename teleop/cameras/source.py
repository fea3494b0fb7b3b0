"""CameraSource: one camera, its own capture thread, and a latest-frame slot.

Every source runs the same loop in its own daemon thread::

    open()  ── fails ──► state FAILED (message says what to do), retry after a back-off
      │
    read() ── frame ──► latest slot (replaced under a lock; no queue, so nothing grows)
      │   └─ nothing for stale_after_s ──► state STALLED (reported), keep reading
      └── raises ──► close(), state FAILED, reopen after a back-off

Readers never block on the camera: :meth:`CameraSource.latest` returns the newest frame
(or None), :meth:`CameraSource.fresh` only a frame younger than ``stale_after_s``, and
:meth:`CameraSource.wait_frame` waits, with a timeout, for a frame newer than one it saw.

A frame's ``stamp`` is its acquisition time on :func:`teleop.clock.now` (the device's
capture time where it gives one, converted to that clock; otherwise the arrival time minus
``CameraConfig.latency_s``), not the time a reader picked it up.
"""

from __future__ import annotations

import abc
import enum
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from teleop import clock
from teleop.cameras.config import CameraConfig
from teleop.cameras.exceptions import CameraError

log = logging.getLogger(__name__)

#: First and longest wait before reopening a failed camera [s] (doubles in between).
REOPEN_BACKOFF_S = (0.5, 5.0)
#: Smoothing of the measured frame rate (weight of the newest interval).
_RATE_ALPHA = 0.1


class CameraState(enum.Enum):
    """What a camera is doing, as the console and the logs show it."""

    IDLE = "idle"  # not started
    OPENING = "opening"  # opening the device, no frame yet
    STREAMING = "streaming"  # frames arrive
    STALLED = "stalled"  # open, but no frame for longer than stale_after_s
    FAILED = "failed"  # cannot be opened or broke; retrying
    STOPPED = "stopped"


@dataclass(frozen=True)
class CameraFrame:
    """One captured frame.

    Attributes:
        image: (H, W, 3) uint8 RGB, read-only (shared between readers without copies).
        stamp: acquisition time on :func:`teleop.clock.now` [s].
        seq: frame number of this source, from 1.
        arrival: when the capture thread had the frame [s] (``arrival - stamp`` is the
            transport delay where the device gives a capture time).
        depth: (H, W) uint16 depth [mm] aligned to ``image``, or None.
    """

    image: np.ndarray
    stamp: float  # [s]
    seq: int
    arrival: float  # [s]
    depth: np.ndarray | None = None  # [mm]


@dataclass(frozen=True)
class CameraHealth:
    """A camera as the status shows it (a light and a line in the console)."""

    name: str
    kind: str
    state: CameraState
    rate_hz: float  # [Hz] measured frame rate
    age_s: float  # [s] since the newest frame's acquisition (inf: none yet)
    frames: int  # frames captured since start
    message: str  # what is wrong and what to do, or the device description


class CameraSource(abc.ABC):
    """Base of every camera source; subclasses implement :meth:`_open`, :meth:`_read`, :meth:`_close`.

    ``_read`` returns ``(image, stamp, depth)`` or None when no frame came within its own
    short timeout; it must never block for longer than about ``stale_after_s``.
    Sources whose ``_read`` does not block on a device (simulation, video files) set
    ``paced = True`` and the loop spaces reads at ``1 / CameraConfig.fps``.
    """

    paced = False

    def __init__(self, config: CameraConfig):
        self.config = config
        self._lock = threading.Condition(threading.Lock())
        self._latest: CameraFrame | None = None
        self._state = CameraState.IDLE
        self._message = ""
        self._frames = 0
        self._mean_dt = 0.0  # [s]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._opened = threading.Event()  # first frame or first failure

    # -- public ---------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config.name

    @property
    def state(self) -> CameraState:
        return self._state

    def start(self, wait: bool = False) -> None:
        """Start the capture thread; with ``wait``, block until the first frame (``open_timeout_s``).

        Raises:
            CameraError: with ``wait``, the camera failed to open or sent nothing in time
                (the thread keeps retrying; call :meth:`stop` to give up).
        """
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._opened.clear()
            self._set_state(CameraState.OPENING, "")
            self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
            self._thread.start()
        if not wait:
            return
        got = self._opened.wait(self.config.open_timeout_s)
        if self._state is CameraState.FAILED:
            raise self._failure or CameraError(f"camera '{self.name}' failed: {self._message}")
        if not got or self._latest is None:
            raise CameraError(
                f"camera '{self.name}' ({self.describe()}) sent no frame within {self.config.open_timeout_s:.1f} s; "
                "check that it is connected and streaming, or raise open_timeout_s"
            )

    def stop(self, timeout: float = 3.0) -> None:
        """Stop the capture thread and close the device (waits at most ``timeout`` [s])."""
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
            if t.is_alive():
                log.warning("camera '%s' did not stop within %.1f s (a driver call is blocking)", self.name, timeout)
        self._set_state(CameraState.STOPPED, "")

    def latest(self) -> CameraFrame | None:
        """The newest frame, however old (None before the first)."""
        return self._latest

    def fresh(self, now: float | None = None) -> CameraFrame | None:
        """The newest frame if younger than ``stale_after_s`` at ``now`` [s], else None."""
        f = self._latest
        if f is None:
            return None
        now = clock.now() if now is None else now
        return f if now - f.stamp <= self.config.stale_after_s else None

    def wait_frame(self, after_seq: int = 0, timeout: float = 1.0) -> CameraFrame | None:
        """Wait at most ``timeout`` [s] for a frame with ``seq > after_seq``; None on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._latest is None or self._latest.seq <= after_seq:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    return None
                self._lock.wait(remaining)
            return self._latest

    def health(self, now: float | None = None) -> CameraHealth:
        now = clock.now() if now is None else now
        f = self._latest
        age = now - f.stamp if f is not None else float("inf")
        state, message = self._state, self._message
        if state is CameraState.STREAMING and age > self.config.stale_after_s:
            state = CameraState.STALLED
            message = f"no frame for {age:.1f} s"
        rate = 1.0 / self._mean_dt if self._mean_dt > 0 else 0.0
        return CameraHealth(self.name, self.config.kind.value, state, rate, age, self._frames,
                            message or self.describe())

    def describe(self) -> str:
        """The device in words (for logs and errors)."""
        return f"{self.config.kind.value} {self.config.device}".strip()

    # -- subclass hooks -------------------------------------------------------------------------
    @abc.abstractmethod
    def _open(self) -> None:
        """Open the device (raise CameraError with the fix when it cannot be opened)."""

    @abc.abstractmethod
    def _read(self) -> tuple[np.ndarray, float, np.ndarray | None] | None:
        """The next frame as ``(RGB image, stamp [s], depth or None)``, or None after a short timeout."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release the device (called from the capture thread; must not raise)."""

    # -- the capture thread ---------------------------------------------------------------------
    _failure: CameraError | None = None

    def _set_state(self, state: CameraState, message: str) -> None:
        if state is not self._state:
            if state in (CameraState.FAILED, CameraState.STALLED):
                log.warning("camera '%s' %s: %s", self.name, state.value, message)
            elif state is CameraState.STREAMING and self._state in (CameraState.FAILED, CameraState.STALLED):
                log.info("camera '%s' is streaming again", self.name)
        self._state, self._message = state, message

    def _publish(self, image: np.ndarray, stamp: float, depth: np.ndarray | None, arrival: float) -> None:
        image.flags.writeable = False
        if depth is not None:
            depth.flags.writeable = False
        with self._lock:
            prev = self._latest
            self._frames += 1
            self._latest = CameraFrame(image, stamp, self._frames, arrival, depth)
            if prev is not None and stamp > prev.stamp:
                dt = stamp - prev.stamp
                a = max(_RATE_ALPHA, 1.0 / self._frames)
                self._mean_dt = dt if self._mean_dt == 0 else self._mean_dt + a * (dt - self._mean_dt)
            self._lock.notify_all()

    def _run(self) -> None:
        backoff = REOPEN_BACKOFF_S[0]
        while not self._stop.is_set():
            try:
                self._open()
            except Exception as exc:  # noqa: BLE001 - any driver failure: report, retry
                self._fail(exc, "cannot be opened")
                if self._stop.wait(backoff):
                    break
                backoff = min(2 * backoff, REOPEN_BACKOFF_S[1])
                continue
            backoff = REOPEN_BACKOFF_S[0]
            try:
                self._stream()
            except Exception as exc:  # noqa: BLE001
                self._fail(exc, "stopped delivering frames")
                self._stop.wait(backoff)
            finally:
                try:
                    self._close()
                except Exception as exc:  # noqa: BLE001
                    log.debug("camera '%s': close failed: %s", self.name, exc)
        self._opened.set()
        with self._lock:
            self._lock.notify_all()

    def _fail(self, exc: Exception, what: str) -> None:
        err = exc if isinstance(exc, CameraError) else CameraError(
            f"camera '{self.name}' ({self.describe()}) {what}: {type(exc).__name__}: {exc}")
        self._failure = err
        self._set_state(CameraState.FAILED, str(err))
        self._opened.set()

    def _stream(self) -> None:
        period = 1.0 / self.config.fps
        next_read = clock.now()
        last_frame = clock.now()
        while not self._stop.is_set():
            if self.paced:
                delay = next_read - clock.now()
                if delay > 0 and self._stop.wait(delay):
                    break
                next_read += period
                if next_read < clock.now() - period:  # fell behind (slow render): do not burst
                    next_read = clock.now()
            got = self._read()
            now = clock.now()
            if got is None:
                if now - last_frame > self.config.stale_after_s:
                    self._set_state(CameraState.STALLED, f"no frame for {now - last_frame:.1f} s from {self.describe()}")
                continue
            image, stamp, depth = got
            last_frame = now
            self._publish(image, stamp, depth, now)
            self._failure = None
            if self._state is not CameraState.STREAMING:
                self._set_state(CameraState.STREAMING, "")
            self._opened.set()
