"""The one clock of the process.

Every timestamp psi-teleop stores or compares (OperatorFrame stamps, robot state, camera
acquisition, recorder rows) comes from :func:`now`, a monotonic clock in seconds. Wall-clock
time appears only in human-facing metadata (episode creation date).
"""

from __future__ import annotations

import time

#: Monotonic seconds since an arbitrary origin, shared by every thread of the process.
now = time.monotonic


def sleep_until(deadline: float, spin: bool = True) -> float:
    """Sleep until the monotonic time ``deadline`` [s]; return the lateness [s] (>= 0).

    With ``spin`` (control loops), it sleeps coarsely, then spins for the last half
    millisecond, so a loop scheduled against absolute deadlines wakes within tens of
    microseconds of them without drifting. The spin holds the CPU and the GIL; background
    threads that can live with the OS's wake-up jitter (~0.1 ms: DDS command publishing, a
    simulator) pass ``spin=False`` and just sleep.
    """
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0.0:
            return -remaining
        if not spin:
            time.sleep(remaining)
        elif remaining > 0.0015:
            time.sleep(remaining - 0.001)
        elif remaining > 0.0005:
            time.sleep(0.0)
