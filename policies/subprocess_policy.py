"""A chunk policy served from a child process.

Why: the RTC control thread and the inference share one Python interpreter lock (GIL).
Flow sampling runs many small torch calls from Python; on a loaded computer the OS can
pre-empt the inference thread while it holds the GIL, and the control thread then misses
its deadline however high its priority. Serving the policy from a child process leaves the
parent's inference thread blocked in a pipe read (GIL released) while the network runs,
so the control thread only ever waits for microseconds of pickling.

    with SubprocessPolicy(functools.partial(load_flow_policy, "runs/pick_place")) as policy:
        RTCRuntime(policy, backend, ...).run()
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections.abc import Callable

import numpy as np

from policies.exceptions import RuntimeFault
from policies.policy import ChunkPolicy, ChunkRequest, FlowPolicy, Observation

log = logging.getLogger(__name__)

#: How often a waiting call checks that the child is still alive [s].
_POLL_S = 0.5


def load_flow_policy(directory: str, device: str = "cpu", use_ema: bool = True) -> FlowPolicy:
    """Picklable factory of a checkpoint's :class:`FlowPolicy` (for :class:`SubprocessPolicy`)."""
    return FlowPolicy.load(directory, device=device, use_ema=use_ema)


def _serve(conn, factory: Callable[[], ChunkPolicy], threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        policy = factory()
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", int(policy.horizon), bool(policy.trained_with_prefix), tuple(policy.cameras)))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        obs, request = msg
        try:
            conn.send(("ok", np.asarray(policy.infer(obs, request), dtype=np.float64)))
        except Exception as exc:  # noqa: BLE001 - the runtime logs it and retries
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class SubprocessPolicy:
    """A :class:`ChunkPolicy` whose ``infer`` runs in a spawned child process.

    Args:
        factory: picklable callable that builds the policy in the child (e.g. ``functools.partial(load_flow_policy, dir)``).
        threads: torch threads in the child.
        start_timeout_s: longest wait for the child to load the policy [s].
        call_timeout_s: longest wait for one inference [s]; a longer one raises :class:`RuntimeFault`.
    """

    def __init__(self, factory: Callable[[], ChunkPolicy], threads: int = 1, start_timeout_s: float = 120.0,
                 call_timeout_s: float = 60.0):
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, factory, threads), name="policy-server", daemon=True)
        self._proc.start()
        child.close()
        self.call_timeout_s = call_timeout_s
        msg = self._wait(start_timeout_s, "loading the policy")
        if msg[0] != "ready":
            self.close()
            raise RuntimeFault(f"the policy process could not load the policy: {msg[1]}")
        _, self.horizon, self.trained_with_prefix, self.cameras = msg

    def _wait(self, timeout_s: float, what: str):
        waited = 0.0
        while not self._conn.poll(_POLL_S):
            waited += _POLL_S
            if not self._proc.is_alive():
                raise RuntimeFault(f"the policy process exited (code {self._proc.exitcode}) while {what}")
            if waited >= timeout_s:
                raise RuntimeFault(f"the policy process did not answer within {timeout_s:.0f} s while {what}")
        return self._conn.recv()

    def infer(self, obs: Observation, request: ChunkRequest) -> np.ndarray:
        self._conn.send((obs, request))
        msg = self._wait(self.call_timeout_s, "computing a chunk")
        if msg[0] != "ok":
            raise RuntimeFault(f"policy inference failed in the policy process: {msg[1]}")
        return msg[1]

    def close(self) -> None:
        """Stop the child process (waits up to 5 s, then terminates it)."""
        if self._proc.is_alive():
            try:
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._proc.join(timeout=5.0)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(timeout=5.0)
        self._conn.close()

    def __enter__(self) -> "SubprocessPolicy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
