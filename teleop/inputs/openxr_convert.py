"""OpenXR's y-up frame to psi-teleop's z-up stage frame: the one place this happens.

OpenXR stage/local space: x right, y up, -z forward, quaternions ``xyzw``. The stage frame of
:mod:`teleop.operator_frame`: x forward, y left, z up, quaternions ``wxyz``. The change of
basis is the fixed proper rotation

    C = [[ 0, 0, -1],      x_stage = -z_xr   (forward)
         [-1, 0,  0],      y_stage = -x_xr   (left)
         [ 0, 1,  0]]      z_stage =  y_xr   (up)

and every pose is re-expressed in both its reference and its body axes,
``T_stage_X = C T_xr_X C^T``: positions ``p_stage = C p_xr`` and orientations
``R_stage = C R_xr C^T``. For a unit quaternion that is the vector part rotated by ``C`` with
the scalar part unchanged, ``q_stage = (w, -z, -x, y)``. A device that OpenXR reports with
identity orientation (looking down -z, y up) therefore has identity orientation in the stage
frame (looking down +x, z up): the head's x axis points where the operator looks.

Hand joints follow the same rule: OpenXR's joint frames have -z along the finger towards the
tip and +y out of the back of the hand; after conversion the finger points along +x and the
back of the hand along +z.
"""

from __future__ import annotations

import numpy as np

#: The change of basis from OpenXR's y-up axes to the z-up stage axes (rows: stage axes).
C_STAGE_XR = np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def xr_to_stage(p_xr: np.ndarray, quat_xr_xyzw: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Write ``T_stage_X`` pose rows ``[x y z qw qx qy qz]`` from OpenXR poses, vectorised.

    Args:
        p_xr: (..., 3) positions in OpenXR's frame [m].
        quat_xr_xyzw: (..., 4) unit quaternions in OpenXR's ``xyzw`` order.
        out: (..., 7) destination, written in place (no allocation beyond numpy temporaries).

    Returns:
        ``out``.
    """
    out[..., 0] = -p_xr[..., 2]
    out[..., 1] = -p_xr[..., 0]
    out[..., 2] = p_xr[..., 1]
    out[..., 3] = quat_xr_xyzw[..., 3]
    out[..., 4] = -quat_xr_xyzw[..., 2]
    out[..., 5] = -quat_xr_xyzw[..., 0]
    out[..., 6] = quat_xr_xyzw[..., 1]
    return out


def stage_to_xr(pose_stage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`xr_to_stage`: ``(p_xr (...,3), quat_xr_xyzw (...,4))`` from stage pose rows.

    Used to write scripts for the test runtime and by the PICO backend's tests; the backends
    themselves only ever convert towards the stage frame.
    """
    pose_stage = np.asarray(pose_stage, dtype=float)
    p_xr = np.stack([-pose_stage[..., 1], pose_stage[..., 2], -pose_stage[..., 0]], axis=-1)
    q_xr = np.stack([-pose_stage[..., 5], pose_stage[..., 6], -pose_stage[..., 4], pose_stage[..., 3]], axis=-1)
    return p_xr, q_xr
