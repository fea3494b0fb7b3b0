"""Synthetic rows for the recorder tests: deterministic, so every stored number can be checked."""

from __future__ import annotations

import numpy as np
import pytest

from recorder import TickRecord
from teleop.operator_frame import OperatorFrame
from teleop.robot.backend import RobotState

HZ = 30.0
CAM_SHAPE = (48, 64)


def synthetic_frame(k: int, shape: tuple[int, int] = CAM_SHAPE) -> np.ndarray:
    """A smooth image whose mean brightness encodes k (so a decoded frame identifies its row)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    base = (k * 7) % 200 + 20
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = base
    img[..., 1] = (base + xx * 30 // w) % 256
    img[..., 2] = (base + yy * 30 // h) % 256
    return img


class RowMaker:
    """Fills reusable RobotState / OperatorFrame buffers like the teleop loop does."""

    def __init__(self, t0: float = 1000.0, cameras: tuple[str, ...] = ("head",), shape=CAM_SHAPE):
        self.t0 = t0
        self.robot = RobotState()
        self.operator = OperatorFrame()
        self.state = np.zeros(32)
        self.action = np.zeros(36)
        self.cameras = cameras
        self.shape = shape

    def row(self, k: int, camera_ok: bool = True) -> TickRecord:
        t = self.t0 + k / HZ
        self.state[:] = k + np.arange(32) * 1e-3
        self.action[:] = -k - np.arange(36) * 1e-3
        self.robot.q[:] = k * 0.01
        self.robot.stamp = t - 0.004
        self.operator.head_pose[0] = k * 0.001
        self.operator.stamp = t - 0.011
        self.operator.hand_valid[:] = k % 2 == 0
        cams = {name: ((synthetic_frame(k, self.shape), t - 0.02) if camera_ok else None) for name in self.cameras}
        return TickRecord(
            t=t, state=self.state, action=self.action, robot=self.robot.as_arrays(),
            operator=self.operator.as_arrays(), cameras=cams,
        )


@pytest.fixture
def rows() -> RowMaker:
    return RowMaker()


def record(writer, n: int, maker: RowMaker | None = None, success=True, invalid_every: int = 0, **start):
    """Record one episode of ``n`` rows and finish it; returns its EpisodeInfo."""
    maker = maker or RowMaker()
    ep = writer.start_episode(**({"task": "pick_place", "instruction": "pick the cup"} | start))
    for k in range(n):
        ep.append(maker.row(k, camera_ok=not (invalid_every and k % invalid_every == invalid_every - 1)))
    return ep.finish(success=success)


@pytest.fixture(autouse=True)
def _quiet_vlen_dtype_warning():
    """pytest resets warning filters per test; re-apply the recorder's one deliberate filter."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The data type \(VariableLengthBytes\(\)\) does not have a Zarr V3")
        yield
