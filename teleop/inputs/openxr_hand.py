"""Hand-joint location for ``XR_EXT_hand_tracking`` through a preallocated ctypes buffer.

pyopenxr's generated ``xr.locate_hand_joints_ext`` hands the runtime an empty joint array, so
it cannot return joints. :class:`HandJointLocator` calls ``xrLocateHandJointsEXT`` itself with
a 26-joint ``XrHandJointLocationEXT`` buffer it owns, and reads that buffer as a numpy
structured array without copying, so converting all 26 joints is one vectorised call.
"""

from __future__ import annotations

import ctypes

import numpy as np

from teleop.inputs.openxr_convert import xr_to_stage
from teleop.operator_frame import N_HAND_JOINTS

#: ``XrSpaceLocationFlags`` bits that make a joint pose usable.
_VALID_BITS = 0x1 | 0x2  # ORIENTATION_VALID | POSITION_VALID

#: numpy view of ``XrHandJointLocationEXT`` (flags u64, XrPosef = quat xyzw + position, radius).
_JOINT_DTYPE = np.dtype([("flags", "<u8"), ("q", "<f4", 4), ("p", "<f4", 3), ("radius", "<f4")])


class HandJointLocator:
    """Locates the 26 joints of one hand tracker into OperatorFrame rows.

    Args:
        xr: the imported ``xr`` (pyopenxr) module.
        instance: the ``xr.Instance`` (to look up ``xrLocateHandJointsEXT`` once).
        hand_tracker: an ``xr.HandTrackerEXT`` created with ``XR_HAND_JOINT_SET_DEFAULT_EXT``.
    """

    def __init__(self, xr, instance, hand_tracker):
        if ctypes.sizeof(xr.HandJointLocationEXT) != _JOINT_DTYPE.itemsize:
            raise RuntimeError(
                f"pyopenxr's XrHandJointLocationEXT is {ctypes.sizeof(xr.HandJointLocationEXT)} bytes, "
                f"expected {_JOINT_DTYPE.itemsize}; this pyopenxr version is not supported"
            )
        self._tracker = hand_tracker
        fn_type = ctypes.CFUNCTYPE(
            ctypes.c_int, xr.HandTrackerEXT, ctypes.POINTER(xr.HandJointsLocateInfoEXT),
            ctypes.POINTER(xr.HandJointLocationsEXT),
        )
        self._locate = ctypes.cast(xr.get_instance_proc_addr(instance, "xrLocateHandJointsEXT"), fn_type)
        self._buffer = (xr.HandJointLocationEXT * N_HAND_JOINTS)()
        self._locations = xr.HandJointLocationsEXT(joint_count=N_HAND_JOINTS, joint_locations=self._buffer)
        # array_field_helper may copy into its own array: view whatever the struct points at.
        self._joints = np.ctypeslib.as_array(
            ctypes.cast(self._locations._joint_locations, ctypes.POINTER(ctypes.c_uint8)),
            shape=(N_HAND_JOINTS * _JOINT_DTYPE.itemsize,),
        ).view(_JOINT_DTYPE)
        self._info = xr.HandJointsLocateInfoEXT()
        self._info_ref = ctypes.byref(self._info)
        self._locations_ref = ctypes.byref(self._locations)

    def locate(self, base_space, time_xr: int, out_pose: np.ndarray, out_radii: np.ndarray) -> tuple[int, bool]:
        """Locate the joints at XrTime ``time_xr`` [ns] in ``base_space``.

        Writes ``T_stage_<joint>`` rows into ``out_pose`` (26, 7) and radii [m] into
        ``out_radii`` (26,) when the hand is tracked.

        Returns:
            ``(result, valid)``: the raw ``XrResult`` and whether the hand is active with every
            joint's position and orientation valid.
        """
        self._info.base_space = base_space
        self._info.time = time_xr
        result = self._locate(self._tracker, self._info_ref, self._locations_ref)
        if result < 0 or not self._locations.is_active:
            return result, False
        if not np.all((self._joints["flags"] & _VALID_BITS) == _VALID_BITS):
            return result, False
        xr_to_stage(self._joints["p"], self._joints["q"], out_pose)
        out_radii[:] = self._joints["radius"]
        return result, True

    def tracked(self) -> bool:
        """Whether the last located sample had every joint actively tracked (not inferred)."""
        return bool(self._locations.is_active) and bool(np.all((self._joints["flags"] & 0xC) == 0xC))
