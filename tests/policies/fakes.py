"""Fake robot and policies for the runtime tests and the RTC benchmark."""

from __future__ import annotations

import numpy as np

from policies.policy import ChunkRequest, Observation
from teleop.robot import g1
from teleop.robot.backend import RobotBackend, RobotState


class RecordingBackend(RobotBackend):
    """A perfect position-tracking robot on simulated time: state = last commanded action."""

    name = "fake"

    def __init__(self):
        self.t = 0.0
        self.actions: list[np.ndarray] = []
        self.steps = 0
        self._state = RobotState()
        emb = g1.load_embodiment()
        self._hand = emb.indices(g1.HAND_JOINTS)
        self._arm = emb.indices(g1.ARM_JOINTS)
        self._state.q[:] = emb.q_default

    def start(self):
        pass

    def stop(self):
        pass

    def damp(self):
        pass

    def read_state(self) -> RobotState:
        self._state.stamp = self.t
        return self._state

    def apply_action(self, action):
        a = np.asarray(action, dtype=float)
        self.actions.append(a.copy())
        self._state.q[self._hand] = a[0:14]
        self._state.q[self._arm] = a[14:28]
        self._state.lower_body_cmd = a[28:36].copy()

    def step(self, dt):
        self.t += dt
        self.steps += 1


class RampPolicy:
    """A chunk that continues one global trajectory: action(t) = a0 + v t on both shoulder pitch joints.

    Index j of a chunk observed at time t_obs is the action for t_obs + j * period * slowdown.
    """

    trained_with_prefix = True
    cameras = ()

    def __init__(self, horizon: int = 30, period: float = 1 / 30, rate: float = 0.1, fail_every: int = 0):
        self.horizon = horizon
        self.period = period
        self.rate = rate
        self.base = g1.load_embodiment().default_action()
        self.calls: list[ChunkRequest] = []
        self.fail_every = fail_every

    def action_at(self, t: float) -> np.ndarray:
        a = self.base.copy()
        a[[14, 21]] += self.rate * t  # shoulder pitch: +-2.6 rad of range
        return a

    def infer(self, obs: Observation, request: ChunkRequest) -> np.ndarray:
        self.calls.append(request)
        if self.fail_every and len(self.calls) % self.fail_every == 0:
            raise RuntimeError("simulated inference failure")
        return np.stack([self.action_at(obs.stamp + j * self.period) for j in range(self.horizon)])
