"""UVC source through the real OpenCV path, fed a video file (no camera on CI)."""

from __future__ import annotations

import numpy as np
import pytest

from teleop.cameras import CameraError, CameraState, parse_camera
from teleop.cameras.uvc import DRIVER_STAMP_WINDOW_S, driver_stamp

cv2 = pytest.importorskip("cv2", reason="OpenCV (extra 'cameras') is not installed")


def _write_video(path, n=6, h=32, w=48):
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (w, h))
    assert out.isOpened()
    colours = []
    for i in range(n):
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[..., i % 3] = 40 + 30 * i
        colours.append(rgb[0, 0].copy())
        out.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    out.release()
    return colours


def test_video_file_frames_arrive_in_rgb_and_loop(tmp_path):
    path = tmp_path / "clip.avi"
    colours = _write_video(path)
    from teleop.cameras.uvc import UVCCameraSource

    src = UVCCameraSource(parse_camera(f"head=uvc:{path}", fps=60.0))
    assert src.is_file and src.describe() == f"video file {path}"
    src.start(wait=True)
    try:
        seen = []
        last = 0
        while len(seen) < 9:  # more frames than the file has: it plays again
            f = src.wait_frame(after_seq=last, timeout=5.0)
            assert f is not None
            last = f.seq
            seen.append(f.image[16, 24].astype(int))
        assert f.image.shape == (32, 48, 3)
        # RGB, not BGR: the first frame is red-only (within JPEG error)
        first = np.array(seen[0])
        assert first[0] > 30 and abs(first[1]) < 12 and abs(first[2]) < 12
        np.testing.assert_allclose(seen[len(colours)], seen[0], atol=12)
    finally:
        src.stop()


def test_missing_device_is_reported():
    from teleop.cameras.uvc import UVCCameraSource

    src = UVCCameraSource(parse_camera("head=uvc:/dev/video_psi_missing", open_timeout_s=0.5))
    try:
        with pytest.raises(CameraError, match="/dev/video_psi_missing does not exist; list cameras with `v4l2-ctl"):
            src.start(wait=True)
        assert src.health().state is CameraState.FAILED
    finally:
        src.stop()


def test_driver_stamp_is_used_only_on_our_clock():
    arrival = 1000.0
    assert driver_stamp(999_980.0, arrival) == pytest.approx(999.98)  # V4L2 monotonic buffer stamp, 20 ms old
    assert driver_stamp(5_000.0, arrival, latency_s=0.03) == pytest.approx(999.97)  # media time: arrival - latency
    assert driver_stamp((arrival - DRIVER_STAMP_WINDOW_S - 0.1) * 1e3, arrival) == arrival
    assert driver_stamp(1_000_050.0, arrival) == arrival  # "from the future": not our clock
