"""A teleop session: the loop, its recorder and the operator's commands (implements SessionControl).

Commands from other threads (the console, the session server, a foot pedal) are queued and
carried out on the loop thread at the start of the next tick, so nothing but the loop
thread touches the loop; each command waits for its result with a timeout.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Callable

from teleop import clock as process_clock
from teleop.exceptions import PsiTeleopError
from teleop.loop import TeleopLoop
from teleop.robot import g1
from teleop.status import EpisodeState, SessionControl, TeleopStatus

log = logging.getLogger(__name__)

#: How long a command from another thread waits for the loop to carry it out [s].
COMMAND_TIMEOUT = 2.0
#: How often the status snapshot is rebuilt [s].
STATUS_PERIOD = 0.1


class SessionError(PsiTeleopError):
    """An episode or session command cannot be carried out now (the message says why)."""


class TeleopSession(SessionControl):
    """Owns a :class:`TeleopLoop` and a ``recorder.DatasetWriter``; see the module docstring."""

    def __init__(self, loop: TeleopLoop, writer=None, task: str = "", instruction: str = "", operator: str = "",
                 calibration: dict | None = None, config: dict | None = None, profile_name: str = "",
                 headset_view=None):
        self.loop = loop
        self.writer = writer
        #: A started ``teleop.inputs.openxr_view.HeadsetView`` the session stops when it closes (or None).
        self.headset_view = headset_view
        if headset_view is not None:
            loop.on_view_button = self.toggle_passthrough
        self.task = task
        self.instruction = instruction
        self.operator = operator
        self.calibration = calibration or {}
        self.config = config or {}
        self.profile_name = profile_name
        self._episode = None
        self._commands: queue.Queue = queue.Queue(maxsize=64)
        self._status = TeleopStatus()
        self._status_lock = threading.Lock()
        self._next_status = 0.0
        self._loop_thread: threading.Thread | None = None
        self.profile_loader: Callable[[str], Any] | None = None
        emb = g1.load_embodiment()
        self._arm_idx = emb.indices(g1.ARM_JOINTS)
        lo, hi = emb.limits(g1.ARM_JOINTS)
        self._arm_q_min, self._arm_q_max = tuple(map(float, lo)), tuple(map(float, hi))
        loop.on_tick = self._on_tick

    # -- loop-thread side ------------------------------------------------------------------------
    def _on_tick(self, loop: TeleopLoop) -> None:
        while True:
            try:
                fn, box, done = self._commands.get_nowait()
            except queue.Empty:
                break
            try:
                box["result"] = fn()
            except Exception as exc:  # handed back to the calling thread
                box["error"] = exc
            done.set()
        now = loop.clock()
        if now >= self._next_status:
            self._next_status = now + STATUS_PERIOD
            self._publish_status(now)

    def _publish_status(self, now: float) -> None:
        loop = self.loop
        st = loop.last_state
        snap = TeleopStatus(
            stamp=process_clock.now(),
            input_kind=loop.source.kind.name.lower(),
            robot_kind=loop.backend.name,
            link=loop.backend.link_status.value,
            engage=loop.safety.state,
            safety_events=tuple(loop.safety.events)[-5:],
            devices=loop.device_status(now),
            timing=loop.timing(),
            episode=EpisodeState.RECORDING if self._episode is not None else EpisodeState.IDLE,
            episode_id=None if self._episode is None else self._episode.episode_id,
            episode_rows=loop.records,
            task=self.task,
            instruction=self.instruction,
            calibration_profile=self.profile_name,
            wrist_error_mm=loop.wrist_errors_mm(),
            arm_q=tuple(float(x) for x in st.q[self._arm_idx]) if st is not None else (),
            arm_q_min=self._arm_q_min,
            arm_q_max=self._arm_q_max,
            dataset=str(getattr(self.writer, "location", "") or ""),
        )
        with self._status_lock:
            self._status = snap

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the loop thread (directly when called from it or when no loop thread runs)."""
        if self._loop_thread is None or threading.current_thread() is self._loop_thread:
            return fn()
        box: dict[str, Any] = {}
        done = threading.Event()
        try:
            self._commands.put((fn, box, done), timeout=COMMAND_TIMEOUT)
        except queue.Full:
            raise SessionError("the teleop loop is not taking commands (queue full); is it stalled?") from None
        if not done.wait(COMMAND_TIMEOUT):
            raise SessionError(f"the teleop loop did not answer within {COMMAND_TIMEOUT:.0f} s")
        if "error" in box:
            raise box["error"]
        return box.get("result")

    # -- running in a thread --------------------------------------------------------------------
    def run_in_thread(self) -> threading.Thread:
        """Start the loop in its own thread (real-time sessions)."""
        t = threading.Thread(target=self.loop.run, name="teleop-loop", daemon=True)
        self._loop_thread = t
        t.start()
        return t

    def close(self) -> None:
        """Stop the loop, finalize a recording episode, stop devices, the robot and the headset view (in that order)."""
        self.loop.request_stop()
        if self._loop_thread is not None:
            self._loop_thread.join(timeout=5.0)
        try:
            if self._episode is not None:
                info = self._episode.finish(success=None)
                log.info("episode %s saved when the session closed", info.episode_id)
                self._episode = None
                self.loop.recorder = None
        finally:
            try:
                self.loop.stop()
                if self.writer is not None:
                    self.writer.close()
            finally:
                if self.headset_view is not None:
                    self.headset_view.stop()  # idempotent; stats() stay readable

    def toggle_passthrough(self) -> bool:
        """Switch the headset between the robot's view and passthrough (Y on the left controller).

        Returns whether passthrough is now on. A runtime without a passthrough blend mode keeps
        the robot's view, and the log says why.
        """
        view = self.headset_view
        if view is None:
            log.warning("passthrough: no headset view in this session (start it with --headset-view)")
            return False
        if view.passthrough_mode is None:
            log.warning("passthrough: this runtime offers no passthrough blend mode; the headset keeps the robot's view")
            return False
        view.set_passthrough(not view.passthrough)
        log.info("headset shows %s", "passthrough (the room)" if view.passthrough else "the robot's head camera")
        return view.passthrough

    # -- SessionControl -------------------------------------------------------------------------
    def status(self) -> TeleopStatus:
        with self._status_lock:
            return self._status

    def start_episode(self, task: str | None = None, instruction: str | None = None) -> str:
        def go() -> str:
            if self.writer is None:
                raise SessionError("this session records nowhere: start it with --dataset PATH")
            if self._episode is not None:
                raise SessionError(f"episode {self._episode.episode_id} is already recording; stop it first")
            if task is not None:
                self.task = task
            if instruction is not None:
                self.instruction = instruction
            self._episode = self.writer.start_episode(task=self.task, instruction=self.instruction,
                                                      operator=self.operator, calibration=self.calibration,
                                                      config=self.config)
            self.loop.records = 0
            self.loop.start_recording(self._episode)
            log.info("recording episode %s (%s)", self._episode.episode_id, self.task)
            return self._episode.episode_id

        return self._call(go)

    def stop_episode(self, success: bool | None = None) -> str | None:
        def go() -> str | None:
            if self._episode is None:
                return None
            ep, self._episode = self._episode, None
            self.loop.recorder = None
            info = ep.finish(success=success)
            log.info("episode %s saved: %d rows, success=%s", info.episode_id, self.loop.records, success)
            return info.episode_id

        return self._call(go)

    def discard_episode(self, reason: str = "") -> str | None:
        def go() -> str | None:
            if self._episode is None:
                return None
            ep, self._episode = self._episode, None
            self.loop.recorder = None
            info = ep.discard(reason)
            log.info("episode %s discarded%s", info.episode_id, f": {reason}" if reason else "")
            return info.episode_id

        return self._call(go)

    def mark_success(self, episode_id: str, success: bool | None) -> None:
        from recorder import Dataset

        if self.writer is None:
            raise SessionError("this session has no dataset")
        Dataset.open(self.writer.location).episode(episode_id).update_attrs(success=success)

    def set_task(self, task: str, instruction: str) -> None:
        def go() -> None:
            self.task, self.instruction = task, instruction

        self._call(go)

    def engage(self) -> None:
        self._call(self.loop.safety.engage)

    def disengage(self) -> None:
        self._call(self.loop.safety.disengage)

    def estop(self) -> None:
        # The e-stop must not wait behind anything: the flag is read by the next tick.
        self.loop.safety.estop()

    def release_estop(self) -> None:
        def go() -> None:
            self.loop.safety.release(self.loop.action)

        self._call(go)

    def select_calibration(self, profile: str) -> None:
        if self.profile_loader is None:
            raise SessionError("this session cannot change its calibration profile")
        mapping = self.profile_loader(profile)

        def go() -> None:
            self.loop.mapping = mapping
            self.profile_name = profile

        self._call(go)

    def latest_frame(self, camera: str):
        return self.loop.latest_frame(camera)
