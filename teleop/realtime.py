"""Real-time settings for a control thread: SCHED_FIFO priority and a short GIL switch interval.

Two things make a Python control loop late on a busy computer, and both are fixed here:

* **The OS scheduler.** A thread at normal priority waits behind every other runnable
  process (a training job, a camera encoder, the simulator). Linux's ``SCHED_FIFO`` runs it
  as soon as it wakes. Setting it needs root or ``CAP_SYS_NICE``; without either the thread
  keeps normal priority and one log line says how to grant it.
* **The GIL.** A thread that wakes while another Python thread holds the interpreter lock
  waits up to the switch interval (CPython's default: 5 ms) before the holder is asked to
  let go. While a real-time thread runs, the interval is lowered (``switch_interval_s``) and
  restored afterwards.

The garbage collector is the third source of stalls: a full (generation-2) collection walks
every object of the process — pinocchio models, numpy arrays, imported modules — and took
70 ms in a teleop session. On entering, objects that exist are moved out of the collector's
reach (``gc.freeze``; without a collection first, which would itself hold the GIL for
60–90 ms while the robot link waits), so later collections only walk what the loop itself
allocates; they are handed back when the last real-time thread ends.

A fourth setting covers the other threads of a teleop process (the robot link's command
thread, CycloneDDS's receive threads, camera capture): a GIL holder that the OS preempts for
a batch job delays the control thread however high its own priority. :func:`raise_niceness`
lowers the nice value of the calling thread; Linux threads inherit it from the thread that
creates them, so calling it before the session opens its devices covers all of them.

Used by the teleop loop (:meth:`teleop.loop.TeleopLoop.run`), the policy runtime's control
thread (:class:`policies.runtime.RTCRuntime`) and the robot link's command thread, so they
all behave the same way.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import threading
from typing import Iterator

log = logging.getLogger(__name__)

#: Default SCHED_FIFO priority of a control thread (1..99; the kernel's own threads use 50).
DEFAULT_PRIORITY = 40
#: Nice value of a teleop session's threads (-20..19; 0 is a normal process).
DEFAULT_NICE = -10
#: GIL switch interval while a real-time thread runs [s].
DEFAULT_SWITCH_INTERVAL_S = 0.0005

_lock = threading.Lock()
_active = 0  # real-time threads running (the switch interval is restored when the last one ends)
_saved_interval = sys.getswitchinterval()


def raise_priority(priority: int, name: str = "control thread") -> bool:
    """Put the calling thread (``name``, for the log) under ``SCHED_FIFO`` at ``priority``; True on success.

    False where it is not allowed (logged once, with how to grant it) or ``priority`` is 0.
    """
    if priority <= 0 or not hasattr(os, "sched_setscheduler"):
        return False
    try:
        # pid 0: the calling thread; RESET_ON_FORK: a process it starts (the recorder's writer)
        # begins with normal scheduling instead of inheriting real-time priority
        policy = os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0)
        os.sched_setscheduler(0, policy, os.sched_param(priority))
    except OSError as exc:
        log.info("%s at normal priority (%s); run as root or grant CAP_SYS_NICE "
                 "(setcap cap_sys_nice+ep on the Python binary) for real-time scheduling, which keeps ticks "
                 "on time on a busy computer", name, exc)
        return False
    log.info("%s runs with real-time priority %d (SCHED_FIFO)", name, priority)
    return True


def raise_niceness(nice: int = DEFAULT_NICE) -> bool:
    """Set the calling thread's nice value to ``nice`` (negative = more CPU share); threads it creates inherit it.

    Returns whether it took; without the right (root or CAP_SYS_NICE) it logs how to grant it.
    """
    if not hasattr(os, "setpriority"):
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)  # Linux: the calling thread only
    except OSError as exc:
        log.info("teleop threads at normal CPU share (%s); grant CAP_SYS_NICE to raise it", exc)
        return False
    return True


def drop_priority() -> None:
    """Back to normal scheduling for the calling thread (no-op where unsupported)."""
    if hasattr(os, "sched_setscheduler"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


@contextlib.contextmanager
def realtime_thread(priority: int = DEFAULT_PRIORITY, switch_interval_s: float = DEFAULT_SWITCH_INTERVAL_S,
                    name: str = "control thread") -> Iterator[bool]:
    """Run the body with the calling thread real-time (see the module docstring); yields whether SCHED_FIFO took.

    ``priority`` 0 leaves the scheduler alone but still shortens the GIL switch interval.
    """
    global _active, _saved_interval
    with _lock:
        if _active == 0:
            _saved_interval = sys.getswitchinterval()
            gc.freeze()
        _active += 1
        sys.setswitchinterval(min(switch_interval_s, sys.getswitchinterval()))
    fifo = raise_priority(priority, name)
    try:
        yield fifo
    finally:
        if fifo:
            drop_priority()
        with _lock:
            _active -= 1
            if _active == 0:
                sys.setswitchinterval(_saved_interval)
                gc.unfreeze()
