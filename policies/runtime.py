"""The real-time-chunking (RTC) runtime: a control thread that never blocks and an inference thread.

    control thread, every T = 1/30 s                      inference thread
    ─────────────────────────────────                     ────────────────
    take a finished chunk if there is one  ◄───result───  policy.infer(obs, request)
    start the next inference when due     ───request───►  (flow sampling, 10-100 ms+)
    action = current chunk at this tick (or hold)
    backend.apply_action(action); [backend.step(T) when lock-stepped]

Chunk timing. A request made at tick k observes the robot at tick k; index j of the new
chunk is the action for tick k + j r (r: playback slow-down factor, 1 normally). While the
inference runs the robot keeps executing the current chunk, so the first d actions of the
new chunk are already committed: they are sent with the request as the **prefix** (the
current chunk resampled at ticks k .. k + (d-1) r). d = ceil(latency / T / r) is estimated
from the largest of the recent measured latencies (the first, cold-start inference is not
counted), at least ``min_delay`` (2) so that a new chunk keeps to the plan it replaces,
and capped so that it never exceeds the overlap with the current chunk nor leaves fewer
than ``min_execution_horizon`` new actions. When the result arrives at tick k', the
runtime skips exactly the (k' - k) / r actions whose time has passed: never more than were
consumed meanwhile, whatever d was.

Consistency between chunks (:class:`RTCMode`): PREFIX writes the committed actions into
the first d tokens at flow time 1 (for checkpoints trained with training-time RTC);
INPAINT guides the sampling towards the current chunk with a soft mask and a clamped
guidance weight (any checkpoint); NAIVE does neither (a baseline).

When is the next inference started? After a switch, as soon as ``since_switch + d >= s_min r``,
so each chunk runs at least ``min_execution_horizon`` (s_min) actions and, with long
latencies, inferences run back to back. A chunk that arrives earlier than that (the delay
was over-estimated) waits until s_min actions of the current one have run.

Switch blending. For ``switch_blend`` ticks after a switch (RTC modes only) the action is
a linear cross-fade from the previous chunk to the new one, w = (i + 1) / (switch_blend + 1)
at the i-th tick: both are plans for the same ticks, so this only spreads what is left of
the discontinuity.

Degradation. If a chunk runs out before the next one arrives the runtime **holds** its last
action (the robot stops where the plan ends) and says so; if the latency keeps exceeding
what a chunk covers ((H - s_min) T) it **slows the playback** (each action lasts r ticks,
interpolated, r <= ``max_slowdown``) and speeds up again once inference keeps up. A failed
inference is logged and retried; the runtime never exits on its own.

Every tick is logged (tick, time, lateness, loop compute time, chunk index, action source,
delay estimate, slow-down, inference in flight) into :attr:`RuntimeReport.log` and, when a
path is given, into a ``.npz`` file written after the run (nothing is written on the loop).
"""

from __future__ import annotations

import enum
import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from policies.clocks import ControlClock, LatencyModel, MeasuredLatency, RealTimeClock
from policies.config import RTCConfig, RTCMode
from policies.exceptions import RuntimeFault
from policies.policy import ChunkPolicy, ChunkRequest, Observation
from teleop import realtime
from teleop.exceptions import ConfigError
from teleop.robot import g1
from teleop.robot.backend import RobotBackend, RobotState

log = logging.getLogger(__name__)

#: GIL switch interval while a real-time run is on [s] (CPython's default is 5 ms): a tick
#: that wakes while the inference thread runs Python code waits at most about this long.
_GIL_SWITCH_S = 0.001


class ActionSource(enum.IntEnum):
    """Where the action of a tick came from (the tick log stores the integer)."""

    HOLD_START = 0  # no chunk yet: hold the measured pose
    CHUNK = 1  # the current chunk
    HOLD_STARVED = 2  # the chunk ran out before the next arrived: hold its last action
    HOLD_SYNC = 3  # synchronous baseline: holding while the next chunk is computed
    HOLD_INVALID = 4  # the policy produced NaN: hold the previous action


#: One row of the per-tick timing log.
TICK_LOG_DTYPE = np.dtype([
    ("tick", np.int64), ("t", np.float64), ("lateness", np.float64), ("loop_s", np.float64),
    ("index", np.float64), ("source", np.int8), ("delay", np.int16), ("slowdown", np.int8), ("inflight", np.bool_),
])


@dataclass
class TickInfo:
    """What the control thread did at one tick (handed to ``on_tick``; valid during the call only)."""

    tick: int
    t: float  # [s] on the runtime's clock
    state: RobotState
    state_vector: np.ndarray  # (32,)
    action: np.ndarray  # (36,)
    source: ActionSource


@dataclass
class RuntimeReport:
    """Statistics of a run, and the per-tick log."""

    ticks: int = 0
    missed_ticks: int = 0  # ticks that started more than one period late (real-time clock)
    max_lateness_s: float = 0.0
    starved_ticks: int = 0
    chunks: int = 0
    stale_chunks: int = 0
    failed_inferences: int = 0
    invalid_actions: int = 0
    max_slowdown: int = 1
    latencies_s: list[float] = field(default_factory=list)
    switch_ticks: list[int] = field(default_factory=list)
    log: np.ndarray = field(default_factory=lambda: np.zeros(0, TICK_LOG_DTYPE))

    def summary(self) -> dict[str, float]:
        lat = np.asarray(self.latencies_s[1:] or self.latencies_s or [np.nan]) * 1e3
        return {
            "ticks": self.ticks, "missed_ticks": self.missed_ticks, "max_lateness_ms": self.max_lateness_s * 1e3,
            "starved_ticks": self.starved_ticks, "chunks": self.chunks, "stale_chunks": self.stale_chunks,
            "failed_inferences": self.failed_inferences, "max_slowdown": self.max_slowdown,
            "latency_median_ms": float(np.median(lat)), "latency_max_ms": float(np.max(lat)),
        }


class DelayEstimator:
    """d = max(min_ticks, ceil(max of the last ``window`` latencies / T)) [ticks]; the first (cold-start) latency is not used.

    d is at least 1: a chunk requested at tick k is used at tick k + 1 at the earliest, so the
    action of tick k always comes from the current chunk and belongs to the committed prefix.
    ``min_ticks`` (``RTCConfig.min_delay``) can ask for a longer prefix than the latency needs.
    """

    def __init__(self, window: int, period: float, initial_ticks: int, min_ticks: int = 1):
        self._recent: deque[float] = deque(maxlen=window)
        self._period = period
        self._initial = initial_ticks
        self._min = max(1, min_ticks)
        self._seen = 0

    def add(self, latency_s: float) -> None:
        self._seen += 1
        if self._seen > 1:
            self._recent.append(latency_s)

    def latency(self) -> float | None:
        """Largest recent latency [s], None before the first warm measurement."""
        return max(self._recent) if self._recent else None

    def ticks(self) -> int:
        lat = self.latency()
        return self._initial if lat is None else max(self._min, int(math.ceil(lat / self._period - 1e-9)))


@dataclass
class _Request:
    index: int
    tick: int
    t: float  # [s] clock time of the request
    real_t: float  # [s] perf_counter of the request
    slowdown: int
    delay: int
    obs: Observation
    chunk_request: ChunkRequest


@dataclass
class _Result:
    request: _Request
    chunk: np.ndarray | None
    compute_s: float
    done_t: float  # [s] clock time when finished (real-time clock)
    error: BaseException | None = None
    ready_t: float = 0.0  # [s] clock time from which the chunk may be used


def sample_chunk_at(chunk: np.ndarray, p: float) -> np.ndarray:
    """Linear interpolation of ``chunk`` (H, A) at fractional index ``p`` (clamped to [0, H-1])."""
    H = len(chunk)
    p = min(max(p, 0.0), H - 1.0)
    i = int(p)
    f = p - i
    if f == 0.0 or i >= H - 1:
        return chunk[i]
    return chunk[i] * (1.0 - f) + chunk[i + 1] * f


def hold_action(state: RobotState) -> np.ndarray:
    """The 36-value action that holds the measured arms and hands and the last lower-body command (standing still)."""
    emb = g1.load_embodiment()
    lower = np.array(state.lower_body_cmd, dtype=float)
    lower[4:7] = 0.0  # vx, vy, vyaw: stand still
    return g1.pack_action(state.q[emb.indices(g1.HAND_JOINTS)], state.q[emb.indices(g1.ARM_JOINTS)], lower)


class RTCRuntime:
    """Run a chunking policy on a robot backend at a fixed control rate with real-time chunking.

    Args:
        policy: produces (H, 36) chunks (:class:`policies.policy.ChunkPolicy`).
        backend: any started :class:`RobotBackend` (simulation or DDS link).
        config: rates, RTC mode and limits.
        clock: :class:`RealTimeClock` (default) or :class:`SteppedClock` for a lock-stepped simulation.
        latency: inference latency model (default: measured).
        instruction: the language instruction given to the policy.
        observe: builds the observation from the measured state at request time (default:
            state vector + instruction; pass one that adds camera images when the policy needs them).
        on_tick: called in the control thread after each tick (recording); must not block.
        log_path: where to write the per-tick log (``.npz``) after the run.
        on_exit: called in the control thread after its last tick, to release resources bound
            to that thread (the OpenGL context of simulated cameras).
    """

    def __init__(self, policy: ChunkPolicy, backend: RobotBackend, config: RTCConfig | None = None,
                 clock: ControlClock | None = None, latency: LatencyModel | None = None, instruction: str = "",
                 observe: Callable[[RobotState], Observation] | None = None,
                 on_tick: Callable[[TickInfo], None] | None = None, log_path: Path | None = None,
                 on_exit: Callable[[], None] | None = None):
        self.policy = policy
        self.backend = backend
        self.config = config or RTCConfig()
        self.clock = clock or RealTimeClock()
        self.latency = latency or MeasuredLatency()
        self.instruction = instruction
        self.observe = observe or (lambda s: Observation(state=s.state_vector(), instruction=instruction, stamp=s.stamp))
        self.on_tick = on_tick
        self.log_path = Path(log_path) if log_path else None
        self.on_exit = on_exit
        self.horizon = int(policy.horizon)
        cfg = self.config
        if cfg.min_execution_horizon >= self.horizon:
            raise ConfigError(
                f"RTCConfig.min_execution_horizon={cfg.min_execution_horizon} must be below the chunk length {self.horizon}"
            )
        mode = cfg.mode or (RTCMode.PREFIX if policy.trained_with_prefix else RTCMode.INPAINT)
        if mode is RTCMode.PREFIX and not policy.trained_with_prefix:
            raise ConfigError(
                "RTC mode 'prefix' needs a checkpoint trained with training-time RTC (psi-teleop train --max-delay > 1); "
                "use mode 'inpaint' for this checkpoint"
            )
        self.mode = mode
        self._lo, self._hi = g1.load_embodiment().action_limits()
        self._requests: queue.Queue[_Request] = queue.Queue(maxsize=1)
        self._done = threading.Event()
        self._result_lock = threading.Lock()
        self._result: _Result | None = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ public
    def request_stop(self) -> None:
        """Ask the control thread to finish its current tick and stop (thread-safe)."""
        self._stop.set()

    def run(self, max_ticks: int | None = None, stop_when: Callable[[int], bool] | None = None) -> RuntimeReport:
        """Run until ``max_ticks`` ticks, ``stop_when(tick)`` is true, or :meth:`request_stop`.

        The control loop runs in its own thread and the inference in another; this call
        waits for both (with timeouts) and returns the report.
        """
        report = RuntimeReport()
        worker = threading.Thread(target=self._worker, name="rtc-inference", daemon=True)
        errors: list[BaseException] = []

        def control() -> None:
            try:
                if self.clock.lock_stepped:
                    self._control(report, max_ticks, stop_when)
                    return
                # SCHED_FIFO, short GIL switch interval, garbage collector kept off (teleop.realtime)
                with realtime.realtime_thread(self.config.realtime_priority, _GIL_SWITCH_S, "RTC control thread"):
                    self._control(report, max_ticks, stop_when)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                errors.append(exc)
                self._stop.set()

        ctrl = threading.Thread(target=control, name="rtc-control", daemon=True)
        worker.start()
        ctrl.start()
        try:
            while ctrl.is_alive():
                ctrl.join(timeout=0.2)
        except KeyboardInterrupt:
            self._stop.set()
            ctrl.join(timeout=5.0)
            raise
        finally:
            self._stop.set()
            worker.join(timeout=self.config.chunk_timeout_s)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(self.log_path, log=report.log, latencies_s=np.asarray(report.latencies_s),
                     switch_ticks=np.asarray(report.switch_ticks))
        if errors:
            raise errors[0]
        return report

    # ------------------------------------------------------------------ inference thread
    def _worker(self) -> None:
        while not self._stop.is_set():
            try:
                req = self._requests.get(timeout=0.05)
            except queue.Empty:
                continue
            t0 = time.perf_counter()
            chunk, error = None, None
            try:
                chunk = np.asarray(self.policy.infer(req.obs, req.chunk_request), dtype=np.float64)
                if chunk.shape != (self.horizon, g1.ACTION_DIM):
                    raise RuntimeFault(f"the policy returned a chunk of shape {chunk.shape}, "
                                       f"expected ({self.horizon}, {g1.ACTION_DIM})")
            except Exception as exc:  # noqa: BLE001 - reported by the control thread, which holds
                error = exc
            compute = time.perf_counter() - t0
            planned = self.latency.planned(req.index)
            if planned is not None and not self.clock.lock_stepped:
                self._stop.wait(max(0.0, planned - (time.perf_counter() - t0)))  # injected latency, real time
            res = _Result(req, chunk, compute, self.clock.now() if not self.clock.lock_stepped else 0.0, error)
            with self._result_lock:
                self._result = res
            self._done.set()

    def _take_result(self) -> _Result:
        with self._result_lock:
            res, self._result = self._result, None
        self._done.clear()
        return res

    # ------------------------------------------------------------------ control thread
    def _control(self, report: RuntimeReport, max_ticks: int | None, stop_when) -> None:
        cfg, clock, backend = self.config, self.clock, self.backend
        H, T = self.horizon, cfg.period
        s_min = cfg.min_execution_horizon
        sync_h = cfg.execution_horizon or H // 2
        estimator = DelayEstimator(cfg.latency_window, T, cfg.initial_delay, cfg.min_delay)
        blocks: list[np.ndarray] = []
        row_block = np.zeros(4096, TICK_LOG_DTYPE)
        n_in_block = 0
        chunk: np.ndarray | None = None
        prev: tuple[np.ndarray, int, int] | None = None  # the chunk before the last switch, (chunk, k0, r)
        k0, r_cur, switch_tick = 0, 1, 0
        slowdown, ok_streak = 1, 0
        starving = False
        starved_this_chunk = False
        inflight: _Request | None = None
        ready: _Result | None = None
        n_requests = 0
        state = backend.read_state()
        last_action = hold_action(state)
        start_action = last_action.copy()
        t0 = clock.now()
        k = 0
        try:
            while not self._stop.is_set() and (max_ticks is None or k < max_ticks):
                deadline = t0 + k * T
                lateness = clock.sleep_until(deadline)
                loop_start = time.perf_counter()
                if lateness > T and not clock.lock_stepped:
                    report.missed_ticks += int(lateness // T)
                    t0 += (lateness // T) * T  # realign the schedule instead of bursting to catch up
                report.max_lateness_s = max(report.max_lateness_s, lateness)
                now = clock.now()
                # ---- 1. collect a finished inference
                if inflight is not None and ready is None:
                    res = self._poll(inflight, now)
                    if res is not None:
                        ready, inflight = res, None
                min_run_done = chunk is None or cfg.synchronous or (k - switch_tick) >= s_min * r_cur
                if ready is not None and ready.ready_t <= now + 1e-9 and min_run_done:
                    res, ready = ready, None
                    req = res.request
                    if res.error is not None or res.chunk is None:
                        report.failed_inferences += 1
                        log.error("policy inference failed (%s); holding and retrying", res.error)
                    else:
                        latency = res.ready_t - req.t
                        report.latencies_s.append(latency)
                        estimator.add(latency)
                        if not np.all(np.isfinite(res.chunk)):
                            report.invalid_actions += 1
                            log.error("the policy returned NaN actions; ignoring that chunk")
                        else:
                            p_new = 0.0 if cfg.synchronous else (k - req.tick) / req.slowdown
                            if not cfg.synchronous:
                                slowdown, ok_streak = self._adapt_slowdown(
                                    estimator, slowdown, ok_streak, starved_this_chunk, H, s_min, T)
                                report.max_slowdown = max(report.max_slowdown, slowdown)
                            if chunk is not None and p_new > H - 1:
                                report.stale_chunks += 1
                                log.warning("a chunk arrived %.0f ms after its request, after its last action; "
                                            "dropped it", latency * 1e3)
                            else:
                                if chunk is not None and not cfg.synchronous and self.mode is not RTCMode.NAIVE:
                                    prev = (chunk, k0, r_cur)  # cross-faded into the new chunk (below)
                                else:
                                    prev = None
                                chunk = res.chunk
                                k0 = k if cfg.synchronous else req.tick
                                r_cur = 1 if cfg.synchronous else req.slowdown
                                switch_tick = k
                                starved_this_chunk = False
                                report.chunks += 1
                                report.switch_ticks.append(k)
                # ---- 2. start the next inference when due
                p = (k - k0) / r_cur if chunk is not None else 0.0
                d_est = estimator.ticks()
                if inflight is None and ready is None and not self._stop.is_set():
                    if chunk is None:
                        due = True
                    elif cfg.synchronous:
                        due = p >= sync_h
                    else:
                        due = (k - switch_tick) + d_est >= s_min * r_cur or p + d_est / r_cur >= H - 1
                    if due:
                        state = backend.read_state()
                        inflight = self._make_request(n_requests, k, now, state, chunk, k0, r_cur, slowdown,
                                                      d_est, s_min)
                        n_requests += 1
                        self._requests.put_nowait(inflight)
                # ---- 3. the action of this tick
                if chunk is None:
                    action, source = start_action, ActionSource.HOLD_START
                elif cfg.synchronous and p >= sync_h:
                    action, source = last_action, ActionSource.HOLD_SYNC
                elif p > H - 1:
                    action, source = chunk[H - 1], ActionSource.HOLD_STARVED
                else:
                    action, source = sample_chunk_at(chunk, p), ActionSource.CHUNK
                    blend_i = k - switch_tick
                    if prev is not None and blend_i < cfg.switch_blend:
                        p_prev = (k - prev[1]) / prev[2]
                        if p_prev <= H - 1:
                            w = (blend_i + 1) / (cfg.switch_blend + 1)
                            action = (1.0 - w) * sample_chunk_at(prev[0], p_prev) + w * action
                if source is ActionSource.HOLD_STARVED:
                    report.starved_ticks += 1
                    starved_this_chunk = True
                    if not starving:
                        lat = estimator.latency()
                        log.warning(
                            "policy inference (%s) is slower than a chunk allows (%.0f ms at %.0f Hz): "
                            "holding the last action until the next chunk arrives",
                            f"{lat * 1e3:.0f} ms" if lat is not None else "first inference",
                            (H - s_min) * T * r_cur * 1e3, cfg.control_hz,
                        )
                        starving = True
                elif source is ActionSource.CHUNK and starving:
                    log.info("policy chunks arrive in time again; moving")
                    starving = False
                if not np.all(np.isfinite(action)):
                    report.invalid_actions += 1
                    action, source = last_action, ActionSource.HOLD_INVALID
                action = np.clip(action, self._lo, self._hi)
                backend.apply_action(action)
                last_action = action
                if clock.lock_stepped:
                    backend.step(T)
                # ---- 4. log the tick
                row = row_block[n_in_block]
                row["tick"], row["t"], row["lateness"] = k, now, lateness
                row["loop_s"] = time.perf_counter() - loop_start
                row["index"], row["source"], row["delay"] = p, int(source), d_est
                row["slowdown"], row["inflight"] = r_cur, inflight is not None
                n_in_block += 1
                if n_in_block == len(row_block):
                    blocks.append(row_block)
                    row_block, n_in_block = np.zeros(4096, TICK_LOG_DTYPE), 0
                if self.on_tick is not None:
                    st = backend.read_state()
                    self.on_tick(TickInfo(k, now, st, st.state_vector(), action, source))
                k += 1
                report.ticks = k
                if stop_when is not None and stop_when(k):
                    break
        finally:
            blocks.append(row_block[:n_in_block])
            report.log = np.concatenate(blocks)
            if self.on_exit is not None:
                self.on_exit()

    def _poll(self, req: _Request, now: float) -> _Result | None:
        """The finished inference of ``req`` if there is one (never waits on a real-time clock)."""
        if not self._done.is_set() and self.clock.lock_stepped:
            planned = self.latency.planned(req.index)
            if planned is not None:
                if now >= req.t + planned - 1e-9:
                    self._wait_done(req)
            else:  # measured latency: virtual time may not outrun the real inference time
                remaining = (now - req.t) - (time.perf_counter() - req.real_t)
                if remaining > 0:
                    self._done.wait(timeout=remaining)
        if not self._done.is_set():
            return None
        res = self._take_result()
        if self.clock.lock_stepped:
            planned = self.latency.planned(req.index)
            res.ready_t = req.t + (planned if planned is not None else res.compute_s)
        else:
            res.ready_t = res.done_t
        return res

    def _wait_done(self, req: _Request) -> None:
        """Lock-stepped only: the simulation waits for an inference that is due (simulated time is paused)."""
        while not self._done.wait(timeout=self.config.chunk_timeout_s):
            if self._stop.is_set():
                return
            log.warning("inference %d has run for more than %.1f s; the simulation waits for it",
                        req.index, time.perf_counter() - req.real_t)

    def _make_request(self, index: int, k: int, now: float, state: RobotState, chunk, k0: int, r_cur: int,
                      slowdown: int, d_est: int, s_min: int) -> _Request:
        cfg, H = self.config, self.horizon
        obs = self.observe(state)
        seed = cfg.seed * 100_003 + index
        if chunk is None or cfg.synchronous or self.mode is RTCMode.NAIVE:
            creq = ChunkRequest(RTCMode.NAIVE, steps=cfg.denoise_steps, seed=seed)
            return _Request(index, k, now, time.perf_counter(), slowdown, 0, obs, creq)
        from policies.flow import soft_mask

        positions = (k + np.arange(H) * slowdown - k0) / r_cur
        guide = np.stack([sample_chunk_at(chunk, p) for p in positions])
        overlap = int(np.sum(positions <= H - 1))
        d = int(min(math.ceil(d_est / slowdown), overlap, H - s_min))
        if self.mode is RTCMode.PREFIX:
            creq = ChunkRequest(RTCMode.PREFIX, prefix=guide[:d], steps=cfg.denoise_steps, seed=seed)
        else:
            creq = ChunkRequest(RTCMode.INPAINT, prefix=guide[:d], guide=guide,
                                guide_weights=soft_mask(H, d, overlap).numpy(), steps=cfg.denoise_steps,
                                max_guidance=cfg.max_guidance, seed=seed)
        return _Request(index, k, now, time.perf_counter(), slowdown, d, obs, creq)

    def _adapt_slowdown(self, estimator: DelayEstimator, slowdown: int, ok_streak: int, starved: bool, H: int,
                        s_min: int, T: float) -> tuple[int, int]:
        """Slow the playback down when the latency exceeds what a chunk covers; speed up when it fits again."""
        lat = estimator.latency()
        if lat is None:
            return slowdown, 0
        lat_ticks = lat / T
        needed = max(1, math.ceil(lat_ticks / (H - s_min)))
        if (starved or needed > slowdown) and slowdown < self.config.max_slowdown:
            new = min(self.config.max_slowdown, max(slowdown + 1, needed))
            log.warning("policy inference takes %.0f ms; a chunk covers %.0f ms at full speed: playing the policy at "
                        "1/%d speed", lat * 1e3, (H - s_min) * T * 1e3, new)
            return new, 0
        if slowdown > 1 and lat_ticks <= 0.8 * (H - s_min) * (slowdown - 1):
            ok_streak += 1
            if ok_streak >= 3:
                log.info("policy inference keeps up again (%.0f ms): playing at 1/%d speed", lat * 1e3, slowdown - 1)
                return slowdown - 1, 0
            return slowdown, ok_streak
        return slowdown, 0
