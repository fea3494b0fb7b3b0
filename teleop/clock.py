"""The one clock of the process.

Every timestamp psi-teleop stores or compares (OperatorFrame stamps, robot state, camera
acquisition, recorder rows) comes from :func:`now`, a monotonic clock in seconds. Wall-clock
time appears only in human-facing metadata (episode creation date).
"""

from __future__ import annotations

import time

#: Monotonic seconds since an arbitrary origin, shared by every thread of the process.
now = time.monotonic


def sleep_until(deadline: float) -> float:
    """Sleep until the monotonic time ``deadline`` [s]; return the lateness [s] (>= 0).

    Sleeps coarsely, then spins for the last half millisecond, so a loop scheduled against
    absolute deadlines wakes within tens of microseconds of them without drifting.
    """
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0.0:
            return -remaining
        if remaining > 0.0015:
            time.sleep(remaining - 0.001)
        elif remaining > 0.0005:
            time.sleep(0.0)
