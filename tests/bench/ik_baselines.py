"""Baselines for ``bench_ik``: today's tools, rebuilt from our model so both sides solve the same problem.

* :class:`CasadiArmIK` — the arm IK of Unitree's G1 teleoperation (xr_teleoperate's
  ``G1_29_ArmIK``, ``teleop/robot_control/robot_arm_ik.py``): CasADi ``Opti`` + IPOPT on the
  14 arm joints with the waist fixed, cost
  ``50 |p - p*|^2 + |r(R, R*)|^2 + 0.02 |q|^2 + 0.1 |q - q_last|^2`` summed over both wrists,
  initial guess and smoothness reference the last solution, and the solver options of
  xr_teleoperate today (:data:`XR_TELEOPERATE_OPTIONS`: ``expand``, simple-bound detection,
  ``max_iter`` 15, ``tol`` 1e-4, ``acceptable_tol`` 5e-4 after 5 iterations, warm-start init
  point, exact Jacobians). :data:`LEGACY_OPTIONS` are the options of the earlier
  avp_teleoperate / xr_teleoperate versions (no ``expand``, ``max_iter`` 50, ``tol`` 1e-6),
  benchmarked as a second row. Not included (it would only add to the baseline's time): the
  weighted moving filter and the ``rnea`` feed-forward torque the tool computes after each
  solve. The forward
  kinematics is written symbolically from our Pinocchio model's joint placements (the
  installed pinocchio has no CasADi bindings). The rotation error is
  ``r = vee(R R*^T - R* R^T) / 2`` (= ``sin θ · axis``, ``log3`` to first order and smooth
  at zero, where IPOPT needs it). The baseline is given the true torso pose.
* :func:`dex3_urdf` + :func:`dex_retargeting_vector_optimizer` — ``dex-retargeting``'s
  ``VectorOptimizer`` (nlopt SLSQP + torch autograd) on a URDF of our Dex3-1 subchain,
  written at run time from the MJCF-derived Pinocchio hand model into a temporary
  directory (no download, no copy of a robot file), rooted so its vectors are those of
  :class:`ik.HandRetargeter`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ik.hand_retargeter import HandRetargeter
from ik.upper_body import UpperBodyIK
from teleop.robot import g1

_AXES = {"JointModelRX": 0, "JointModelRY": 1, "JointModelRZ": 2}


#: CasADi/IPOPT options of xr_teleoperate's ``G1_29_ArmIK`` (current version: ``max_iter`` lowered
#: from 30 to 15 there, "real motion converges in 4-8 iterations").
XR_TELEOPERATE_OPTIONS = {
    "expand": True, "detect_simple_bounds": True, "calc_lam_p": False, "print_time": False,
    "ipopt.sb": "yes", "ipopt.print_level": 0, "ipopt.max_iter": 15, "ipopt.tol": 1e-4,
    "ipopt.acceptable_tol": 5e-4, "ipopt.acceptable_iter": 5, "ipopt.warm_start_init_point": "yes",
    "ipopt.derivative_test": "none", "ipopt.jacobian_approximation": "exact",
}
#: Options of the earlier avp_teleoperate / xr_teleoperate arm IK.
LEGACY_OPTIONS = {"print_time": False, "calc_lam_p": False,
                  "ipopt": {"print_level": 0, "max_iter": 50, "tol": 1e-6, "sb": "yes"}}


class CasadiArmIK:
    """xr_teleoperate-style CasADi + IPOPT arm IK on our G1 model (see the module docstring)."""

    def __init__(self, ik: UpperBodyIK, options: dict | None = None):
        import casadi as ca

        self._ik = ik
        model = ik.model
        self._ca = ca
        self._chains = {}
        for side, joints in (("left", g1.LEFT_ARM_JOINTS), ("right", g1.RIGHT_ARM_JOINTS)):
            chain = []
            for name in joints:
                jid = model.getJointId(name)
                chain.append((model.jointPlacements[jid].homogeneous, _AXES[model.joints[jid].shortname()]))
            fid = model.getFrameId(g1.WRIST_FRAMES[side])
            self._chains[side] = (model.parents[model.getJointId(joints[0])], chain, model.frames[fid].placement.homogeneous)
        self._data = model.createData()

        # As the original: error terms as SX casadi.Functions (there built with pinocchio.casadi),
        # called on the Opti (MX) variables.
        q_sx = ca.SX.sym("q", 14)
        T_target_sx = {s: ca.SX.sym(f"T_{s}", 4, 4) for s in g1.SIDES}
        T_root_sx = {s: ca.SX.sym(f"R_{s}", 4, 4) for s in g1.SIDES}
        trans, rot = [], []
        for k, side in enumerate(g1.SIDES):
            _, chain, T_joint_wrist = self._chains[side]
            T = T_root_sx[side]
            for j, (M, axis) in enumerate(chain):
                T = T @ ca.DM(M) @ self._rot(axis, q_sx[7 * k + j])
            T = T @ ca.DM(T_joint_wrist)
            Tt = T_target_sx[side]
            trans.append(T[0:3, 3] - Tt[0:3, 3])
            E = T[0:3, 0:3] @ Tt[0:3, 0:3].T
            E = 0.5 * (E - E.T)
            rot.append(ca.vertcat(E[2, 1], E[0, 2], E[1, 0]))
        args = [q_sx, T_target_sx["left"], T_target_sx["right"], T_root_sx["left"], T_root_sx["right"]]
        translational_error = ca.Function("translational_error", args, [ca.vertcat(*trans)])
        rotational_error = ca.Function("rotational_error", args, [ca.vertcat(*rot)])

        opti = ca.Opti()
        q = opti.variable(14)
        self._q_last = opti.parameter(14)
        self._T_target = {s: opti.parameter(4, 4) for s in g1.SIDES}
        self._T_root = {s: opti.parameter(4, 4) for s in g1.SIDES}
        call = [q, self._T_target["left"], self._T_target["right"], self._T_root["left"], self._T_root["right"]]
        cost = (50.0 * ca.sumsqr(translational_error(*call)) + ca.sumsqr(rotational_error(*call))
                + 0.02 * ca.sumsqr(q) + 0.1 * ca.sumsqr(q - self._q_last))
        lo, hi = ik.q_min[4:18], ik.q_max[4:18]
        opti.subject_to(opti.bounded(lo, q, hi))
        opti.minimize(cost)
        opti.solver("ipopt", dict(XR_TELEOPERATE_OPTIONS if options is None else options))
        self._opti = opti
        self._q = q
        self._q_value = np.clip(np.zeros(14), lo, hi)

    def _rot(self, axis: int, angle):
        ca = self._ca
        c, s = ca.cos(angle), ca.sin(angle)
        one, zero = 1.0, 0.0
        if axis == 0:
            rows = [[one, zero, zero, zero], [zero, c, -s, zero], [zero, s, c, zero]]
        elif axis == 1:
            rows = [[c, zero, s, zero], [zero, one, zero, zero], [-s, zero, c, zero]]
        else:
            rows = [[c, -s, zero, zero], [s, c, zero, zero], [zero, zero, one, zero]]
        rows.append([zero, zero, zero, one])
        return ca.vertcat(*[ca.horzcat(*r) for r in rows])

    def reset(self, arm_q: np.ndarray) -> None:
        self._q_value = np.asarray(arm_q, dtype=float).copy()

    def solve(self, T_base_left: np.ndarray, T_base_right: np.ndarray, torso_rpy: np.ndarray,
              torso_height: float) -> np.ndarray:
        """Arm joints (14,) for the two wrist targets, the torso held at the given (true) pose."""
        import pinocchio as pin

        ik = self._ik
        q_full = ik.q_posture.copy()
        q_full[0] = torso_height
        q_full[[2, 3, 1]] = torso_rpy
        pin.forwardKinematics(ik.model, self._data, q_full)
        opti = self._opti
        for side, T in (("left", T_base_left), ("right", T_base_right)):
            parent = self._chains[side][0]
            opti.set_value(self._T_root[side], self._data.oMi[parent].homogeneous)
            opti.set_value(self._T_target[side], T)
        opti.set_value(self._q_last, self._q_value)
        opti.set_initial(self._q, self._q_value)
        try:
            sol = opti.solve()
            q = np.asarray(sol.value(self._q), dtype=float).reshape(14)
        except RuntimeError:  # IPOPT hit max_iter: take its last iterate, as the teleop tool does
            q = np.asarray(opti.debug.value(self._q), dtype=float).reshape(14)
        self._q_value = q
        return q


def dex3_urdf(hr: HandRetargeter, directory: Path) -> Path:
    """Write a URDF of ``hr``'s Dex3-1 model, rooted at its canonical hand frame, into ``directory``.

    Links: ``canonical`` (root, at the palm point, axes of :func:`ik.hand_retargeter.human_hand_frame`),
    ``wrist`` (fixed), one link per joint, and ``thumb_tip``/``index_tip``/``middle_tip``.
    """
    import pinocchio as pin

    model = hr.model
    R, p = hr._R_wrist_frame, hr._p_wrist_palm  # canonical frame in the wrist frame

    def origin(M: np.ndarray) -> str:
        rpy = pin.rpy.matrixToRpy(M[:3, :3])
        return (f'<origin xyz="{M[0, 3]:.9f} {M[1, 3]:.9f} {M[2, 3]:.9f}" '
                f'rpy="{rpy[0]:.9f} {rpy[1]:.9f} {rpy[2]:.9f}"/>')

    inertial = '<inertial><mass value="0.05"/><inertia ixx="1e-5" ixy="0" ixz="0" iyy="1e-5" iyz="0" izz="1e-5"/></inertial>'
    T_canonical_wrist = np.eye(4)
    T_canonical_wrist[:3, :3] = R.T
    T_canonical_wrist[:3, 3] = -R.T @ p
    parts = ['<?xml version="1.0"?>', f'<robot name="dex3_{hr.side}_generated">',
             f'<link name="canonical">{inertial}</link>', f'<link name="wrist">{inertial}</link>',
             (f'<joint name="canonical_to_wrist" type="fixed"><parent link="canonical"/><child link="wrist"/>'
              f'{origin(T_canonical_wrist)}</joint>')]
    link_of = {0: "wrist"}
    for jid in range(1, model.njoints):
        name = model.names[jid]
        link = name.replace("_joint", "_link")
        link_of[jid] = link
        axis = ("1 0 0", "0 1 0", "0 0 1")[_AXES[model.joints[jid].shortname()]]
        iq = model.joints[jid].idx_q
        parts.append(f'<link name="{link}">{inertial}</link>')
        parts.append(
            f'<joint name="{name}" type="revolute"><parent link="{link_of[model.parents[jid]]}"/>'
            f'<child link="{link}"/>{origin(model.jointPlacements[jid].homogeneous)}<axis xyz="{axis}"/>'
            f'<limit lower="{model.lowerPositionLimit[iq]:.6f}" upper="{model.upperPositionLimit[iq]:.6f}" '
            f'effort="2" velocity="6"/></joint>')
    for finger in ("thumb", "index", "middle"):
        frame = model.frames[model.getFrameId(f"{finger}_tip")]
        parts.append(f'<link name="{finger}_tip">{inertial}</link>')
        parts.append(f'<joint name="{finger}_tip_joint" type="fixed"><parent link="{link_of[frame.parentJoint]}"/>'
                     f'<child link="{finger}_tip"/>{origin(frame.placement.homogeneous)}</joint>')
    parts.append("</robot>")
    path = Path(directory) / f"dex3_{hr.side}.urdf"
    path.write_text("\n".join(parts))
    return path


def dex_retargeting_vector_optimizer(hr: HandRetargeter, urdf: Path):
    """dex-retargeting's ``VectorOptimizer`` for the same five vectors as ``hr`` (canonical frame)."""
    from dex_retargeting.optimizer import VectorOptimizer
    from dex_retargeting.robot_wrapper import RobotWrapper

    robot = RobotWrapper(str(urdf))
    origins = ["canonical", "canonical", "canonical", "thumb_tip", "thumb_tip"]
    tasks = ["thumb_tip", "index_tip", "middle_tip", "index_tip", "middle_tip"]
    human_idx = np.array([[0, 0, 0, 4, 4], [4, 8, 12, 8, 12]])  # MANO-style indices, unused: we pass vectors
    opt = VectorOptimizer(robot, list(hr.joint_names), origins, tasks, human_idx, scaling=hr.config.scale)
    limits = np.stack([robot.model.lowerPositionLimit, robot.model.upperPositionLimit], axis=1)
    opt.set_joint_limit(limits[opt.idx_pin2target])
    return opt
