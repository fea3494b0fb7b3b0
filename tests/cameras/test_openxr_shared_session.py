"""OpenXR input and headset view in one process, through one OpenXR session.

The scripted runtime refuses a second instance or session (XR_ERROR_LIMIT_REACHED) and
counts, per instance, the sessions created (with or without a graphics binding), the
refused creations and the xrLocateSpace / xrSyncActions calls; it writes them next to the
picture it read back from the submitted quad. So these tests see both sides: the input
backend's poses (scripted, converted to the stage frame) and the view's picture, pixel for
pixel, while both use the same graphics session.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from teleop import clock
from teleop.inputs import SourceStatus
from teleop.operator_frame import ControllerAxis, OperatorFrame, Side, TrackerRole
from tests.cameras.conftest import read_meta, read_ppm
from tests.cameras.test_openxr_view import (
    STRIP,
    _Feed,
    _pattern,
    _wait_for_dump,
    _wait_until,
)
from tests.inputs.test_openxr_backend import RIG

pytest.importorskip("xr", reason="pyopenxr (extra 'openxr') is not installed")
pytest.importorskip("PIL", reason="Pillow (extra 'openxr') is not installed")


@pytest.fixture
def shared():
    """``shared(config=None)`` -> (xr_session, source, view, feed); everything stopped afterwards."""
    from teleop.inputs.openxr_backend import OpenXRSource
    from teleop.inputs.openxr_session import OpenXRSession
    from teleop.inputs.openxr_view import HeadsetView, HeadsetViewConfig

    made = []

    def make(config=None):
        xs = OpenXRSession(ready_timeout_s=5.0)
        source = OpenXRSource(config, session=xs)
        feed = _Feed()
        view = HeadsetView(feed, None, HeadsetViewConfig(strip_px=STRIP), session=xs)
        made.append((source, view))
        return xs, source, view, feed

    yield make
    for source, view in made:
        view.stop()
        source.stop()


def _poll(source, frame, until, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        source.poll(frame)
        if until(frame):
            return True
        time.sleep(0.01)
    return False


def test_input_reads_poses_while_the_view_submits_frames_through_one_session(xr_view_runtime, shared):
    dump = xr_view_runtime(RIG + "display_hz 120\n")
    xs, source, view, feed = shared()
    img = _pattern(48, 64, seed=11)
    feed.put(img.copy())
    source.start()
    view.start()
    assert xs.graphics and xs.frame_loop_running
    assert source.xr_session is xs and view.xr_session is xs
    assert "XR_MND_headless" not in source.extensions  # a graphics session: no headless extension

    frame = OperatorFrame()
    submitted0 = view.stats().frames_submitted
    n_polls = 0
    deadline = time.monotonic() + 5.0
    while view.stats().frames_submitted < submitted0 + 20 and time.monotonic() < deadline:
        assert source.poll(frame)  # the loop thread polls while the frame thread submits
        n_polls += 1
        time.sleep(0.005)
    assert view.stats().frames_submitted >= submitted0 + 20 and n_polls >= 10
    # the scripted poses, in the stage frame (see tests/inputs/test_openxr_backend.py)
    assert frame.head_valid
    np.testing.assert_allclose(frame.head_pose[:3], [0.2, -0.1, 1.6], atol=1e-5)
    assert frame.controller_valid.all()
    np.testing.assert_allclose(frame.controller_pose[Side.LEFT, :3], [0.3, 0.2, 1.1], atol=1e-5)
    assert frame.controller_axes[Side.RIGHT, ControllerAxis.TRIGGER] == pytest.approx(0.75)
    assert frame.tracker_valid[TrackerRole.WAIST] and frame.hand_valid[Side.LEFT]

    meta = _wait_for_dump(dump, int(read_meta(dump)["frame"][0]) + 2, quad=True)
    np.testing.assert_array_equal(read_ppm(dump)[STRIP:], img)  # the picture put in is the picture received
    assert meta["sessions_created"] == ["1"] and meta["graphics_sessions_created"] == ["1"]
    assert meta["refused_creates"] == ["0"]
    assert int(meta["locates"][0]) > 0 and int(meta["syncs"][0]) >= n_polls  # the input's calls, same instance

    # the session stays while one client uses it: the input stops, the view goes on
    source.stop()
    assert source.status is SourceStatus.STOPPED and xs.is_open and view.running
    n = view.stats().frames_submitted
    _wait_until(lambda: view.stats().frames_submitted > n + 5)
    view.stop()
    assert not xs.is_open
    assert not any(t.name == "openxr-frames" and t.is_alive() for t in threading.enumerate())


def test_poses_can_be_located_at_the_predicted_display_time(xr_view_runtime, shared):
    from teleop.inputs.openxr_config import OpenXRConfig

    xr_view_runtime(RIG + "display_hz 50\n")
    xs, source, view, feed = shared(OpenXRConfig(predict_to_display=True))
    feed.put(_pattern(8, 8, seed=12))
    source.start()
    view.start()
    _wait_until(lambda: xs.display_time_ns is not None)
    frame = OperatorFrame()
    before = clock.now()
    source.poll(frame)
    assert frame.head_valid
    # stamped at a display time: after the poll, at most one 20 ms display period ahead
    assert before < frame.stamp <= clock.now() + 0.02 + 1e-3
    t_xr = source._time.to_xr(frame.stamp)
    assert (t_xr - xs.display_time_ns) % xs.display_period_ns in (0, 1, xs.display_period_ns - 1)


def test_view_works_on_a_runtime_without_headless(xr_view_runtime, shared):
    """A runtime without XR_MND_headless (e.g. Meta's) serves the input through the view's graphics session."""
    dump = xr_view_runtime("extensions XR_KHR_opengl_enable XR_MNDX_egl_enable XR_KHR_convert_timespec_time\n"
                           + RIG)
    _, source, view, feed = shared()
    img = _pattern(20, 24, seed=13)
    feed.put(img.copy())
    source.start()
    view.start()
    frame = OperatorFrame()
    assert _poll(source, frame, lambda f: f.head_valid and f.controller_valid.all())
    _wait_for_dump(dump, 3, quad=True)
    np.testing.assert_array_equal(read_ppm(dump)[STRIP:], img)


def test_runtime_loss_reaches_both_and_they_stop_cleanly(xr_view_runtime, shared):
    xr_view_runtime(RIG + "at 0.3\nevent session_loss\n")
    xs, source, view, feed = shared()
    feed.put(_pattern(8, 8, seed=14))
    source.start()
    view.start()
    frame = OperatorFrame()
    assert _poll(source, frame, lambda f: source.lost)
    assert "lost the session" in source.lost_reason
    assert not frame.head_valid and not frame.controller_valid.any()
    _wait_until(lambda: not view.running)
    assert source.poll(frame) and not frame.head_valid  # frames keep coming, invalid
    view.stop()
    source.stop()
    assert not xs.is_open
    assert not any(t.name == "openxr-frames" and t.is_alive() for t in threading.enumerate())


def test_view_created_after_a_headless_start_is_refused_with_the_order(xr_view_runtime):
    from teleop.exceptions import InputDeviceError
    from teleop.inputs.openxr_backend import OpenXRSource
    from teleop.inputs.openxr_session import OpenXRSession
    from teleop.inputs.openxr_view import HeadsetView

    xr_view_runtime(RIG)
    xs = OpenXRSession()
    source = OpenXRSource(session=xs)
    source.start()
    try:
        assert not xs.graphics
        with pytest.raises(InputDeviceError, match="create the headset view before starting the OpenXR input"):
            HeadsetView(_Feed(), session=xs)
    finally:
        source.stop()
    assert not xs.is_open


def test_a_second_private_session_is_refused(xr_view_runtime, shared):
    """Without sharing, the runtime's one-instance rule still holds, and the message says how to share."""
    from teleop.exceptions import InputDeviceError
    from teleop.inputs.openxr_view import HeadsetView

    xr_view_runtime(RIG)
    _, source, view, feed = shared()
    feed.put(_pattern(8, 8, seed=15))
    source.start()
    view.start()
    other = HeadsetView(feed)  # its own session
    with pytest.raises(InputDeviceError, match="already open.*pass the same OpenXRSession"):
        other.start()
    assert view.running


def test_teleop_session_with_openxr_input_and_headset_view_shares_one_session(xr_view_runtime):
    """``psi-teleop teleop --input openxr --headset-view --camera head``: what build_session wires."""
    from teleop.app import SessionOptions, build_session

    dump = xr_view_runtime(RIG + "display_hz 60\n")
    session = build_session(SessionOptions(input="openxr", robot="sim", task=None, cameras=("head",),
                                           headset_view=True))
    view = session.headset_view
    xs = view.xr_session
    loop = session.loop
    try:
        assert view is not None and view.running
        loop.start()
        assert loop.source.xr_session is view.xr_session and view.xr_session.graphics
        loop.run(duration=1.5)
        assert loop.frame.head_valid  # the input polled through the view's session
        np.testing.assert_allclose(loop.frame.head_pose[:3], [0.2, -0.1, 1.6], atol=1e-5)
        _wait_until(lambda: view.stats().new_frames >= 1, timeout=30.0)  # a rendered head-camera picture
        meta = _wait_for_dump(dump, int(read_meta(dump)["frame"][0]) + 1, quad=True)
        assert meta["sessions_created"] == ["1"] and meta["graphics_sessions_created"] == ["1"]
        assert int(meta["syncs"][0]) > 0
        picture = read_ppm(dump)[STRIP:]
        assert picture.shape[:2] == view.image_size and picture.std() > 1.0  # a scene, not a blank texture
    finally:
        session.close()  # stops the view as well
    assert not view.running and not xs.is_open


def test_headset_view_needs_a_head_camera():
    from teleop.app import SessionOptions
    from teleop.exceptions import ConfigError

    with pytest.raises(ConfigError, match="--headset-view shows the head camera: add --camera head"):
        SessionOptions(input="scripted", robot="sim", cameras=("left_wrist",), headset_view=True)


def test_y_button_switches_the_headset_between_robot_view_and_passthrough(xr_view_runtime):
    """The operator presses Y (left controller): passthrough; again: the robot's view."""
    from teleop.app import SessionOptions, build_session

    script = """
blend_modes opaque alpha_blend
display_hz 60
device /user/hand/left /interaction_profiles/oculus/touch_controller
device /user/hand/right /interaction_profiles/oculus/touch_controller
at 0
pose /user/head 0.1 1.6 -0.2 0 0 0 1
pose /user/hand/left/input/grip/pose -0.2 1.1 -0.3 0 0 0 1
pose /user/hand/right/input/grip/pose 0.25 1.05 -0.4 0 0 0 1
at 0.6
value /user/hand/left/input/y/click 1
at 0.9
value /user/hand/left/input/y/click 0
"""
    dump = xr_view_runtime(script)
    session = build_session(SessionOptions(input="openxr", robot="sim", task=None, cameras=("head",),
                                           headset_view=True))
    view, loop = session.headset_view, session.loop
    try:
        loop.start()
        assert not view.passthrough
        t0 = loop.clock()
        loop.run(until=lambda: view.passthrough or loop.clock() - t0 > 10.0)
        assert view.passthrough  # one press, one switch
        loop.run(duration=0.6)
        assert view.passthrough  # held and released: still on (edges, not levels)
        meta = _wait_for_dump(dump, int(read_meta(dump)["frame"][0]) + 2)
        assert int(meta["blend"][0]) == 3 and int(meta["layers"][0]) == 0  # the room, no robot picture
        assert session.toggle_passthrough() is False  # the console/API path switches back
        meta = _wait_for_dump(dump, int(meta["frame"][0]) + 3)
        assert int(meta["blend"][0]) == 1 and int(meta["layers"][0]) == 1
    finally:
        session.close()
