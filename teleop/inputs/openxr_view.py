"""The headset view: the head camera inside the OpenXR session, with a status strip.

The view is a layer client of :class:`teleop.inputs.openxr_session.OpenXRSession`, which
owns the instance, the graphics session, the EGL context and the frame loop (on its own
thread). The same session serves the OpenXR input backend, so ``--input openxr`` and the
view run in one process through one session. Per display frame, on the frame thread::

    CameraSource.latest() ──► glTexSubImage2D (camera texture, only when a new frame came)
    TeleopStatus ──► status strip (Pillow, CPU, redrawn when its text changes) ──► strip texture
    [session: xrWaitFrame ─ xrBeginFrame]  acquire swapchain image
        glBlitFramebuffer camera → image rows [0, H), strip → rows [H, H + S) (flipped: GL is bottom-up)
    release  [session: xrEndFrame(quad layer in VIEW space, 1 m ahead: it follows the head)]

Graphics binding: ``XR_KHR_opengl_enable`` + ``XR_MNDX_egl_enable``
(``XrGraphicsBindingEGLMNDX``): the application hands the runtime its EGL display, config,
context and ``eglGetProcAddress``. This is what Monado offers on Linux for a headless
(X-less) Mesa EGL context, so the view renders offscreen with no window and no X server;
SteamVR on Linux wants an Xlib binding instead (``XrGraphicsBindingOpenGLXlibKHR``), which
is not built (see docs/cameras.md).

Frame age: for every submitted frame, ``now() - frame.stamp`` right after xrEndFrame (capture →
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
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from teleop.cameras.exceptions import HeadsetViewError
from teleop.exceptions import ConfigError, MissingExtraError
from teleop.inputs.openxr_session import EGL_EXTENSION, GL_EXTENSION
from teleop.status import EngageState, EpisodeState, TeleopStatus

log = logging.getLogger(__name__)

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


class HeadsetView:
    """Shows camera frames in the headset (see the module docstring).

    Args:
        frames: returns the newest :class:`teleop.cameras.CameraFrame` or None (e.g.
            ``rig["head"].latest``); called once per displayed frame, must not block.
        status: returns the session's :class:`TeleopStatus` (e.g. ``session.status``), or None.
        config: see :class:`HeadsetViewConfig`.
        stats_window: submitted frames :meth:`stats` summarizes (the newest ones).
        session: the :class:`~teleop.inputs.openxr_session.OpenXRSession` to render into,
            shared with the OpenXR input (``OpenXRSource(config, session=...)``); None: the
            view opens its own graphics session.
    """

    needs_frame_loop = True

    def __init__(self, frames: Callable[[], object], status: Callable[[], TeleopStatus] | None = None,
                 config: HeadsetViewConfig | None = None, stats_window: int = AGE_WINDOW, session=None):
        self.config = config or HeadsetViewConfig()
        if not isinstance(stats_window, int) or stats_window < 2:
            raise ConfigError(f"stats_window={stats_window!r} must be an integer >= 2 (frames)")
        self._frames = frames
        self._status = status
        self._shared = session
        self._owner = None
        self._attached = False
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
        self._swapchain = None
        if session is not None:
            session.register(self)

    # -- public ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Join the OpenXR frame loop (opening the session if needed); returns once frames are submitted.

        Raises:
            HeadsetViewError / RuntimeUnavailableError / MissingExtensionError: why it cannot run, with the fix.
        """
        if self.running:
            return
        from teleop.inputs.openxr_session import OpenXRSession

        _import_xr()
        self._error = None
        self._owner = self._shared or OpenXRSession(self.config.application_name, self.config.ready_timeout_s,
                                                    graphics=True)
        try:
            self._owner.attach(self)
        except BaseException:
            owner, self._owner = self._owner, None
            owner.detach(self)
            raise
        self._attached = True

    def stop(self, timeout: float = 3.0) -> None:
        """Leave the frame loop (the session closes when no other client uses it); idempotent."""
        owner, self._owner = self._owner, None
        self._attached = False
        if owner is not None:
            owner.detach(self)

    @property
    def running(self) -> bool:
        owner = self._owner
        return self._attached and owner is not None and owner.frame_loop_running and self._error is None

    @property
    def xr_session(self):
        """The OpenXR session the view renders into (None when stopped)."""
        return self._owner

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

    # -- OpenXRSession client (callbacks on any thread: record only) -----------------------------
    def xr_extensions(self, available: frozenset[str], graphics: bool) -> set[str]:
        self.fb_passthrough_offered = FB_PASSTHROUGH_EXTENSION in available
        return {GL_EXTENSION, EGL_EXTENSION}  # checked (with the fix) by the session

    def on_xr_event(self, kind: int, event, received: float) -> None:
        pass

    def on_xr_lost(self, reason: str) -> None:
        log.warning("headset view stopped: %s", reason)

    # -- on the frame thread (the GL context is current) -----------------------------------------
    def on_frame_thread_attach(self, xr, session) -> None:
        self.runtime_name = session.runtime_name
        self.blend_modes = session.blend_modes
        modes = {int(m) for m in self.blend_modes}
        self.passthrough_mode = next((xr.EnvironmentBlendMode(m) for m in (int(xr.EnvironmentBlendMode.ALPHA_BLEND),
                                                                            int(xr.EnvironmentBlendMode.ADDITIVE))
                                      if m in modes), None)
        self._opaque = session.opaque_mode
        self._session = session.session
        self._space = xr.create_reference_space(self._session, xr.ReferenceSpaceCreateInfo(
            xr.ReferenceSpaceType.VIEW, xr.Posef()))
        formats = list(xr.enumerate_swapchain_formats(self._session))
        self.swapchain_format = next((f for f in (_GL_RGBA8, _GL_SRGB8_ALPHA8) if f in formats), 0)
        if not self.swapchain_format:
            raise HeadsetViewError(f"the runtime offers no RGBA8 swapchain format (offered: {formats})")
        self._swapchain = self._quad = self._quad_ptr = None
        self._last_seq = -1
        self._strip_key = None
        self._shown_stamp = None
        self._next_strip = 0.0
        self._warned_size = False
        self._pending: tuple[bool, float | None] | None = None
        self._acquire_info, self._release_info = xr.SwapchainImageAcquireInfo(), xr.SwapchainImageReleaseInfo()
        self._image_wait = xr.SwapchainImageWaitInfo(timeout=100_000_000)  # [ns]
        log.info("headset view: %s, blend modes %s, passthrough %s", self.runtime_name,
                 ", ".join(m.name for m in self.blend_modes),
                 self.passthrough_mode.name if self.passthrough_mode is not None else "not offered")

    def on_frame_thread_detach(self, xr) -> None:
        from OpenGL import GL

        if self._swapchain is not None:
            try:
                xr.destroy_swapchain(self._swapchain)
            except xr.XrException as exc:
                log.debug("xrDestroySwapchain: %s", exc)
            GL.glDeleteTextures(2, [self._tex_cam, self._tex_strip])
            GL.glDeleteFramebuffers(2, [self._fbo_read, self._fbo_draw])
            self._swapchain = None
        if getattr(self, "_space", None) is not None:
            try:
                xr.destroy_space(self._space)
            except xr.XrException as exc:
                log.debug("xrDestroySpace: %s", exc)
            self._space = None

    def _make_targets(self, xr, h: int, w: int) -> None:
        from OpenGL import GL

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
        size = xr.Extent2Df(self.config.width_m, self.config.width_m * (h + s) / w)
        self._quad = xr.CompositionLayerQuad(
            space=self._space, eye_visibility=xr.EyeVisibility.BOTH,
            sub_image=xr.SwapchainSubImage(swapchain=self._swapchain, image_rect=xr.Rect2Di(
                offset=xr.Offset2Di(0, 0), extent=xr.Extent2Di(w, h + s))),
            pose=xr.Posef(position=xr.Vector3f(0.0, 0.0, -self.config.distance_m)), size=size)
        self._quad_ptr = ctypes.cast(ctypes.pointer(self._quad), ctypes.POINTER(xr.CompositionLayerBaseHeader))

    def _blit(self, tex: int, src_h: int, w: int, dst_y0: int) -> None:
        """Copy texture ``tex`` (rows top-first as uploaded) into draw rows [dst_y0, dst_y0 + src_h), upright."""
        from OpenGL import GL

        GL.glFramebufferTexture2D(GL.GL_READ_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, tex, 0)
        GL.glBlitFramebuffer(0, 0, w, src_h, 0, dst_y0 + src_h, w, dst_y0, GL.GL_COLOR_BUFFER_BIT, GL.GL_NEAREST)

    def render(self, xr, state, now: float):
        """This display frame's layers and blend mode (called between xrBeginFrame and xrEndFrame)."""
        try:
            return self._render(xr, state, now)
        except Exception as exc:  # noqa: BLE001 - the view fails, the session (and the input) go on
            if self._error is None:
                log.error("headset view stopped: %s: %s", type(exc).__name__, exc)
                self._error = exc
            self._pending = None
            return [], None

    def _render(self, xr, state, now: float):
        from OpenGL import GL

        self._pending = None
        if self._error is not None:
            return [], None
        frame = self._frames()
        if frame is not None and self._swapchain is None:
            h, w = frame.image.shape[:2]
            self._make_targets(xr, h, w)
        if self._swapchain is None or not state.should_render or self._passthrough:
            return [], (self.passthrough_mode if self._passthrough else self._opaque)
        h, w = self.image_size
        new = frame is not None and frame.seq != self._last_seq
        if new and frame.image.shape != (h, w, 3):
            if not self._warned_size:
                log.warning("headset view: camera frames changed size to %s (the view shows %dx%d); "
                            "restart the view", frame.image.shape, w, h)
                self._warned_size = True
            new = False
        if new:
            # RGB rows straight into the RGBA8 texture (alpha becomes 1): no per-frame conversion
            GL.glBindTexture(GL.GL_TEXTURE_2D, self._tex_cam)
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE,
                               np.ascontiguousarray(frame.image))
            self._last_seq = frame.seq
            self._shown_stamp = frame.stamp
        shown = self._shown_stamp
        video_ok = shown is not None and now - shown <= self.config.stale_after_s
        age_ms = (now - shown) * 1e3 if shown is not None else None
        status = self._status() if self._status is not None else None
        text, colour = status_lines(status, age_ms, video_ok)
        # the age at the end of the text changes every frame: redraw for it at most 5 times a second
        key = (text.rsplit("  ", 1)[0], colour)
        sk = self._strip_key
        if sk is None or key != sk[:2] or (text != sk[2] and now >= self._next_strip):
            strip = render_strip(text, colour, w, self.config.strip_px,
                                 status is not None and status.episode is EpisodeState.RECORDING)
            GL.glBindTexture(GL.GL_TEXTURE_2D, self._tex_strip)
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, self.config.strip_px, GL.GL_RGBA,
                               GL.GL_UNSIGNED_BYTE, strip)
            self._strip_key = (*key, text)
            self._next_strip = now + 0.2
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        index = xr.acquire_swapchain_image(self._swapchain, self._acquire_info)
        xr.wait_swapchain_image(self._swapchain, self._image_wait)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._fbo_draw)
        GL.glFramebufferTexture2D(GL.GL_DRAW_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D,
                                  self._images[index], 0)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fbo_read)
        self._blit(self._tex_cam, h, w, 0)
        self._blit(self._tex_strip, self.config.strip_px, w, h)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, 0)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, 0)
        xr.release_swapchain_image(self._swapchain, self._release_info)
        self._pending = (new, shown)
        return [self._quad_ptr], self._opaque

    def after_end_frame(self, submitted_at: float) -> None:
        """Frame age capture → submission of the frame just ended (with the picture)."""
        pending, self._pending = self._pending, None
        if pending is None or pending[1] is None:
            return
        new, shown = pending
        with self._lock:
            self._ages.append(submitted_at - shown)
            self._submits.append(submitted_at)
            self._n_submitted += 1
            if new:
                self._new.append(submitted_at)
                self._n_new += 1


def _import_xr():
    from teleop.inputs.openxr_session import import_xr

    return import_xr(graphics=True)
