"""The headset view against the scripted OpenXR runtime: the picture put in is the picture received.

The runtime creates the swapchain textures in the view's own EGL context and, on
xrEndFrame, reads the submitted quad's image back with glReadPixels into a PPM file
(``PSI_XR_FRAME_DUMP``); these tests compare it pixel by pixel with the camera frame.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from teleop import clock
from teleop.cameras import CameraFrame, HeadsetViewError
from teleop.status import DeviceStatus, EngageState, EpisodeState, TeleopStatus
from tests.cameras.conftest import read_meta, read_ppm

pytest.importorskip("xr", reason="pyopenxr (extra 'openxr') is not installed")
pytest.importorskip("PIL", reason="Pillow (extra 'openxr') is not installed")

STRIP = 16  # [px] HeadsetViewConfig.strip_px used below


def _pattern(h: int, w: int, seed: int) -> np.ndarray:
    """A frame no scaling or flip maps onto itself: random pixels plus a marked top-left corner."""
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    img[:4, :4] = (255, 0, 0)
    return img


class _Feed:
    """A camera stand-in: the newest frame, replaced by the test."""

    def __init__(self):
        self.frame: CameraFrame | None = None
        self._seq = 0

    def put(self, image: np.ndarray) -> CameraFrame:
        self._seq += 1
        image.flags.writeable = False
        self.frame = CameraFrame(image, clock.now(), self._seq, clock.now())
        return self.frame

    def __call__(self):
        return self.frame


def _wait_for_dump(dump, frame_min: int, timeout: float = 10.0, quad: bool = False) -> dict:
    """The runtime's sidecar once it reports frame ``frame_min`` or later (with a quad layer if ``quad``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            meta = read_meta(dump)
            if int(meta["frame"][0]) >= frame_min and (int(meta["layers"][0]) == 0 or dump.exists()) and \
                    (not quad or "quad" in meta):
                return meta
        except (FileNotFoundError, KeyError, ValueError):
            pass
        time.sleep(0.02)
    raise AssertionError(f"the runtime reported no frame >= {frame_min} within {timeout} s")


def _wait_until(pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


@pytest.fixture
def view_factory():
    from teleop.inputs.openxr_view import HeadsetView, HeadsetViewConfig

    views = []

    def make(feed, status=None):
        v = HeadsetView(feed, status, HeadsetViewConfig(strip_px=STRIP, ready_timeout_s=5.0))
        views.append(v)
        return v

    yield make
    for v in views:
        v.stop()


def test_submitted_image_is_the_camera_frame_pixel_for_pixel(xr_view_runtime, view_factory):
    dump = xr_view_runtime("display_hz 120\n")
    feed = _Feed()
    img = _pattern(48, 64, seed=1)
    feed.put(img.copy())
    view = view_factory(feed)
    view.start()
    _wait_until(lambda: view.stats().frames_submitted >= 3)
    _wait_for_dump(dump, 3, quad=True)
    got = read_ppm(dump)
    assert got.shape == (48 + STRIP, 64, 3)
    np.testing.assert_array_equal(got[STRIP:], img)  # the camera picture, upright, unscaled
    assert view.swapchain_format == 0x8058  # linear RGBA8: bytes pass unchanged

    # a new frame replaces the picture
    img2 = _pattern(48, 64, seed=2)
    feed.put(img2.copy())
    n = view.stats().new_frames
    _wait_until(lambda: view.stats().new_frames > n)
    frames_now = int(read_meta(dump)["frame"][0])
    _wait_for_dump(dump, frames_now + 2)
    np.testing.assert_array_equal(read_ppm(dump)[STRIP:], img2)


def test_quad_follows_the_head_one_metre_ahead(xr_view_runtime, view_factory):
    dump = xr_view_runtime("")
    feed = _Feed()
    feed.put(_pattern(30, 40, seed=3))
    view = view_factory(feed)
    view.start()
    meta = _wait_for_dump(dump, 2, quad=True)  # (the session's frame loop may start before the view joins it)
    space, x, y, z, qx, qy, qz, qw, w_m, h_m = (float(v) for v in meta["quad"])
    assert space == 1  # XR_REFERENCE_SPACE_TYPE_VIEW: head-locked
    np.testing.assert_allclose([x, y, z], [0.0, 0.0, -1.0], atol=1e-6)
    np.testing.assert_allclose([qx, qy, qz, qw], [0, 0, 0, 1], atol=1e-6)
    assert w_m == pytest.approx(1.2)
    assert h_m == pytest.approx(1.2 * (30 + STRIP) / 40, rel=1e-5)  # the image's aspect, strip included
    assert int(meta["blend"][0]) == 1  # OPAQUE


def test_status_strip_shows_engage_recording_estop_and_tracking_loss(xr_view_runtime, view_factory):
    dump = xr_view_runtime("")
    feed = _Feed()
    feed.put(np.full((40, 160, 3), 0, np.uint8))
    status = {"s": TeleopStatus(engage=EngageState.ENGAGED)}
    view = view_factory(feed, lambda: status["s"])
    view.start()

    def strip_after_change(new_status):
        status["s"] = new_status
        feed.put(np.full((40, 160, 3), 0, np.uint8))  # a new frame, so the strip is redrawn with fresh data
        n = int(read_meta(dump)["frame"][0]) if dump.exists() else 0
        _wait_for_dump(dump, n + 3)
        return read_ppm(dump)[:STRIP]

    engaged = strip_after_change(TeleopStatus(engage=EngageState.ENGAGED))
    # background of the strip (right edge, away from the text) is the engage colour
    np.testing.assert_array_equal(engaged[STRIP // 2, -2], (30, 150, 60))
    assert (engaged > 200).all(axis=2).sum() > 20  # white text drawn
    estop = strip_after_change(TeleopStatus(engage=EngageState.ESTOP))
    np.testing.assert_array_equal(estop[STRIP // 2, -2], (200, 20, 20))
    rec = strip_after_change(TeleopStatus(engage=EngageState.IDLE, episode=EpisodeState.RECORDING))
    red_dot = (rec[..., 0] > 200) & (rec[..., 1] < 30) & (rec[..., 2] < 30)
    assert red_dot[:, :STRIP].sum() > 10  # the recording dot at the left end
    idle = strip_after_change(TeleopStatus(engage=EngageState.IDLE))
    assert (((idle[..., 0] > 200) & (idle[..., 1] < 30))[:, :STRIP]).sum() == 0


def test_status_text_names_lost_devices_and_frame_age():
    from teleop.inputs.openxr_view import status_lines

    st = TeleopStatus(engage=EngageState.HOLD, episode=EpisodeState.RECORDING,
                      devices=(DeviceStatus("head", True, 1.0), DeviceStatus("left_wrist", False, 300.0),
                               DeviceStatus("waist", False, 300.0)))
    text, colour = status_lines(st, 83.4, True)
    assert text == "HOLD  REC  TRACKING LOST: left_wrist  83 ms"
    assert colour == (210, 140, 0)
    assert status_lines(TeleopStatus(engage=EngageState.ESTOP), None, False)[0] == "E-STOP  NO VIDEO"


def test_frame_age_is_measured_from_the_capture_stamp(xr_view_runtime, view_factory):
    xr_view_runtime("display_hz 200\n")
    feed = _Feed()
    old = feed.put(np.zeros((20, 20, 3), np.uint8))
    object.__setattr__(old, "stamp", clock.now() - 0.25)  # captured 250 ms ago
    view = view_factory(feed)
    view.start()
    _wait_until(lambda: view.stats().frames_submitted >= 5)
    st = view.stats()
    assert 250.0 <= st.age_ms_p50 < 250.0 + 2000.0
    assert st.new_frames == 1  # one camera frame, shown on every display frame
    assert st.frames_submitted >= 5


def test_passthrough_toggle_uses_the_offered_blend_mode(xr_view_runtime, view_factory):
    import xr

    dump = xr_view_runtime("blend_modes opaque alpha_blend\n")
    feed = _Feed()
    feed.put(_pattern(20, 30, seed=4))
    view = view_factory(feed)
    view.start()
    assert view.passthrough_mode == xr.EnvironmentBlendMode.ALPHA_BLEND
    view.set_passthrough(True)
    n = int(_wait_for_dump(dump, 1)["frame"][0])
    meta = _wait_for_dump(dump, n + 3)
    assert int(meta["blend"][0]) == 3 and int(meta["layers"][0]) == 0  # the real world, no robot picture
    view.set_passthrough(False)
    meta = _wait_for_dump(dump, int(meta["frame"][0]) + 3)
    assert int(meta["blend"][0]) == 1 and int(meta["layers"][0]) == 1


def test_passthrough_refused_where_the_runtime_has_none(xr_view_runtime, view_factory):
    xr_view_runtime("blend_modes opaque\n")
    feed = _Feed()
    feed.put(_pattern(20, 30, seed=5))
    view = view_factory(feed)
    view.start()
    with pytest.raises(HeadsetViewError, match="no passthrough blend mode.*offered: OPAQUE"):
        view.set_passthrough(True)


def test_runtime_without_egl_binding_is_refused_with_the_fix(xr_view_runtime, view_factory):
    from teleop.inputs.exceptions import MissingExtensionError

    xr_view_runtime("extensions XR_MND_headless XR_KHR_opengl_enable\n")
    view = view_factory(_Feed())
    with pytest.raises(MissingExtensionError, match="XR_MNDX_egl_enable.*Monado"):
        view.start()


def test_stop_ends_the_render_thread(xr_view_runtime, view_factory):
    xr_view_runtime("")
    feed = _Feed()
    feed.put(_pattern(8, 8, seed=6))
    view = view_factory(feed)
    view.start()
    assert view.running
    view.stop()
    assert not any(t.name == "headset-view" and t.is_alive() for t in threading.enumerate())
