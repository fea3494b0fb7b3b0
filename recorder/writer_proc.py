"""The recorder's writer process: ``python -m recorder.writer_proc CTRL_FD DATA_FD TELEOP_PID``.

Started by :class:`recorder.DatasetWriter` (process mode, the default for paths and URLs);
it records the dataset's episodes one after the other. For each ``("episode", location,
episode_id, layout, ring_name, config)`` message it maps the episode's ring from
``/dev/shm`` and runs :func:`recorder.sink.run_episode`. It ignores SIGINT and SIGTERM
(a Ctrl-C in the operator's terminal must not cut an episode short: the teleop process
finishes it) and exits when the teleop process says ``("exit",)`` or goes away — after
writing every row it was handed.
"""

from __future__ import annotations

import logging
import signal
import sys
from multiprocessing.connection import Connection


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ctrl = Connection(int(argv[0]))
    data = Connection(int(argv[1]), writable=False)
    teleop_pid = int(argv[2])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="recorder writer process: %(levelname)s %(name)s: %(message)s")
    import os

    from teleop import realtime

    # flushes must keep their deadline while other programs load the computer; the teleop
    # loop's SCHED_FIFO still comes first (and is never inherited: SCHED_RESET_ON_FORK)
    realtime.raise_niceness()

    import simplejpeg  # noqa: F401 - imported now, not on the first row
    import zarr

    from recorder.ring import Ring
    from recorder.sink import ctrl_send, run_episode, writer_info
    from recorder.store import open_store

    ctrl_send(ctrl, ("ready", os.getpid()))
    stores: dict[str, object] = {}
    while True:
        try:
            msg = ctrl.recv()
        except (EOFError, OSError):
            return 0
        if msg[0] == "exit":
            return 0
        if msg[0] != "episode":
            continue
        _, location, episode_id, layout, ring_name, cfg = msg
        ring = Ring.attach(layout, ring_name)
        group, open_error = None, None
        try:
            store = stores.get(location)
            if store is None:
                store = stores[location] = open_store(location)
            group = zarr.open_group(store, path=f"episodes/{episode_id}", mode="r+", zarr_format=3)
        except Exception as exc:  # noqa: BLE001 - run_episode reports it to the teleop side
            open_error = exc
        result = run_episode(group, layout, ring, cfg, data, ctrl, writer_info(teleop_pid), open_error)
        if result == "orphaned":
            ring.unlink()  # the teleop process cannot any more
            ring.close()
            return 0
        ring.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
