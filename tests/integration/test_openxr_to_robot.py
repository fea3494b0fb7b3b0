"""End to end: scripted OpenXR runtime → OpenXR backend → calibration → loop → simulated G1.

The real OpenXR loader loads the scripted runtime; the operator holds wrist trackers at
poses the calibration maps to reachable robot targets and presses A to engage. The scene has
no table: the engage ramp blends in joint space, and a table in the hands' path would catch them. At steady
state the robot's measured wrists must be within 1 cm of the calibrated targets.
"""

import numpy as np

from teleop.app import SessionOptions, build_session
from teleop.inputs.openxr_convert import stage_to_xr
from teleop.spatial import mat_to_pose

#: Robot-space wrist targets the operator reaches for (base frame) [m].
TARGETS = {"left": np.array([0.16, 0.24, 0.93]), "right": np.array([0.18, -0.26, 0.90])}


def _line(path: str, pose_stage: np.ndarray) -> str:
    p, q = stage_to_xr(pose_stage)
    return f"pose {path} " + " ".join(f"{v:.6f}" for v in (*p, *q))


def _script(mapping) -> str:
    lines = [
        "device /user/hand/left /interaction_profiles/oculus/touch_controller",
        "device /user/hand/right /interaction_profiles/oculus/touch_controller",
        "device /user/vive_tracker_htcx/role/left_wrist /interaction_profiles/htc/vive_tracker_htcx LHR-0001",
        "device /user/vive_tracker_htcx/role/right_wrist /interaction_profiles/htc/vive_tracker_htcx LHR-0002",
        "at 0",
    ]
    head = np.eye(4)
    head[:3, 3] = mapping.head_base_to_stage(mapping.head_robot)
    lines.append(_line("/user/head", mat_to_pose(head)))
    for side, target in TARGETS.items():
        T = np.eye(4)
        T[:3, 3] = mapping.base_to_stage(target)
        lines.append(_line(f"/user/vive_tracker_htcx/role/{side}_wrist/input/grip/pose", mat_to_pose(T)))
        lines.append(_line(f"/user/hand/{side}/input/grip/pose", mat_to_pose(T)))
    lines += ["at 0.5", "value /user/hand/right/input/a/click 1", "at 0.7", "value /user/hand/right/input/a/click 0"]
    return "\n".join(lines) + "\n"


def test_robot_wrists_follow_calibrated_openxr_targets_within_1cm(xr_script):
    from calibration import CalibrationProfile, OperatorToRobot

    mapping = OperatorToRobot(CalibrationProfile(name="default"))
    xr_script(_script(mapping))
    session = build_session(SessionOptions(input="openxr", robot="sim", task=None))
    loop = session.loop
    try:
        loop.start()
        loop.run(duration=6.0)  # real time: 0.5 s idle, 2 s engage ramp, then steady state
        assert loop.safety.state.value == "engaged", list(loop.safety.events)
        sim = loop.backend.sim
        for side, target in TARGETS.items():
            measured, _ = sim.body_pose(f"{side}_wrist_yaw_link")
            calibrated = loop.mapping.targets(loop.frame)
            want = getattr(calibrated, f"T_base_{side}_wrist")[:3, 3]
            assert np.linalg.norm(want - target) < 0.005  # the runtime → stage → calibration chain
            err_mm = np.linalg.norm(measured - want) * 1e3  # robot at the origin: base = world
            assert err_mm < 10.0, (f"{side} wrist is {err_mm:.1f} mm from its calibrated target; IK error "
                                   f"{loop.last_solution.info.wrist_position_error * 1e3} mm, torso {loop.action[28:32]}, "
                                   f"arm cmd {loop.action[14:28].round(3)} measured {loop.last_state.q[sim.embodiment.indices(__import__('teleop.robot.g1', fromlist=['x']).ARM_JOINTS)].round(3)} ticks {loop.ticks} simt {sim.time:.2f}")
    finally:
        session.close()
