"""RealSense: the real pyrealsense2 library with no camera attached, and the stamp conversion."""

from __future__ import annotations

import pytest

from teleop.cameras import CameraError, CameraState, parse_camera
from teleop.cameras.realsense import host_stamp


def test_host_stamp_maps_global_time_to_the_monotonic_clock():
    # wall 1_700_000_000.500 s at monotonic 42.0 s; the frame was captured at wall ...000.470 s
    t = host_stamp(1_700_000_000_470.0, True, arrival=42.0, wall_now=1_700_000_000.5, mono_now=42.0)
    assert t == pytest.approx(41.970, abs=1e-6)  # 30 ms before now
    assert host_stamp(123.0, False, arrival=42.0, wall_now=0.0, mono_now=42.0, latency_s=0.02) == pytest.approx(41.98)
    # a wall-clock step that puts the frame in the future is clipped to the arrival
    assert host_stamp(1_700_000_001_000.0, True, arrival=42.0, wall_now=1_700_000_000.5, mono_now=42.0) == 42.0


def test_no_camera_connected_is_reported_with_the_fix():
    try:
        import pyrealsense2 as rs
    except ImportError as exc:
        pytest.skip(f"pyrealsense2 (extra 'realsense') cannot be imported: {exc}")
    if len(rs.context().query_devices()) > 0:
        pytest.skip("a RealSense is connected; this test checks the no-camera message")
    from teleop.cameras.realsense import RealSenseCameraSource

    src = RealSenseCameraSource(parse_camera("head=realsense", open_timeout_s=1.0))
    try:
        with pytest.raises(CameraError, match="no RealSense camera is connected; plug it into a USB 3 port"):
            src.start(wait=True)
        assert src.health().state is CameraState.FAILED
    finally:
        src.stop()
