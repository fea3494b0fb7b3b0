"""The headset view: the head camera inside the OpenXR session, with a status strip.

Rendering path (one thread, :class:`HeadsetView`'s, owns the EGL context and the frame loop)::

    CameraSource.latest() ──► glTexSubImage2D (camera texture, only when a new frame came)
    TeleopStatus ──► status strip (Pillow, CPU, redrawn when its text changes) ──► strip texture
    xrWaitFrame ─ xrBeginFrame ─ acquire swapchain image
        glBlitFramebuffer camera → image rows [0, H), strip → rows [H, H + S) (flipped: GL is bottom-up)
    release ─ xrEndFrame(quad layer in VIEW space, 1 m ahead: it follows the head)

Graphics binding: ``XR_KHR_opengl_enable`` + ``XR_MNDX_egl_enable``
(``XrGraphicsBindingEGLMNDX``): the application hands the runtime its EGL display, config,
context and ``eglGetProcAddress``. This is what Monado offers on Linux for a headless
(X-less) Mesa EGL context, so the view renders offscreen with no window and no X server;
SteamVR on Linux wants an Xlib binding instead (``XR_KHR_opengl_enable`` with
``XrGraphicsBindingOpenGLXlibKHR``), which this module does not build (see docs/cameras.md).
The session is created through :func:`teleop.inputs.openxr_backend.create_session`, the one
place a binding enters. The OpenXR loader allows one instance per process, so the view
owns its own instance: run it next to a non-OpenXR input (PICO, scripted, keyboard) or in
its own process.

Frame age: for every submitted frame, ``now() - frame.stamp`` at xrEndFrame (capture →
submission), kept over the last :data:`AGE_WINDOW` frames and printed in the strip.

Passthrough: the runtime's environment blend modes are read at start; where it offers
``ALPHA_BLEND`` (or ``ADDITIVE``), :meth:`HeadsetView.set_passthrough` switches between the
robot view (OPAQUE, the quad) and passthrough (that blend mode, no layer: the runtime shows
the real world). ``XR_FB_passthrough`` (Quest) is detected and reported in
:attr:`HeadsetView.fb_passthrough_offered` but not driven.
"""

from __future__ import annotations

import collections
import ctypes
import ctypes.util
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from teleop import clock
from teleop.cameras.exceptions import HeadsetViewError
from teleop.exceptions import ConfigError, MissingExtraError
from teleop.status import EngageState, EpisodeState, TeleopStatus

log = logging.getLogger(__name__)

GL_EXTENSION = "XR_KHR_opengl_enable"
EGL_EXTENSION = "XR_MNDX_egl_enable"
FB_PASSTHROUGH_EXTENSION = "XR_FB_passthrough"
#: Swapchain formats in order of preference: linear RGBA8 keeps the camera's bytes as they are.
_GL_RGBA8, _GL_SRGB8_ALPHA8 = 0x8058, 0x8C43
#: Frames over which the frame age and rates are measured.
AGE_WINDOW = 600
#: Devices whose loss the strip reports as tracking loss.
TRACKED_DEVICES = ("head", "left_wrist", "right_wrist", "left_hand", "right_hand")
#: Strip colours (RGB) by engage state.
ENGAGE_COLOURS = {
    EngageState.IDLE: (90, 90, 90), EngageState.ENGAGING: (40, 120, 200), EngageState.ENGAGED: (30, 150, 60),
    EngageState.DISENGAGING: (40, 120, 200), EngageState.HOLD: (210, 140, 0), EngageState.ESTOP: (200, 20, 20),
}


@dataclass(frozen=True)
class HeadsetViewConfig:
    """Settings of the headset view.

    Attributes:
        distance_m: distance of the picture in front of the eyes [m].
        width_m: width of the picture [m] (its height follows the image's aspect).
        strip_px: height of the status strip above the picture [px].
        stale_after_s: a camera frame older than this shows "NO VIDEO" in the strip [s].
        ready_timeout_s: longest wait for the runtime to make the session ready [s].
        application_name: the name the runtime shows.
    """

    distance_m: float = 1.0  # [m]
    width_m: float = 1.2  # [m]
    strip_px: int = 16  # [px]
    stale_after_s: float = 0.5  # [s]
    ready_timeout_s: float = 5.0  # [s]
    application_name: str = "psi-teleop view"

    def __post_init__(self) -> None:
        for name, lo, hi in (("distance_m", 0.2, 20.0), ("width_m", 0.05, 20.0), ("stale_after_s", 0.01, 60.0),
                             ("ready_timeout_s", 0.1, 120.0)):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ConfigError(f"HeadsetViewConfig.{name}={v!r} is out of range; valid: [{lo}, {hi}]")
        if not isinstance(self.strip_px, int) or not 8 <= self.strip_px <= 128:
            raise ConfigError(f"HeadsetViewConfig.strip_px={self.strip_px!r} must be an integer in [8, 128] px")


@dataclass(frozen=True)
class HeadsetViewStats:
    """What the view measured (over the last :data:`AGE_WINDOW` submitted frames)."""

    frames_submitted: int  # xrEndFrame calls with the picture
    new_frames: int  # distinct camera frames shown
    age_ms_p50: float  # [ms] capture -> submission, median
    age_ms_p99: float  # [ms]
    submit_hz: float  # [Hz] submitted frames per second (the runtime's pace)
    new_frame_hz: float  # [Hz] distinct camera frames per second reaching the headset


def status_lines(status: TeleopStatus | None, age_ms: float | None, video_ok: bool) -> tuple[str, tuple[int, int, int]]:
    """The strip's text and background colour for a status snapshot (pure; tested)."""
    if status is None:
        text, colour = "NO SESSION", ENGAGE_COLOURS[EngageState.IDLE]
    else:
        text = "E-STOP" if status.engage is EngageState.ESTOP else status.engage.value.upper()
        colour = ENGAGE_COLOURS[status.engage]
        if status.episode is EpisodeState.RECORDING:
            text += "  REC"
        lost = [d.name for d in status.devices if d.name in TRACKED_DEVICES and not d.valid]
        if lost:
            text += "  TRACKING LOST: " + ",".join(lost)
    text += f"  {age_ms:.0f} ms" if (age_ms is not None and video_ok) else "  NO VIDEO"
    return text, colour


def render_strip(text: str, colour: tuple[int, int, int], width: int, height: int, recording: bool) -> np.ndarray:
    """(height, width, 4) uint8 RGBA strip: background colour, a red dot when recording, white text."""
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        raise MissingExtraError("PIL", "openxr", "The headset view's status strip") from None
    img = Image.new("RGBA", (width, height), colour + (255,))
    draw = ImageDraw.Draw(img)
    x = 2
    if recording:
        r = max(2, height // 2 - 2)
        draw.ellipse((x, height // 2 - r, x + 2 * r, height // 2 + r), fill=(230, 0, 0, 255), outline=(255, 255, 255, 255))
        x += 2 * r + 3
    draw.text((x, max(0, (height - 11) // 2)), text, fill=(255, 255, 255, 255))
    return np.asarray(img, dtype=np.uint8).copy()


def _import_xr():
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    if os.environ["PYOPENGL_PLATFORM"].lower() != "egl":
        raise HeadsetViewError(f"PYOPENGL_PLATFORM={os.environ['PYOPENGL_PLATFORM']} but the headset view renders "
                               "through EGL: unset it or set PYOPENGL_PLATFORM=egl before starting")
    try:
        import xr
    except ImportError:
        raise MissingExtraError("xr", "openxr", "The headset view") from None
    return xr


class _EGLContext:
    """A headless desktop-OpenGL context on a Mesa EGL device display (no window, no X)."""

    def __init__(self):
        from mujoco.egl import create_initialized_egl_device_display
        from OpenGL import EGL

        self.EGL = EGL
        display = create_initialized_egl_device_display()
        if display == EGL.EGL_NO_DISPLAY:
            raise HeadsetViewError("cannot open an EGL device display; install Mesa EGL "
                                   "(Debian: libegl1 libgl1-mesa-dri)")
        attrs = (EGL.EGLint * 13)(EGL.EGL_RED_SIZE, 8, EGL.EGL_GREEN_SIZE, 8, EGL.EGL_BLUE_SIZE, 8,
                                  EGL.EGL_ALPHA_SIZE, 8, EGL.EGL_RENDERABLE_TYPE, EGL.EGL_OPENGL_BIT,
                                  EGL.EGL_SURFACE_TYPE, EGL.EGL_PBUFFER_BIT, EGL.EGL_NONE)
        configs = (EGL.EGLConfig * 1)()
        n = EGL.EGLint()
        if not EGL.eglChooseConfig(display, attrs, configs, 1, n) or n.value < 1:
            raise HeadsetViewError("EGL has no RGBA8 desktop-OpenGL configuration on this display")
        EGL.eglBindAPI(EGL.EGL_OPENGL_API)
        context = EGL.eglCreateContext(display, configs[0], EGL.EGL_NO_CONTEXT, None)
        if not context:
            raise HeadsetViewError("cannot create an EGL OpenGL context")
        if not EGL.eglMakeCurrent(display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, context):
            raise HeadsetViewError("cannot make the EGL context current (needs EGL_KHR_surfaceless_context)")
        self.display, self.config, self.context = display, configs[0], context
        lib = ctypes.CDLL(ctypes.util.find_library("EGL") or "libEGL.so.1")
        self.get_proc_address = lib.eglGetProcAddress

    def binding(self, xr):
        """The XrGraphicsBindingEGLMNDX for this context."""
        fn_type = dict(xr.GraphicsBindingEGLMNDX._fields_)["get_proc_address"]
        return xr.GraphicsBindingEGLMNDX(
            get_proc_address=ctypes.cast(self.get_proc_address, fn_type),
            display=self.display, config=self.config, context=self.context)

    def close(self) -> None:
        EGL = self.EGL
        EGL.eglMakeCurrent(self.display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, EGL.EGL_NO_CONTEXT)
        EGL.eglDestroyContext(self.display, self.context)
        EGL.eglReleaseThread()


class HeadsetView:
    """Shows camera frames in the headset (see the module docstring).

    Args:
        frames: returns the newest :class:`teleop.cameras.CameraFrame` or None (e.g.
            ``rig["head"].latest``); called once per displayed frame, must not block.
        status: returns the session's :class:`TeleopStatus` (e.g. ``session.status``), or None.
        config: see :class:`HeadsetViewConfig`.
        stats_window: submitted frames :meth:`stats` summarizes (the newest ones).
    """

    def __init__(self, frames: Callable[[], object], status: Callable[[], TeleopStatus] | None = None,
                 config: HeadsetViewConfig | None = None, stats_window: int = AGE_WINDOW):
        self.config = config or HeadsetViewConfig()
        if not isinstance(stats_window, int) or stats_window < 2:
            raise ConfigError(f"stats_window={stats_window!r} must be an integer >= 2 (frames)")
        self._frames = frames
        self._status = status
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._ages: collections.deque[float] = collections.deque(maxlen=stats_window)
        self._submits: collections.deque[float] = collections.deque(maxlen=stats_window)
        self._new: collections.deque[float] = collections.deque(maxlen=stats_window)
        self._n_submitted = 0
        self._n_new = 0
        self._passthrough = False
        self.blend_modes: tuple = ()
        self.passthrough_mode = None  # the blend mode passthrough uses, or None
        self.fb_passthrough_offered = False
        self.runtime_name = ""
        self.swapchain_format = 0
        self.image_size: tuple[int, int] | None = None  # (H, W) of the camera picture [px]

    # -- public ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the session and start rendering; returns once the session runs.

        Raises:
            HeadsetViewError / RuntimeUnavailableError / MissingExtensionError: why it cannot run, with the fix.
        """
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="headset-view", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.config.ready_timeout_s + 5.0):
            self.stop()
            raise HeadsetViewError("the headset view did not start in time (OpenGL or the runtime hangs)")
        if self._error is not None:
            self._thread.join(2.0)
            raise self._error

    def stop(self, timeout: float = 3.0) -> None:
        """End the session and free the GL context (waits at most ``timeout`` [s])."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the headset view did not stop within %.1f s", timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._ready.is_set() and self._error is None

    @property
    def passthrough(self) -> bool:
        return self._passthrough

    def set_passthrough(self, on: bool) -> None:
        """Show the real world (True) or the robot's view (False).

        Raises:
            HeadsetViewError: the runtime offers no ALPHA_BLEND/ADDITIVE blend mode.
        """
        if on and self.passthrough_mode is None:
            offered = ", ".join(m.name for m in self.blend_modes) or "none"
            raise HeadsetViewError(
                f"this runtime/headset offers no passthrough blend mode (offered: {offered}); "
                "passthrough needs a see-through or camera-passthrough headset whose runtime offers ALPHA_BLEND or ADDITIVE"
            )
        self._passthrough = bool(on)

    def stats(self) -> HeadsetViewStats:
        with self._lock:
            ages = np.array(self._ages) * 1e3
            submits, new = list(self._submits), list(self._new)
            n_sub, n_new = self._n_submitted, self._n_new

        def rate(ts):
            return (len(ts) - 1) / (ts[-1] - ts[0]) if len(ts) > 2 and ts[-1] > ts[0] else 0.0

        return HeadsetViewStats(
            n_sub, n_new,
            float(np.percentile(ages, 50)) if ages.size else float("nan"),
            float(np.percentile(ages, 99)) if ages.size else float("nan"),
            rate(submits), rate(new))

    def ages_s(self) -> np.ndarray:
        """Capture → submission age [s] of each submitted frame in the stats window, oldest first."""
        with self._lock:
            return np.array(self._ages)

    def reset_stats(self) -> None:
        with self._lock:
            self._ages.clear()
            self._submits.clear()
            self._new.clear()

    # -- the render thread ----------------------------------------------------------------------
    def _run(self) -> None:
        egl = None
        xr = None
        try:
            xr = _import_xr()
            egl = _EGLContext()
            self._open_session(xr, egl)
        except BaseException as exc:  # noqa: BLE001 - handed to start(), which raises it
            self._error = exc
            self._ready.set()
            self._teardown(xr, egl)
            return
        self._ready.set()
        try:
            self._loop(xr)
        except Exception as exc:  # noqa: BLE001 - report and end the view, never the session
            log.error("headset view stopped: %s: %s", type(exc).__name__, exc)
            self._error = exc
        finally:
            self._teardown(xr, egl)

    def _open_session(self, xr, egl: _EGLContext) -> None:
        from teleop.inputs.exceptions import (
            MissingExtensionError,
            RuntimeUnavailableError,
        )
        from teleop.inputs.openxr_backend import RUNTIME_FIX, create_session

        self._instance = self._session = self._swapchain = self._space = None
        try:
            available = {(e.extension_name.decode() if isinstance(e.extension_name, bytes) else e.extension_name)
                         for e in xr.enumerate_instance_extension_properties()}
        except (xr.RuntimeUnavailableError, xr.RuntimeFailureError, xr.InitializationFailedError) as exc:
            raise RuntimeUnavailableError(f"No OpenXR runtime is available ({type(exc).__name__}). {RUNTIME_FIX}") from None
        for ext in (GL_EXTENSION, EGL_EXTENSION):
            if ext not in available:
                raise MissingExtensionError(
                    ext, tuple(sorted(available)),
                    f"The OpenXR runtime does not offer {ext}, which the headset view needs to take frames rendered "
                    "with headless EGL. Use Monado (it offers XR_MNDX_egl_enable), or show the camera in the "
                    "operator console instead.")
        self.fb_passthrough_offered = FB_PASSTHROUGH_EXTENSION in available
        enabled = frozenset({GL_EXTENSION, EGL_EXTENSION})
        self._instance = xr.create_instance(xr.InstanceCreateInfo(
            application_info=xr.ApplicationInfo(application_name=self.config.application_name,
                                                engine_name="psi-teleop", api_version=xr.Version(1, 0, 0)),
            enabled_extension_names=sorted(enabled)))
        props = xr.get_instance_properties(self._instance)
        self.runtime_name = props.runtime_name.decode() if isinstance(props.runtime_name, bytes) else str(props.runtime_name)
        try:
            system_id = xr.get_system(self._instance, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
        except xr.FormFactorUnavailableError:
            raise RuntimeUnavailableError(f"{self.runtime_name} sees no headset: connect and power it on. {RUNTIME_FIX}") from None
        req = xr.get_opengl_graphics_requirements_khr(self._instance, system_id)
        gl_version = _gl_version()
        lo = req.min_api_version_supported
        if gl_version < (lo.major, lo.minor):
            raise HeadsetViewError(f"the runtime needs OpenGL {lo.major}.{lo.minor}, the EGL context has "
                                   f"{gl_version[0]}.{gl_version[1]}; update Mesa")
        self.blend_modes = tuple(xr.EnvironmentBlendMode(int(m)) for m in xr.enumerate_environment_blend_modes(
            self._instance, system_id, xr.ViewConfigurationType.PRIMARY_STEREO))
        modes = {int(m) for m in self.blend_modes}
        self.passthrough_mode = next((xr.EnvironmentBlendMode(m) for m in (int(xr.EnvironmentBlendMode.ALPHA_BLEND),
                                                                            int(xr.EnvironmentBlendMode.ADDITIVE))
                                      if m in modes), None)
        self._opaque = xr.EnvironmentBlendMode.OPAQUE if int(xr.EnvironmentBlendMode.OPAQUE) in modes else self.blend_modes[0]
        self._binding = egl.binding(xr)
        self._session = create_session(xr, self._instance, system_id, enabled, graphics_binding=self._binding)
        self._event = xr.EventDataBuffer()
        self._session_state = xr.SessionState.UNKNOWN
        deadline = time.monotonic() + self.config.ready_timeout_s
        while self._session_state != xr.SessionState.READY:
            self._drain(xr)
            if time.monotonic() > deadline:
                raise RuntimeUnavailableError(f"the OpenXR session did not become ready within "
                                              f"{self.config.ready_timeout_s:.1f} s: put the headset on or wake it")
            time.sleep(0.002)
        xr.begin_session(self._session, xr.SessionBeginInfo(
            primary_view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO))
        self._begun = True
        self._space = xr.create_reference_space(self._session, xr.ReferenceSpaceCreateInfo(
            xr.ReferenceSpaceType.VIEW, xr.Posef()))
        formats = list(xr.enumerate_swapchain_formats(self._session))
        self.swapchain_format = next((f for f in (_GL_RGBA8, _GL_SRGB8_ALPHA8) if f in formats), 0)
        if not self.swapchain_format:
            raise HeadsetViewError(f"the runtime offers no RGBA8 swapchain format (offered: {formats})")
        log.info("headset view: %s, blend modes %s, passthrough %s", self.runtime_name,
                 ", ".join(m.name for m in self.blend_modes),
                 self.passthrough_mode.name if self.passthrough_mode is not None else "not offered")

    def _drain(self, xr) -> None:
        poll = xr.raw_functions.xrPollEvent
        while True:
            self._event.type = xr.StructureType.EVENT_DATA_BUFFER
            if int(poll(self._instance, ctypes.byref(self._event))) != 0:  # XR_EVENT_UNAVAILABLE or an error
                return
            kind = int(self._event.type)
            if kind == int(xr.StructureType.EVENT_DATA_SESSION_STATE_CHANGED):
                ev = ctypes.cast(ctypes.byref(self._event), ctypes.POINTER(xr.EventDataSessionStateChanged)).contents
                self._session_state = xr.SessionState(ev.state)
            elif kind == int(xr.StructureType.EVENT_DATA_INSTANCE_LOSS_PENDING):
                self._session_state = xr.SessionState.LOSS_PENDING

    # GL objects of the loop
    def _make_targets(self, h: int, w: int) -> None:
        from OpenGL import GL

        xr = self._xr
        s = self.config.strip_px
        self.image_size = (h, w)
        self._swapchain = xr.create_swapchain(self._session, xr.SwapchainCreateInfo(
            usage_flags=xr.SwapchainUsageFlags.COLOR_ATTACHMENT_BIT | xr.SwapchainUsageFlags.TRANSFER_DST_BIT,
            format=self.swapchain_format, sample_count=1, width=w, height=h + s, face_count=1, array_size=1,
            mip_count=1))
        self._images = [img.image for img in xr.enumerate_swapchain_images(self._swapchain, xr.SwapchainImageOpenGLKHR)]
        self._tex_cam, self._tex_strip = GL.glGenTextures(2)
        for tex, (th, tw) in ((self._tex_cam, (h, w)), (self._tex_strip, (s, w))):
            GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, tw, th, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        self._fbo_read, self._fbo_draw = GL.glGenFramebuffers(2)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        self._quad_size = xr.Extent2Df(self.config.width_m, self.config.width_m * (h + s) / w)

    def _blit(self, tex: int, src_h: int, w: int, dst_y0: int) -> None:
        """Copy texture ``tex`` (rows top-first as uploaded) into draw rows [dst_y0, dst_y0 + src_h), upright."""
        from OpenGL import GL

        GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tex, 0)
        GL.glBlitFramebuffer(0, 0, w, src_h, 0, dst_y0 + src_h, w, dst_y0, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST)

    def _loop(self, xr) -> None:
        from OpenGL import GL

        last_seq = -1
        strip_key = None
        quad = quad_ptr = None
        shown_stamp = None
        next_strip = 0.0
        exit_deadline = None
        warned_size = False
        wait_info, begin_info = xr.FrameWaitInfo(), xr.FrameBeginInfo()
        acquire_info, release_info = xr.SwapchainImageAcquireInfo(), xr.SwapchainImageReleaseInfo()
        image_wait = xr.SwapchainImageWaitInfo(timeout=100_000_000)  # [ns]
        while True:
            self._drain(xr)
            if self._session_state in (xr.SessionState.STOPPING, xr.SessionState.EXITING, xr.SessionState.LOSS_PENDING):
                if exit_deadline is None:
                    log.warning("headset view: the runtime ended the session (%s)", self._session_state.name)
                break
            if self._stop.is_set():
                # xrEndSession is valid once the runtime says STOPPING: ask for it, keep the frame loop going
                if exit_deadline is None:
                    xr.request_exit_session(self._session)
                    exit_deadline = time.monotonic() + 1.0
                elif time.monotonic() > exit_deadline:
                    log.warning("headset view: the runtime did not stop the session within 1 s; ending it anyway")
                    break
            state = xr.wait_frame(self._session, wait_info)
            xr.begin_frame(self._session, begin_info)
            frame = self._frames()
            now = clock.now()
            layers = []
            if frame is not None and self._swapchain is None:
                h, w = frame.image.shape[:2]
                self._make_targets(h, w)
                quad = xr.CompositionLayerQuad(
                    space=self._space, eye_visibility=xr.EyeVisibility.BOTH,
                    sub_image=xr.SwapchainSubImage(swapchain=self._swapchain, image_rect=xr.Rect2Di(
                        offset=xr.Offset2Di(0, 0), extent=xr.Extent2Di(w, h + self.config.strip_px))),
                    pose=xr.Posef(position=xr.Vector3f(0.0, 0.0, -self.config.distance_m)), size=self._quad_size)
                quad_ptr = ctypes.cast(ctypes.pointer(quad), ctypes.POINTER(xr.CompositionLayerBaseHeader))
            if self._swapchain is not None and state.should_render and not self._passthrough:
                h, w = self.image_size
                new = frame is not None and frame.seq != last_seq
                if new and frame.image.shape != (h, w, 3):
                    if not warned_size:
                        log.warning("headset view: camera frames changed size to %s (the view shows %dx%d); "
                                    "restart the view", frame.image.shape, w, h)
                        warned_size = True
                    new = False
                if new:
                    # RGB rows straight into the RGBA8 texture (alpha becomes 1): no per-frame conversion
                    GL.glBindTexture(GL.GL_TEXTURE_2D, self._tex_cam)
                    GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE,
                                       np.ascontiguousarray(frame.image))
                    last_seq = frame.seq
                    shown_stamp = frame.stamp
                video_ok = shown_stamp is not None and now - shown_stamp <= self.config.stale_after_s
                age_ms = (now - shown_stamp) * 1e3 if shown_stamp is not None else None
                status = self._status() if self._status is not None else None
                text, colour = status_lines(status, age_ms, video_ok)
                # the age at the end of the text changes every frame: redraw for it at most 5 times a second
                key = (text.rsplit("  ", 1)[0], colour)
                if strip_key is None or key != strip_key[:2] or (text != strip_key[2] and now >= next_strip):
                    strip = render_strip(text, colour, w, self.config.strip_px,
                                         status is not None and status.episode is EpisodeState.RECORDING)
                    GL.glBindTexture(GL.GL_TEXTURE_2D, self._tex_strip)
                    GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, self.config.strip_px, GL.GL_RGBA,
                                       GL.GL_UNSIGNED_BYTE, strip)
                    strip_key = (*key, text)
                    next_strip = now + 0.2
                GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
                index = xr.acquire_swapchain_image(self._swapchain, acquire_info)
                xr.wait_swapchain_image(self._swapchain, image_wait)
                GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._fbo_draw)
                GL.glFramebufferTexture2D(GL.GL_DRAW_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D,
                                          self._images[index], 0)
                GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo_read)
                self._blit(self._tex_cam, h, w, 0)
                self._blit(self._tex_strip, self.config.strip_px, w, h)
                GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
                GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, 0)
                xr.release_swapchain_image(self._swapchain, release_info)
                layers.append(quad_ptr)
                blend = self._opaque
            else:
                new = False
                blend = self.passthrough_mode if self._passthrough else self._opaque
            xr.end_frame(self._session, xr.FrameEndInfo(
                display_time=state.predicted_display_time, environment_blend_mode=blend, layers=layers))
            t_submit = clock.now()
            if layers and shown_stamp is not None:
                with self._lock:
                    self._ages.append(t_submit - shown_stamp)
                    self._submits.append(t_submit)
                    self._n_submitted += 1
                    if new:
                        self._new.append(t_submit)
                        self._n_new += 1

    def _teardown(self, xr, egl) -> None:
        if xr is not None:
            try:
                if getattr(self, "_swapchain", None) is not None:
                    xr.destroy_swapchain(self._swapchain)
                    self._swapchain = None
                if getattr(self, "_session", None) is not None:
                    if getattr(self, "_begun", False):
                        try:
                            xr.end_session(self._session)
                        except xr.XrException as exc:
                            log.debug("xrEndSession: %s", exc)
                        self._begun = False
                    xr.destroy_session(self._session)
                    self._session = None
                if getattr(self, "_instance", None) is not None:
                    xr.destroy_instance(self._instance)
                    self._instance = None
            except Exception as exc:  # noqa: BLE001 - teardown must finish
                log.warning("headset view: closing the OpenXR session failed: %s", exc)
        if egl is not None:
            egl.close()

    @property
    def _xr(self):
        return _import_xr()


def _gl_version() -> tuple[int, int]:
    from OpenGL import GL

    text = GL.glGetString(GL.GL_VERSION).decode()
    major, minor = text.split()[0].split(".")[:2]
    return int(major), int(minor)
