"""Simulated cameras: MuJoCo renders of the head and wrist cameras, on their own thread.

MuJoCo's ``MjData`` is not thread-safe and rendering one 160x120 frame costs ~20 ms on a
CPU (Mesa llvmpipe, with the settings of ``teleop.robot.sim.open_camera_renderer``), longer
than a 10 ms teleop tick. So the camera never touches the
simulation's own data: the thread that steps the simulation publishes the state into a
:class:`SimStateTap` (a copy of ``qpos`` and the mocap poses under a lock, a few
microseconds), and each :class:`SimCameraSource` copies the newest state into its *private*
``MjData``, computes the kinematics (``mj_kinematics``, ``mj_comPos``, ``mj_camlight``) and renders it
with its own renderer and EGL context, at ``CameraConfig.fps``. A frame's stamp is the time
the published state describes, so the recorder's alignment error is the true image age.

In lock-step simulation (``LoopConfig.lockstep``) the loop thread renders instead (see
``teleop.loop``); this source is for real-time sessions.
"""

from __future__ import annotations

import threading

import numpy as np

from teleop import clock
from teleop.cameras.config import CameraConfig, CameraKind
from teleop.cameras.exceptions import CameraError
from teleop.cameras.source import CameraSource


class SimStateTap:
    """The newest simulation state, handed from the thread that steps the simulation to camera threads.

    Only the positions matter for a picture: ``qpos`` and the mocap bodies' poses.
    """

    def __init__(self, model):
        self._lock = threading.Lock()
        self._qpos = np.zeros(model.nq)
        self._mocap_pos = np.zeros((model.nmocap, 3))
        self._mocap_quat = np.zeros((model.nmocap, 4))
        self._stamp = float("nan")  # [s]
        self._seq = 0

    @property
    def seq(self) -> int:
        """How many states were published (0: none yet)."""
        return self._seq

    def publish(self, data, stamp: float | None = None) -> None:
        """Copy the state of ``data`` (an MjData), describing time ``stamp`` [s] (default: now).

        Call it from the thread that owns ``data`` (the loop or the simulation thread).
        """
        stamp = clock.now() if stamp is None else stamp
        with self._lock:
            self._qpos[:] = data.qpos
            self._mocap_pos[:] = data.mocap_pos
            self._mocap_quat[:] = data.mocap_quat
            self._stamp = stamp
            self._seq += 1

    def publish_sim(self, sim, stamp: float | None = None) -> None:
        """:meth:`publish` for a :class:`teleop.robot.sim.MujocoSim`."""
        self.publish(sim.data, stamp)

    def read_into(self, data) -> tuple[float, int] | None:
        """Copy the newest state into ``data``; return ``(stamp [s], seq)``, or None before the first publish."""
        with self._lock:
            if self._seq == 0:
                return None
            data.qpos[:] = self._qpos
            data.mocap_pos[:] = self._mocap_pos
            data.mocap_quat[:] = self._mocap_quat
            return self._stamp, self._seq


class SimCameraSource(CameraSource):
    """Renders camera ``config.name`` of a simulated scene from a :class:`SimStateTap`.

    Args:
        config: kind SIM; ``fps`` is the render rate [Hz] (an upper bound: a slow CPU renders slower).
        model: the MjModel the simulation runs (it must contain a camera named ``config.name``,
            see ``SimConfig.cameras``).
        tap: where the simulation publishes its state.
        size: (height, width) [px] of the rendered image.
        scene_option: MjvOption with the geom groups the cameras draw (``MujocoSim``'s).
    """

    paced = True

    def __init__(self, config: CameraConfig, model, tap: SimStateTap, size: tuple[int, int] = (120, 160),
                 scene_option=None):
        if config.kind is not CameraKind.SIM:
            raise CameraError(f"camera '{config.name}' is {config.kind.value}, not sim")
        import mujoco

        if mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, config.name) < 0:
            names = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, i) for i in range(model.ncam)]
            raise CameraError(f"the simulated scene has no camera '{config.name}'; it has: {', '.join(names) or 'none'} "
                              "(enable it with SimConfig(cameras=...))")
        super().__init__(config)
        self._mj = mujoco
        self._model = model
        self._tap = tap
        self._size = (int(size[0]), int(size[1]))
        self._scene_option = scene_option
        self._data = None
        self._renderer = None
        self._last_seq = 0

    @classmethod
    def from_sim(cls, config: CameraConfig, sim, tap: SimStateTap) -> SimCameraSource:
        """A source for camera ``config.name`` of ``sim`` (a ``MujocoSim``), rendered at the sim's camera size."""
        return cls(config, sim.model, tap, size=sim.config.camera_size, scene_option=sim._scene_option)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) [px] of the frames."""
        return self._size

    def describe(self) -> str:
        return f"simulated camera '{self.config.name}' {self._size[1]}x{self._size[0]}"

    def _open(self) -> None:
        from teleop.exceptions import RobotBackendError
        from teleop.robot.sim import open_camera_renderer

        self._data = self._mj.MjData(self._model)
        try:
            self._renderer = open_camera_renderer(self._model, self._size)
        except RobotBackendError as exc:
            raise CameraError(f"camera '{self.name}': {exc}") from exc
        self._last_seq = 0

    def _read(self):
        got = self._tap.read_into(self._data)
        if got is None:
            return None
        stamp, seq = got
        if seq == self._last_seq:  # the simulation did not move: the same picture, not a new frame
            return None
        self._last_seq = seq
        mj = self._mj
        mj.mj_kinematics(self._model, self._data)
        mj.mj_comPos(self._model, self._data)  # subtree centres: cameras and lights that track a body's COM
        mj.mj_camlight(self._model, self._data)
        self._renderer.update_scene(self._data, camera=self.config.name, scene_option=self._scene_option)
        return self._renderer.render(), stamp, None

    def _close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
