"""MuJoCo simulation of the G1 + Dex3-1 in a scene with a table and objects.

:class:`MujocoSim` owns the physics: joint PD for every actuator evaluated inside MuJoCo at
every physics step (500 Hz), the lower body realised by the kinematic base (default) or a
learned :class:`~teleop.robot.lower_body.LowerBodyPolicy`, offscreen cameras. It is used in
process by :class:`SimBackend` (lock-stepped by the teleop loop) and by the DDS simulator
(``teleop.robot.sim_dds``), which paces it in real time.

PD law per joint ``i`` (MODEL_JOINTS order)::

    tau_i = kp_i (q*_i - q_i) + kd_i (dq*_i - dq_i) + tau_ff_i,   |tau_i| <= tau_max_i

realised with MuJoCo position actuators whose gains are set at run time (so the damping
term is integrated implicitly and stays stable with stiff gains); ``kd·dq* + tau_ff`` enters
as an applied generalized force.

Cameras render with ``MUJOCO_GL=egl`` on the CPU: keep them small. Geometry a camera need
not see (collision meshes, the legs, table legs) is in geom groups the cameras hide, and every
camera renderer comes from :func:`open_camera_renderer` (no shadow map, no multisampling:
~20 ms instead of ~95 ms for a 160x120 head frame on Mesa llvmpipe).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np

from teleop import clock
from teleop.exceptions import ConfigError, RobotBackendError
from teleop.robot import g1
from teleop.robot.backend import LinkStatus, RobotBackend, RobotState
from teleop.robot.lower_body import (
    LOWER_BODY_JOINTS,
    KinematicBase,
    LowerBodyPolicy,
    compute_leg_table,
)
from teleop.robot.tasks import Task, make_task

log = logging.getLogger(__name__)

#: Physics step [s]: 500 Hz joint PD, as on the robot's low-level loop.
PHYSICS_DT = 0.002
#: Geom group of what cameras hide: collision meshes (3) are already hidden by MuJoCo's default;
#: leg visuals and table legs go to this group so the head camera does not draw them.
HIDDEN_GROUP = 4
#: Default PD gains by joint group [N m/rad], [N m s/rad]: stiff enough to track teleop
#: targets within millimetres in simulation, inside each joint's torque limit.
DEFAULT_GAINS = {
    "legs": (200.0, 5.0),
    "waist": (300.0, 6.0),
    "arm": (150.0, 4.0),
    "wrist": (40.0, 1.5),
    "hand": (5.0, 0.1),
}
#: Contact softness of the hand geoms and of the objects they hold: MuJoCo ``solref``
#: (time constant [s], damping ratio) and ``solimp`` (impedance at 0 and at ``width``, width [m]).
#: MuJoCo's default (20 ms, 0.9..0.95) lets a can squeezed at ~10 N creep out of the fingers at
#: several cm/s under its own weight; finger pads on a can are far stiffer. 5 ms is above the
#: 2 x PHYSICS_DT stability floor.
GRASP_SOLREF = (0.005, 1.0)
GRASP_SOLIMP = (0.95, 0.99, 0.001)
#: Head camera pose on torso_link (the G1's head RGB-D camera, looking forward and down) [m].
HEAD_CAMERA = {"pos": [0.09, 0.0, 0.47], "xyaxes": [0.0, -1.0, 0.0, 0.72, 0.0, 0.70]}
#: Wrist cameras on the wrist_yaw links, looking along the fingers [m].
WRIST_CAMERA = {"pos": [0.05, 0.0, 0.06], "euler": [0.0, 0.6, 0.0]}
CAMERA_NAMES = ("head", "left_wrist", "right_wrist")
#: Robot links the cameras draw (the rest is hidden from them, see build_scene).
_VISIBLE_ROBOT_LINK = re.compile(r"(elbow|wrist|hand)")


def open_camera_renderer(model, size: tuple[int, int]):
    """A ``mujoco.Renderer`` of ``size`` (height, width) [px], set up for cheap CPU rendering.

    The one place where simulated camera renderers are made (``MujocoSim.render`` and
    ``teleop.cameras.sim.SimCameraSource``). On Mesa's llvmpipe most of a frame's cost is the
    shadow map (the scene drawn a second time from the light) and the multisampled offscreen
    buffer; neither matters to a policy's 160x120 picture, so both are off:
    ``model.vis.quality.offsamples = 0`` (read when the GL context is made; it changes nothing
    but offscreen rendering) and the scene's shadow and reflection flags cleared.

    Raises:
        RobotBackendError: no offscreen OpenGL context can be made (no EGL).
    """
    import mujoco

    h, w = int(size[0]), int(size[1])
    model.vis.quality.offsamples = 0
    try:
        renderer = mujoco.Renderer(model, h, w)
    except Exception as exc:  # MuJoCo raises plain exceptions for GL problems
        raise RobotBackendError(
            f"cannot open an offscreen OpenGL context ({exc}); install Mesa EGL (Debian: libegl1 "
            "libgl1-mesa-dri) and set MUJOCO_GL=egl, or run without cameras"
        ) from exc
    flags = renderer.scene.flags
    flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
    flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
    return renderer


def _default_gain(name: str) -> tuple[float, float]:
    if "_hand_" in name:
        return DEFAULT_GAINS["hand"]
    if name in g1.LEG_JOINTS:
        return DEFAULT_GAINS["legs"]
    if name in g1.WAIST_JOINTS:
        return DEFAULT_GAINS["waist"]
    if "wrist" in name:
        return DEFAULT_GAINS["wrist"]
    return DEFAULT_GAINS["arm"]


@dataclass(frozen=True)
class SimConfig:
    """Simulation settings.

    Attributes:
        task: task name (``teleop.robot.tasks.TASK_NAMES``) or None for an empty floor.
        seed: seed of the episode randomization; the same seed gives the same episode.
        cameras: which of :data:`CAMERA_NAMES` to render.
        camera_size: (height, width) [px] of rendered images.
        lower_body: "kinematic" (embedded default) or "policy" (a LowerBodyPolicy is attached).
        gravity_compensation: with a learned lower body (free, simulated base), feed-forward the
            gravity and Coriolis torque of the arms, hands and waist, as the G1's teleoperation
            controllers do (Unitree's arm IK sends the RNEA torque as ``tau_ff``). With the
            kinematic base it is not needed: the base is re-posed every physics step, so within a
            2 ms step the robot falls freely and its own links do not load its joints — which
            acts as perfect gravity compensation. Objects in the scene feel gravity normally.
    """

    task: str | None = "pick_place"
    seed: int = 0
    cameras: tuple[str, ...] = ("head",)
    camera_size: tuple[int, int] = (120, 160)
    lower_body: str = "kinematic"
    gravity_compensation: bool = True  # add the model's gravity/Coriolis torque to arms, hands, waist
    kp: dict[str, float] = field(default_factory=dict)  # per-joint overrides [N m/rad]
    kd: dict[str, float] = field(default_factory=dict)  # per-joint overrides [N m s/rad]

    def __post_init__(self) -> None:
        unknown = [c for c in self.cameras if c not in CAMERA_NAMES]
        if unknown:
            raise ConfigError(f"unknown camera(s) {unknown}; valid cameras: {', '.join(CAMERA_NAMES)}")
        h, w = self.camera_size
        if not (16 <= h <= 1080 and 16 <= w <= 1920):
            raise ConfigError(f"camera_size {self.camera_size} must be (height, width) within 16..1080 x 16..1920 px")
        if self.lower_body not in ("kinematic", "policy"):
            raise ConfigError(f"lower_body must be 'kinematic' or 'policy', got '{self.lower_body}'")
        for name in [*self.kp, *self.kd]:
            g1.load_embodiment().index_of(name)  # raises with the valid names


def build_scene(task: Task | None, cameras: tuple[str, ...]):
    """Compile the G1 + Dex3 model with a floor, light, the task's objects and the cameras."""
    import mujoco

    spec = mujoco.MjSpec.from_file(str(g1.model_path()))
    spec.option.timestep = PHYSICS_DT
    spec.visual.global_.offwidth = 1920
    spec.visual.global_.offheight = 1080
    floor_tex = spec.add_texture(name="floor_tex", type=mujoco.mjtTexture.mjTEXTURE_2D,
                                 builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, width=128, height=128,
                                 rgb1=[0.25, 0.3, 0.35], rgb2=[0.2, 0.24, 0.28])
    spec.add_material(name="floor_mat", textures=["", "floor_tex"], texrepeat=[4, 4], texuniform=True)
    del floor_tex
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05], material="floor_mat")
    spec.worldbody.add_light(name="top", pos=[0.5, 0, 3.0], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, castshadow=0)
    if "head" in cameras:
        spec.body(g1.TORSO_FRAME).add_camera(name="head", pos=HEAD_CAMERA["pos"], xyaxes=HEAD_CAMERA["xyaxes"], fovy=75)
    for side in g1.SIDES:
        if f"{side}_wrist" in cameras:
            # MuJoCo cameras look along their -z axis with +y up; rotate so they look along the fingers (+x).
            spec.body(g1.WRIST_FRAMES[side]).add_camera(
                name=f"{side}_wrist", pos=WRIST_CAMERA["pos"], xyaxes=[0, -1, 0, 0.5, 0, 1], fovy=90
            )
    if task is not None:
        task.add_to_scene(spec)
    model = spec.compile()
    # Legs never collide (the base is kinematic). The robot does not collide with itself:
    # Menagerie's convex collision hulls of the torso and upper arms overlap in ordinary
    # poses; avoiding self-collision is the IK's job (ik.UpperBodyIK). Robot geoms get
    # contype 2 / conaffinity 1, so they touch the world (1/1) but not each other.
    # Cameras draw only the forearms and hands of the robot: the rest is behind or below
    # them, and its meshes cost most of the render time.
    leg_bodies = {mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n.replace("_joint", "_link")) for n in g1.LEG_JOINTS}
    robot_bodies = _subtree(model, mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, g1.PELVIS_FRAME))
    for gid in range(model.ngeom):
        body = model.geom_bodyid[gid]
        if body in robot_bodies and model.geom_contype[gid]:
            model.geom_contype[gid] = 2
            model.geom_conaffinity[gid] = 1
        if body in leg_bodies:
            model.geom_contype[gid] = 0
            model.geom_conaffinity[gid] = 0
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, body) or ""
        if "_hand_" in name and model.geom_contype[gid]:
            model.geom_solref[gid] = GRASP_SOLREF
            model.geom_solimp[gid, :3] = GRASP_SOLIMP
        if model.geom_group[gid] == 2 and not _VISIBLE_ROBOT_LINK.search(name):
            model.geom_group[gid] = HIDDEN_GROUP
    return model


def _subtree(model, root: int) -> set[int]:
    """Body ids of ``root`` and all its descendants."""
    bodies = {root}
    for b in range(root + 1, model.nbody):
        if model.body_parentid[b] in bodies:
            bodies.add(b)
    return bodies


class MujocoSim:
    """The G1 + Dex3 physics, PD control, kinematic base, cameras. Not thread-safe: one owner thread."""

    def __init__(self, config: SimConfig | None = None):
        import mujoco

        self.config = config or SimConfig()
        self.task: Task | None = make_task(self.config.task) if self.config.task else None
        self.model = build_scene(self.task, self.config.cameras)
        self.data = mujoco.MjData(self.model)
        self._mj = mujoco
        emb = g1.load_embodiment()
        self.embodiment = emb
        m = self.model
        name2id = lambda kind, n: mujoco.mj_name2id(m, kind, n)  # noqa: E731
        jids = np.array([name2id(mujoco.mjtObj.mjOBJ_JOINT, n) for n in g1.MODEL_JOINTS])
        self._qadr = m.jnt_qposadr[jids].copy()
        self._vadr = m.jnt_dofadr[jids].copy()
        # actuator index for each MODEL_JOINTS entry, found by the joint it drives (orders differ).
        act_of_joint = {int(m.actuator_trnid[a, 0]): a for a in range(m.nu)}
        self._act = np.array([act_of_joint[j] for j in jids])
        self._lower_idx = emb.indices(LOWER_BODY_JOINTS)
        self._leg_idx = emb.indices(g1.LEG_JOINTS)
        self._waist_idx = emb.indices(g1.WAIST_JOINTS)
        upper = np.concatenate([self._waist_idx, emb.indices(g1.ARM_JOINTS), emb.indices(g1.HAND_JOINTS)])
        self._gc_idx = np.sort(upper) if self.config.gravity_compensation else np.zeros(0, dtype=int)
        self._gc_dofs = self._vadr[self._gc_idx]
        self._pelvis = name2id(mujoco.mjtObj.mjOBJ_BODY, g1.PELVIS_FRAME)
        self._torso = name2id(mujoco.mjtObj.mjOBJ_BODY, g1.TORSO_FRAME)
        self._imu_gyro = m.sensor_adr[name2id(mujoco.mjtObj.mjOBJ_SENSOR, "imu-pelvis-angular-velocity")]
        self._imu_acc = m.sensor_adr[name2id(mujoco.mjtObj.mjOBJ_SENSOR, "imu-pelvis-linear-acceleration")]
        hand_bodies = [b for b in range(m.nbody) if "_hand_" in (mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, b) or "")
                       or (mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, b) or "").endswith("wrist_yaw_link")]
        self._hand_bodies = np.array(hand_bodies)
        gains = [_default_gain(n) for n in g1.MODEL_JOINTS]
        self.kp = np.array([self.config.kp.get(n, k) for n, (k, _) in zip(g1.MODEL_JOINTS, gains)])
        self.kd = np.array([self.config.kd.get(n, d) for n, (_, d) in zip(g1.MODEL_JOINTS, gains)])
        self._q_target = emb.q_default.copy()
        self._dq_target = np.zeros(len(g1.MODEL_JOINTS))
        self._tau_ff = np.zeros(len(g1.MODEL_JOINTS))
        self._kp_cmd = self.kp.copy()
        self._kd_cmd = self.kd.copy()
        self.base = KinematicBase(compute_leg_table(m))
        self.lower_body_cmd = g1.LowerBodyCommand()
        self.lower_body_policy: LowerBodyPolicy | None = None
        self._policy_next = 0.0
        self._renderers: dict[str, object] = {}
        self._scene_option = mujoco.MjvOption()
        self._scene_option.geomgroup[:] = 0
        for grp in (0, 1, 2):
            self._scene_option.geomgroup[grp] = 1
        self.rng = np.random.default_rng(self.config.seed)
        self.reset(self.config.seed)

    # ---------------------------------------------------------------------------------
    # episode
    # ---------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Default pose, standing at the origin facing +x; the task places its objects from ``seed``."""
        mj = self._mj
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        mj.mj_resetData(self.model, self.data)
        self.base.reset()
        self.lower_body_cmd = g1.LowerBodyCommand()
        q = self.embodiment.q_default.copy()
        q[self._leg_idx] = self.base.leg_pose()
        self.data.qpos[self._qadr] = q
        self._q_target[:] = q
        self._dq_target[:] = 0.0
        self._tau_ff[:] = 0.0
        self._kp_cmd[:] = self.kp
        self._kd_cmd[:] = self.kd
        self._apply_base(0.0, 0.0)
        if self.task is not None:
            self.task.reset(self, self.rng)
        mj.mj_forward(self.model, self.data)
        self._write_gains()
        # let objects settle on the table before the episode starts
        for _ in range(100):
            self.step()
        self.data.time = 0.0

    @property
    def time(self) -> float:
        """Simulated time since the episode start [s]."""
        return float(self.data.time)

    # ---------------------------------------------------------------------------------
    # commands
    # ---------------------------------------------------------------------------------
    def set_motor_commands(self, q_target, dq_target=None, kp=None, kd=None, tau_ff=None) -> None:
        """PD targets for all 43 joints (:data:`g1.MODEL_JOINTS` order); ``None`` keeps the current value."""
        for name, v in (("q_target", q_target), ("dq_target", dq_target), ("kp", kp), ("kd", kd), ("tau_ff", tau_ff)):
            if v is not None and not np.all(np.isfinite(v)):
                raise RobotBackendError(f"{name} contains NaN or inf; the simulation keeps the previous command")
        if q_target is not None:
            np.clip(q_target, self.embodiment.q_min, self.embodiment.q_max, out=self._q_target)
        if dq_target is not None:
            self._dq_target[:] = dq_target
        if kp is not None:
            self._kp_cmd[:] = np.maximum(kp, 0.0)
        if kd is not None:
            self._kd_cmd[:] = np.maximum(kd, 0.0)
        if tau_ff is not None:
            np.clip(tau_ff, -self.embodiment.tau_max, self.embodiment.tau_max, out=self._tau_ff)
        self._write_gains()

    def set_joint_targets(self, names: tuple[str, ...], q: np.ndarray) -> None:
        """Position targets [rad] for the named joints; other joints keep theirs."""
        idx = self.embodiment.indices(names)
        q = np.asarray(q, dtype=float)
        if not np.all(np.isfinite(q)):
            raise RobotBackendError("joint targets contain NaN or inf; the simulation keeps the previous command")
        self._q_target[idx] = np.clip(q, self.embodiment.q_min[idx], self.embodiment.q_max[idx])
        self.data.ctrl[self._act[idx]] = self._q_target[idx]

    def set_damping(self, kd: np.ndarray | float | None = None) -> None:
        """Damping mode (e-stop): no position stiffness, joint damping ``kd`` [N m s/rad]."""
        kd_v = np.broadcast_to(np.asarray(2.0 if kd is None else kd, dtype=float), self._kd_cmd.shape)
        self.set_motor_commands(self._current_q(), np.zeros_like(self._dq_target), np.zeros_like(self._kp_cmd), kd_v,
                                np.zeros_like(self._tau_ff))

    def set_lower_body_command(self, cmd: g1.LowerBodyCommand) -> None:
        """The 8-value lower-body command realised by the kinematic base or the attached policy."""
        v = cmd.to_array()
        if not np.all(np.isfinite(v)):
            raise RobotBackendError(f"lower-body command contains NaN: {v}; keeping the previous one")
        self.lower_body_cmd = cmd

    def attach_lower_body_policy(self, policy: LowerBodyPolicy) -> None:
        """Hand the legs and waist to a learned controller (the base becomes a free, simulated body)."""
        self.lower_body_policy = policy
        policy.reset(self.robot_state())
        self._policy_next = self.time

    def _write_gains(self) -> None:
        m, a = self.model, self._act
        m.actuator_gainprm[a, 0] = self._kp_cmd
        m.actuator_biasprm[a, 1] = -self._kp_cmd
        m.actuator_biasprm[a, 2] = -self._kd_cmd
        self.data.ctrl[a] = self._q_target
        self.data.qfrc_applied[self._vadr] = self._kd_cmd * self._dq_target + self._tau_ff

    # ---------------------------------------------------------------------------------
    # physics
    # ---------------------------------------------------------------------------------
    def step(self, n_steps: int = 1) -> None:
        """Advance ``n_steps`` physics steps of :data:`PHYSICS_DT`."""
        mj = self._mj
        for _ in range(n_steps):
            if self.lower_body_policy is None:
                cmd = self.lower_body_cmd
                vxw, vyw = self.base.step(cmd, PHYSICS_DT)
                waist = np.clip([cmd.torso_rpy[2], cmd.torso_rpy[0], cmd.torso_rpy[1]],
                                self.embodiment.q_min[self._waist_idx], self.embodiment.q_max[self._waist_idx])
                self._q_target[self._waist_idx] = waist
                self.data.ctrl[self._act[self._waist_idx]] = waist
                self._apply_base(vxw, vyw)
            elif self.time >= self._policy_next:
                targets = self.lower_body_policy.step(self.lower_body_cmd, self.robot_state())
                self._q_target[self._lower_idx] = targets.q
                self._kp_cmd[self._lower_idx] = targets.kp
                self._kd_cmd[self._lower_idx] = targets.kd
                self._write_gains()
                self._policy_next += 1.0 / self.lower_body_policy.rate_hz
            if self._gc_dofs.size and self.lower_body_policy is not None:
                d = self.data
                d.qfrc_applied[self._gc_dofs] = (
                    self._kd_cmd[self._gc_idx] * self._dq_target[self._gc_idx] + self._tau_ff[self._gc_idx]
                    + d.qfrc_bias[self._gc_dofs]
                )
            mj.mj_step(self.model, self.data)

    def _apply_base(self, vxw: float, vyw: float) -> None:
        """Write the kinematic base pose and the squat leg pose into the state."""
        d, b = self.data, self.base
        d.qpos[0:3] = (b.x, b.y, b.height)
        d.qpos[3:7] = (np.cos(b.yaw / 2), 0.0, 0.0, np.sin(b.yaw / 2))
        d.qvel[0:6] = (vxw, vyw, 0.0, 0.0, 0.0, 0.0)
        legs = b.leg_pose()
        d.qpos[self._qadr[self._leg_idx]] = legs
        d.qvel[self._vadr[self._leg_idx]] = 0.0
        self._q_target[self._leg_idx] = legs
        d.ctrl[self._act[self._leg_idx]] = legs

    # ---------------------------------------------------------------------------------
    # measurements
    # ---------------------------------------------------------------------------------
    def _current_q(self) -> np.ndarray:
        return self.data.qpos[self._qadr].copy()

    def robot_state(self, out: RobotState | None = None) -> RobotState:
        """Measured state, stamped with the process clock."""
        s = out or RobotState()
        d = self.data
        s.stamp = clock.now()
        s.q[:] = d.qpos[self._qadr]
        s.dq[:] = d.qvel[self._vadr]
        s.tau[:] = d.actuator_force[self._act]
        s.base_pos[:] = d.qpos[0:3]
        s.base_quat[:] = d.qpos[3:7]
        s.imu_gyro[:] = d.sensordata[self._imu_gyro:self._imu_gyro + 3]
        s.imu_acc[:] = d.sensordata[self._imu_acc:self._imu_acc + 3]
        s.lower_body_cmd[:] = self.lower_body_cmd.to_array()
        return s

    def body_position(self, name: str) -> np.ndarray:
        bid = self._mj.mj_name2id(self.model, self._mj.mjtObj.mjOBJ_BODY, name)
        if bid < 0:
            raise RobotBackendError(f"no body '{name}' in the scene")
        return self.data.xpos[bid].copy()

    def body_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """World position [m] and rotation matrix of body ``name``."""
        bid = self._mj.mj_name2id(self.model, self._mj.mjtObj.mjOBJ_BODY, name)
        if bid < 0:
            raise RobotBackendError(f"no body '{name}' in the scene")
        return self.data.xpos[bid].copy(), self.data.xmat[bid].reshape(3, 3).copy()

    def set_free_body_pose(self, name: str, pos: np.ndarray, quat_wxyz: np.ndarray) -> None:
        jid = self._mj.mj_name2id(self.model, self._mj.mjtObj.mjOBJ_JOINT, f"{name}_free")
        if jid < 0:
            raise RobotBackendError(f"no free body '{name}' in the scene")
        adr, vadr = self.model.jnt_qposadr[jid], self.model.jnt_dofadr[jid]
        self.data.qpos[adr:adr + 3] = pos
        self.data.qpos[adr + 3:adr + 7] = quat_wxyz
        self.data.qvel[vadr:vadr + 6] = 0.0

    def touching_hand(self, body: str) -> bool:
        """Whether any contact joins ``body`` and a hand or wrist link."""
        bid = self._mj.mj_name2id(self.model, self._mj.mjtObj.mjOBJ_BODY, body)
        d = self.data
        for i in range(d.ncon):
            b1 = self.model.geom_bodyid[d.contact[i].geom1]
            b2 = self.model.geom_bodyid[d.contact[i].geom2]
            if (b1 == bid and b2 in self._hand_bodies) or (b2 == bid and b1 in self._hand_bodies):
                return True
        return False

    def success(self) -> bool:
        """The task's success predicate (False with no task)."""
        return bool(self.task.success(self)) if self.task is not None else False

    # ---------------------------------------------------------------------------------
    # cameras
    # ---------------------------------------------------------------------------------
    def render(self, camera: str) -> np.ndarray:
        """RGB image (H, W, 3) uint8 from ``camera``. Uses ``MUJOCO_GL`` (egl when unset and headless, see ``teleop.robot``)."""
        if camera not in self.config.cameras:
            raise ConfigError(f"camera '{camera}' is not enabled; enabled cameras: {self.config.cameras}")
        r = self._renderers.get(camera)
        if r is None:
            r = self._renderers[camera] = open_camera_renderer(self.model, self.config.camera_size)
        r.update_scene(self.data, camera=camera, scene_option=self._scene_option)
        return r.render()

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()


class SimBackend(RobotBackend):
    """The in-process simulation as a :class:`RobotBackend`, lock-stepped by its caller.

    ``apply_action`` sets arm and hand targets and the lower-body command; ``step(dt)``
    advances the physics by ``dt`` (a whole number of 2 ms steps).
    """

    name = "sim"

    def __init__(self, config: SimConfig | None = None, sim: MujocoSim | None = None):
        self.config = config or SimConfig()
        self.sim = sim
        self._state = RobotState()
        self._damping = False
        emb = g1.load_embodiment()
        self._hand_idx = emb.indices(g1.HAND_JOINTS)
        self._arm_idx = emb.indices(g1.ARM_JOINTS)

    def start(self) -> None:
        if self.sim is None:
            self.sim = MujocoSim(self.config)

    def stop(self) -> None:
        if self.sim is not None:
            self.sim.close()

    def _need_sim(self) -> MujocoSim:
        if self.sim is None:
            raise RobotBackendError("the simulation backend is not started; call start() first")
        return self.sim

    def read_state(self) -> RobotState:
        return self._need_sim().robot_state(self._state)

    def apply_action(self, action: np.ndarray) -> None:
        sim = self._need_sim()
        action = np.asarray(action, dtype=float)
        if action.shape != (g1.ACTION_DIM,) or not np.all(np.isfinite(action)):
            raise RobotBackendError(f"refusing action of shape {action.shape} with NaN/inf or wrong size")
        if self._damping:
            return
        hand_q, arm_q, lower = g1.unpack_action(action)
        sim.set_joint_targets(g1.HAND_JOINTS, hand_q)
        sim.set_joint_targets(g1.ARM_JOINTS, arm_q)
        sim.set_lower_body_command(g1.LowerBodyCommand.from_array(lower))

    def damp(self) -> None:
        sim = self._need_sim()
        self._damping = True
        sim.set_damping()
        sim.set_lower_body_command(
            g1.LowerBodyCommand(sim.lower_body_cmd.torso_rpy, sim.lower_body_cmd.torso_height, 0.0, 0.0, 0.0, sim.base.yaw)
        )

    def release(self) -> None:
        sim = self._need_sim()
        self._damping = False
        sim.set_motor_commands(sim.robot_state().q, np.zeros(len(g1.MODEL_JOINTS)), sim.kp, sim.kd,
                               np.zeros(len(g1.MODEL_JOINTS)))

    @property
    def link_status(self) -> LinkStatus:
        if self.sim is None:
            return LinkStatus.DISCONNECTED
        return LinkStatus.DAMPING if self._damping else LinkStatus.OK

    def step(self, dt: float) -> None:
        self._need_sim().step(max(1, int(round(dt / PHYSICS_DT))))
