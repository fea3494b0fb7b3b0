"""The sessions ``psi-teleop serve`` and ``psi-teleop console`` can run in their own process.

``none``: no session (the server only browses a dataset). ``sim``: the MuJoCo simulation
driven by the scripted operator through the real teleop loop, in real time on its own
thread, recording into ``--dataset`` — what an operator sees with a robot, without one.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from teleop.exceptions import ConfigError

if TYPE_CHECKING:
    from teleop.status import SessionControl

log = logging.getLogger(__name__)


class SessionKind(str, enum.Enum):
    """What ``--session`` accepts."""

    NONE = "none"  # no session: the server only browses a dataset
    SIM = "sim"  # MuJoCo simulation + scripted operator through the real teleop loop


#: Longest sleep of the real-time pacing hook [s] (keeps commands and stop requests responsive).
MAX_PACING_SLEEP_S = 0.05
#: Where a simulated session records when no dataset is given.
DEFAULT_SIM_DATASET = Path("data/sim-session")


@contextlib.contextmanager
def open_session(
    kind: "SessionKind | str",
    dataset: Path | None = None,
    task: str = "pick_place",
    cameras: tuple[str, ...] = ("head",),
    profiles_dir: Path | None = None,
) -> Iterator["SessionControl | None"]:
    """Yield a running session of ``kind`` (None for ``none``); closes it on exit.

    ``profiles_dir``: where ``select_calibration(name)`` finds profiles (default: the
    calibration package's directory).

    Raises:
        ConfigError: unknown ``kind``.
    """
    try:
        kind = SessionKind(kind)
    except ValueError:
        raise ConfigError(
            f"session kind '{kind}' is unknown; valid: {', '.join(k.value for k in SessionKind)}"
        ) from None
    if kind is SessionKind.NONE:
        yield None
        return
    session, pacer = _sim_session(dataset or DEFAULT_SIM_DATASET, task, cameras, profiles_dir)
    try:
        yield session
    finally:
        try:
            pacer.shutdown()
        finally:
            session.close()


class _RealTimePacer:
    """Tick hook of a lock-stepped simulated session: run the session's hook, then sleep until real time.

    It also ends the session on the loop thread: the simulation's OpenGL contexts belong to
    the thread that rendered with them, so they are released there before the loop stops.
    """

    def __init__(self, session_tick: Callable, sim) -> None:
        self._session_tick = session_tick
        self._sim = sim
        self._origin: tuple[float, float] | None = None  # (wall [s], sim [s]) at the first tick
        self._closing = threading.Event()
        self._closed = threading.Event()

    def __call__(self, running_loop) -> None:
        if self._closing.is_set():
            if not self._closed.is_set():
                self._sim.close()  # release the renderers on the thread that owns their contexts
                running_loop.request_stop()
                self._closed.set()
            return
        self._session_tick(running_loop)
        if self._origin is None:
            self._origin = (time.perf_counter(), self._sim.time)
        ahead_s = (self._sim.time - self._origin[1]) - (time.perf_counter() - self._origin[0])
        if ahead_s > 0:
            time.sleep(min(ahead_s, MAX_PACING_SLEEP_S))

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Ask the loop thread to release the renderers and stop; wait at most ``timeout_s`` [s]."""
        self._closing.set()
        if not self._closed.wait(timeout_s):
            log.warning("the simulated session did not stop within %.0f s; closing it anyway", timeout_s)


def _sim_session(
    dataset: Path, task: str, cameras: tuple[str, ...], profiles_dir: Path | None
) -> "tuple[SessionControl, _RealTimePacer]":
    """A simulated session running in real time on its own thread, recording into ``dataset``.

    Assembled by :func:`teleop.app.build_session` (the one place that wires input,
    calibration, IK, safety, robot and recorder) in lock-step mode, so the simulated cameras
    are rendered on simulation time; a pacing hook after each tick sleeps until the wall clock
    has caught up with the simulation clock, so the session runs at 1x real time like a robot
    would (or slower, never faster, when the machine cannot keep up).
    """
    from calibration import profiles_dir as default_profiles_dir
    from teleop.app import SessionOptions, build_session
    from ui.profiles import ProfileDirectory

    directory = default_profiles_dir(profiles_dir)
    opts = SessionOptions(input="scripted", robot="sim", task=task, dataset=str(dataset),
                          profiles_dir=str(directory), lockstep=True, cameras=tuple(cameras))
    session = build_session(opts)
    loop = session.loop
    profiles = ProfileDirectory(directory)  # JSON and YAML profiles, as the server lists them
    session.profile_loader = lambda name: _mapping(profiles.load(name))
    pacer = _RealTimePacer(loop.on_tick, loop.backend.sim)  # wraps the session's hook (commands, status)
    loop.on_tick = pacer
    loop.start()
    session.run_in_thread()
    log.info("simulated session running in real time: task %s, recording into %s", task, dataset)
    return session, pacer


def _mapping(profile):
    from calibration import OperatorToRobot

    return OperatorToRobot(profile)
