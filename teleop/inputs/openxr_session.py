"""One OpenXR instance and session per process, shared by the input backend and the headset view.

A runtime gives an application one instance and one session, so the OpenXR input backend
(:class:`teleop.inputs.openxr_backend.OpenXRSource`) and the headset view
(:class:`teleop.inputs.openxr_view.HeadsetView`) do not open their own: they are *clients* of
one :class:`OpenXRSession`, which owns

* the instance (with the union of the extensions its clients ask for), the system and the
  session;
* the session state machine (IDLE → READY → begin → SYNCHRONIZED/VISIBLE/FOCUSED →
  STOPPING → end, and the losses: LOSS_PENDING, EXITING, instance loss), and the one event
  queue, drained under a lock by whichever thread calls :meth:`OpenXRSession.pump_events`;
* with a view attached, the graphics binding (a headless Mesa EGL context,
  ``XR_KHR_opengl_enable`` + ``XR_MNDX_egl_enable``) and the frame loop on its own thread::

      frame thread:  pump events ─ xrWaitFrame ─ xrBeginFrame ─ clients' layers ─ xrEndFrame
      loop thread:   OpenXRSource.poll: pump events ─ xrSyncActions ─ xrLocateSpace ... (same session)

Without a view the session is headless (``XR_MND_headless``: no graphics binding, no frame
loop, no swapchains), as the input backend has always run.

Clients are registered before the session opens (their extensions are enabled at instance
creation), attach when they start and detach when they stop; the session closes when the
last client detaches. A client is told about events and losses through callbacks that may
run on another client's thread, so they only record what happened; each client acts on it
on its own thread. Every OpenXR handle is destroyed here, on the thread that created it (the
frame thread for a graphics session: the GL context lives there).

Usage (what ``psi-teleop teleop --input openxr --headset-view`` does)::

    xr_session = OpenXRSession()
    source = OpenXRSource(config, session=xr_session)      # registers itself
    view = HeadsetView(rig["head"].latest, status, session=xr_session)
    source.start()            # opens the graphics session (a view is registered) and the frame loop
    view.start()              # attaches its quad layer to the running frame loop
    ...
    view.stop(); source.stop()  # the last one closes the session
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import math
import os
import threading
import time
from typing import Protocol

from teleop import clock
from teleop.exceptions import InputDeviceError, MissingExtraError
from teleop.inputs.exceptions import (
    FALLBACK_HINT,
    MissingExtensionError,
    RuntimeUnavailableError,
    SessionLostError,
)

log = logging.getLogger(__name__)

HEADLESS_EXTENSION = "XR_MND_headless"
GL_EXTENSION = "XR_KHR_opengl_enable"
EGL_EXTENSION = "XR_MNDX_egl_enable"
#: Fix sentence for "no runtime" situations.
RUNTIME_FIX = (
    "Start SteamVR (and make it the active OpenXR runtime: SteamVR > Settings > OpenXR) or run "
    "`monado-service`, or point XR_RUNTIME_JSON at your runtime's manifest. " + FALLBACK_HINT
)
#: Events drained per pump at most, so a flood cannot stall a caller.
MAX_EVENTS_PER_PUMP = 16
#: How long the frame thread waits for the runtime to confirm an exit request [s].
EXIT_TIMEOUT_S = 1.0

LOSS_REASONS = {
    "loss_pending": "the OpenXR runtime lost the session (headset disconnected or the runtime restarted): "
                    "reconnect the headset / restart SteamVR or Monado, then restart this session",
    "stopped": "the OpenXR runtime stopped the session (it is quitting or another VR app took over): "
               "close the other app or restart the runtime, then restart this session",
    "instance_loss": "the OpenXR runtime is shutting down (instance loss pending): restart SteamVR/Monado, "
                     "then restart this session",
}


class OpenXRClient(Protocol):
    """What a client of :class:`OpenXRSession` provides (all callbacks may run on any thread)."""

    #: True for clients that render (they need a graphics session and the frame loop).
    needs_frame_loop: bool

    def xr_extensions(self, available: frozenset[str], graphics: bool) -> set[str]:
        """Extensions to enable among ``available``; raises MissingExtensionError for a required one."""

    def on_xr_event(self, kind: int, event, received: float) -> None:
        """An event other than a loss (``event``: the XrEventDataBuffer, valid during the call)."""

    def on_xr_lost(self, reason: str) -> None:
        """The session or instance is gone; the client must stop using its handles."""


class LayerClient(OpenXRClient, Protocol):
    """A client that submits composition layers; its hooks run on the frame thread (GL current)."""

    def on_frame_thread_attach(self, xr, session: OpenXRSession) -> None:
        """Create GL/OpenXR objects; an exception makes ``attach`` raise it."""

    def render(self, xr, frame_state, now: float):
        """Layers (list of ``POINTER(CompositionLayerBaseHeader)``) and the blend mode (or None)."""

    def after_end_frame(self, submitted_at: float) -> None:
        """Called after every xrEndFrame."""

    def on_frame_thread_detach(self, xr) -> None:
        """Destroy what ``on_frame_thread_attach`` created."""


def import_xr(graphics: bool = False):
    """pyopenxr, with PyOpenGL on EGL for a graphics session (PyOpenGL picks its platform at first import)."""
    if graphics:
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
        if os.environ["PYOPENGL_PLATFORM"].lower() != "egl":
            from teleop.cameras.exceptions import HeadsetViewError

            raise HeadsetViewError(f"PYOPENGL_PLATFORM={os.environ['PYOPENGL_PLATFORM']} but the headset view renders "
                                   "through EGL: unset it or set PYOPENGL_PLATFORM=egl before starting")
    try:
        import xr
    except ImportError:
        raise MissingExtraError("xr", "openxr", "OpenXR (--input openxr, the headset view)") from None
    return xr


def text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


class EGLContext:
    """A headless desktop-OpenGL context on a Mesa EGL device display (no window, no X server)."""

    def __init__(self):
        from teleop.cameras.exceptions import HeadsetViewError

        try:
            from mujoco.egl import create_initialized_egl_device_display
            from OpenGL import EGL
        except ImportError as exc:
            raise MissingExtraError("OpenGL", "openxr", f"The headset view's EGL context ({exc})") from None
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


def gl_version() -> tuple[int, int]:
    from OpenGL import GL

    major, minor = GL.glGetString(GL.GL_VERSION).decode().split()[0].split(".")[:2]
    return int(major), int(minor)


def create_session(xr, instance, system_id, enabled_extensions: frozenset[str], graphics_binding=None):
    """Create the OpenXR session: the one place a graphics binding enters.

    Without ``graphics_binding`` the session is headless (``XR_MND_headless``: no frame loop);
    with one (an ``xr.GraphicsBindingEGLMNDX``) it is chained into ``XrSessionCreateInfo.next``.

    Raises:
        MissingExtensionError: no graphics binding and the runtime lacks ``XR_MND_headless``.
    """
    if graphics_binding is None and HEADLESS_EXTENSION not in enabled_extensions:
        raise MissingExtensionError(
            HEADLESS_EXTENSION, tuple(sorted(enabled_extensions)),
            f"The OpenXR runtime does not offer {HEADLESS_EXTENSION}, which psi-teleop needs to read devices "
            "without rendering to the headset. Use SteamVR or Monado (both offer it), or start the session with "
            "the headset view (--headset-view), which renders and needs no headless session; for a Quest over "
            "Link, stream to SteamVR and make SteamVR the active OpenXR runtime. " + FALLBACK_HINT,
        )
    info = xr.SessionCreateInfo(system_id=system_id, next=graphics_binding)
    return xr.create_session(instance, info)


class OpenXRSession:
    """The process's OpenXR instance + session (+ frame loop when a client renders).

    Args:
        application_name: shown by the runtime.
        ready_timeout_s: longest wait for the runtime to make the session READY [s].
        graphics: force a graphics (True) or headless (False) session; None: graphics when a
            registered client renders.
    """

    def __init__(self, application_name: str = "psi-teleop", ready_timeout_s: float = 5.0,
                 graphics: bool | None = None):
        if not 0.0 < ready_timeout_s <= 120.0:
            from teleop.exceptions import ConfigError

            raise ConfigError(f"OpenXRSession ready_timeout_s={ready_timeout_s} s is outside (0, 120]")
        self.application_name = application_name
        self.ready_timeout_s = ready_timeout_s
        self._force_graphics = graphics
        self._clients: list[OpenXRClient] = []
        self._attached: list[OpenXRClient] = []
        self._layers: list[LayerClient] = []  # attached layer clients, frame thread's view
        self._lock = threading.RLock()  # open/attach/detach/close
        self._event_lock = threading.Lock()
        self.xr = None
        self.instance = None
        self.session = None
        self.system_id = None
        self.graphics = False
        self.available: frozenset[str] = frozenset()
        self.enabled: frozenset[str] = frozenset()
        self.runtime_name = ""
        self.system_name = ""
        self.blend_modes: tuple = ()
        self.opaque_mode = None
        self.state = 0  # XrSessionState value
        self.lost_reason = ""
        self.event_offset_ns: int | None = None  # max over events of t_event - t_received (XrTime - monotonic)
        self._begun = False
        self._exit_requested = False
        self._event = None
        # frame thread
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._closing = threading.Event()
        self._error: BaseException | None = None
        self._requests: list[tuple[str, LayerClient, threading.Event, list]] = []
        self.frames_ended = 0
        self.frame_cpu_s = 0.0  # frame thread CPU time over the frames ended (time.thread_time) [s]
        self.display_time_ns: int | None = None  # predictedDisplayTime of the newest xrWaitFrame [XrTime ns]
        self.display_period_ns: int | None = None

    # ---- clients ------------------------------------------------------------------------
    def register(self, client: OpenXRClient) -> None:
        """Declare a client before the session opens (its extensions are enabled at instance creation)."""
        with self._lock:
            if client in self._clients:
                return
            if self.is_open and client.needs_frame_loop and not self.graphics:
                raise InputDeviceError(
                    "the OpenXR session is already open without graphics (headless); create the headset view "
                    "before starting the OpenXR input so both share one graphics session")
            self._clients.append(client)

    def attach(self, client: OpenXRClient) -> None:
        """Start serving ``client``: opens the session if needed; a layer client joins the frame loop."""
        with self._lock:
            self.register(client)
            if self.lost_reason:
                raise SessionLostError(f"OpenXR session lost: {self.lost_reason}")
            self.open()
            if client in self._attached:
                return
            if client.needs_frame_loop:
                self._frame_request("attach", client)
            self._attached.append(client)

    def detach(self, client: OpenXRClient) -> None:
        """Stop serving ``client`` (idempotent); the last client's detach closes the session."""
        with self._lock:
            if client in self._attached:
                self._attached.remove(client)
                if client.needs_frame_loop and self._thread is not None and self._thread.is_alive():
                    try:
                        self._frame_request("detach", client)
                    except Exception as exc:  # noqa: BLE001 - the client is gone either way
                        log.warning("OpenXR: detaching %s failed: %s", type(client).__name__, exc)
            if client in self._clients:
                self._clients.remove(client)
            if not self._attached:
                self.close()

    @property
    def is_open(self) -> bool:
        return self.session is not None

    @property
    def frame_loop_running(self) -> bool:
        return (self._thread is not None and self._thread.is_alive() and self._ready.is_set()
                and self._error is None and not self.lost_reason)

    # ---- open ---------------------------------------------------------------------------
    def open(self) -> None:
        """Create instance and session (idempotent); returns once the session is running.

        Raises:
            RuntimeUnavailableError, MissingExtensionError, InputDeviceError, HeadsetViewError: with the fix.
        """
        with self._lock:
            if self.is_open:
                return
            self.lost_reason = ""
            self.graphics = (self._force_graphics if self._force_graphics is not None
                             else any(c.needs_frame_loop for c in self._clients))
            xr = self.xr = import_xr(self.graphics)
            try:
                self._create_instance(xr)
                if self.graphics:
                    self._start_frame_thread()
                else:
                    self.session = create_session(xr, self.instance, self.system_id, self.enabled)
                    self._wait_ready_and_begin(xr)
            except BaseException:
                self._destroy(xr)
                raise
            log.info("OpenXR: %s on %s, %s session, extensions %s", self.runtime_name, self.system_name,
                     "graphics (EGL)" if self.graphics else "headless", ", ".join(sorted(self.enabled)))

    def _create_instance(self, xr) -> None:
        try:
            self.available = frozenset(text(e.extension_name) for e in xr.enumerate_instance_extension_properties())
        except (xr.RuntimeUnavailableError, xr.RuntimeFailureError, xr.InitializationFailedError) as exc:
            raise RuntimeUnavailableError(f"No OpenXR runtime is available ({type(exc).__name__}). {RUNTIME_FIX}") from None
        wanted: set[str] = set()
        for c in self._clients:
            wanted |= set(c.xr_extensions(self.available, self.graphics))
        if self.graphics:
            for ext in (GL_EXTENSION, EGL_EXTENSION):
                if ext not in self.available:
                    raise MissingExtensionError(
                        ext, tuple(sorted(self.available)),
                        f"The OpenXR runtime does not offer {ext}, which the headset view needs to take frames "
                        "rendered with headless EGL. Use Monado (it offers XR_MNDX_egl_enable), or show the camera "
                        "in the operator console instead.")
            wanted |= {GL_EXTENSION, EGL_EXTENSION}
        else:
            wanted.add(HEADLESS_EXTENSION)
        enabled = frozenset(wanted & self.available)
        if not self.graphics and HEADLESS_EXTENSION not in enabled:
            create_session(xr, None, None, enabled)  # raises MissingExtensionError with the fix
        self.enabled = enabled
        try:
            self.instance = xr.create_instance(xr.InstanceCreateInfo(
                application_info=xr.ApplicationInfo(
                    application_name=self.application_name, engine_name="psi-teleop",
                    api_version=xr.Version(1, 0, 0)),
                enabled_extension_names=sorted(enabled)))
        except (xr.RuntimeUnavailableError, xr.RuntimeFailureError, xr.InitializationFailedError) as exc:
            raise RuntimeUnavailableError(f"The OpenXR runtime refused to start ({type(exc).__name__}). {RUNTIME_FIX}") from None
        except xr.LimitReachedError:
            raise InputDeviceError(
                "An OpenXR session is already open in this process (the OpenXR loader allows one instance); "
                "stop it before starting another, or share it: pass the same OpenXRSession to the OpenXR input "
                "and the headset view."
            ) from None
        self.runtime_name = text(xr.get_instance_properties(self.instance).runtime_name)
        try:
            self.system_id = xr.get_system(self.instance, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY))
        except xr.FormFactorUnavailableError:
            raise RuntimeUnavailableError(
                f"{self.runtime_name} is running but sees no headset. Connect and power on the headset (SteamVR "
                "should show it green); for trackers without a headset, set SteamVR's requireHmd to false. "
                + FALLBACK_HINT
            ) from None
        self.system_name = text(xr.get_system_properties(self.instance, self.system_id).system_name)
        self._event = xr.EventDataBuffer()
        if self.graphics:
            self.blend_modes = tuple(xr.EnvironmentBlendMode(int(m)) for m in xr.enumerate_environment_blend_modes(
                self.instance, self.system_id, xr.ViewConfigurationType.PRIMARY_STEREO))
            modes = {int(m) for m in self.blend_modes}
            self.opaque_mode = (xr.EnvironmentBlendMode.OPAQUE if int(xr.EnvironmentBlendMode.OPAQUE) in modes
                                else self.blend_modes[0])

    def _wait_ready_and_begin(self, xr) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        while self.state != xr.SessionState.READY.value:
            self.pump_events()
            if self.lost_reason:
                raise SessionLostError(f"OpenXR input lost: {self.lost_reason}. {FALLBACK_HINT}")
            if time.monotonic() > deadline:
                raise RuntimeUnavailableError(
                    f"The OpenXR session did not become READY within {self.ready_timeout_s:.1f} s "
                    f"(runtime {self.runtime_name}). Put the headset on or wake it, close other VR apps, then retry. "
                    + FALLBACK_HINT)
            time.sleep(0.002)
        self._begin(xr)

    def _begin(self, xr) -> None:
        xr.begin_session(self.session, xr.SessionBeginInfo(
            primary_view_configuration_type=xr.ViewConfigurationType.PRIMARY_STEREO))
        self._begun = True

    # ---- events and the state machine -----------------------------------------------------
    def pump_events(self) -> None:
        """Drain the runtime's events (any thread; serialized), update the state, tell the clients."""
        xr = self.xr
        if xr is None or self.instance is None:
            return
        T = xr.StructureType
        poll = xr.raw_functions.xrPollEvent
        with self._event_lock:
            for _ in range(MAX_EVENTS_PER_PUMP):
                if self.instance is None:
                    return
                ev = self._event
                ev.type = T.EVENT_DATA_BUFFER.value
                result = int(poll(self.instance, ctypes.byref(ev)))
                if result == xr.Result.EVENT_UNAVAILABLE.value:
                    return
                if result < 0:
                    self._set_lost(LOSS_REASONS["instance_loss"] if result == xr.Result.ERROR_INSTANCE_LOST.value
                                   else f"the OpenXR runtime failed to deliver events ({xr.Result(result).name})")
                    return
                received = clock.now()
                kind = int(ev.type)
                if kind == T.EVENT_DATA_SESSION_STATE_CHANGED.value:
                    sc = ctypes.cast(ctypes.byref(ev), ctypes.POINTER(xr.EventDataSessionStateChanged)).contents
                    if sc.time > 0:
                        estimate = int(sc.time) - round(received * 1e9)
                        if self.event_offset_ns is None or estimate > self.event_offset_ns:
                            self.event_offset_ns = estimate
                    self._on_state(xr, int(sc.state))
                elif kind == T.EVENT_DATA_INSTANCE_LOSS_PENDING.value:
                    self._set_lost(LOSS_REASONS["instance_loss"])
                    continue
                for c in list(self._clients):
                    c.on_xr_event(kind, ev, received)

    def _on_state(self, xr, state: int) -> None:
        S = xr.SessionState
        self.state = state
        if state == S.LOSS_PENDING.value:
            self._set_lost(LOSS_REASONS["loss_pending"])
        elif state == S.EXITING.value and not self._exit_requested:
            self._set_lost(LOSS_REASONS["stopped"])
        elif state == S.STOPPING.value and not self._exit_requested:
            self._set_lost(LOSS_REASONS["stopped"])  # (a graphics session is ended by the frame thread)

    def _end_session(self, xr) -> None:
        if not self._begun:
            return
        self._begun = False
        try:
            xr.end_session(self.session)
        except xr.XrException as exc:
            log.debug("xrEndSession: %s", exc)

    def _set_lost(self, reason: str) -> None:
        if self.lost_reason:
            return
        self.lost_reason = reason
        log.error("OpenXR: %s", reason)
        for c in list(self._clients):
            c.on_xr_lost(reason)

    # ---- the frame loop (graphics sessions) -----------------------------------------------
    def _start_frame_thread(self) -> None:
        self._ready.clear()
        self._closing.clear()
        self._error = None
        self._thread = threading.Thread(target=self._frame_main, name="openxr-frames", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.ready_timeout_s + 10.0):
            self._closing.set()
            from teleop.cameras.exceptions import HeadsetViewError

            raise HeadsetViewError("the OpenXR frame loop did not start in time (OpenGL or the runtime hangs)")
        if self._error is not None:
            self._thread.join(3.0)
            self._thread = None
            raise self._error

    def _frame_request(self, what: str, client: LayerClient) -> None:
        """Run ``client``'s attach/detach hook on the frame thread and wait for it."""
        if self._thread is None or not self._thread.is_alive():
            if what == "attach":
                raise SessionLostError(f"the OpenXR frame loop is not running ({self.lost_reason or 'closed'})")
            return
        done, box = threading.Event(), []
        self._requests.append((what, client, done, box))
        if not done.wait(self.ready_timeout_s + 5.0):
            from teleop.cameras.exceptions import HeadsetViewError

            raise HeadsetViewError(f"the OpenXR frame loop did not {what} the view in time (OpenGL or the runtime hangs)")
        if box:
            raise box[0]

    def _serve_requests(self, xr) -> None:
        while self._requests:
            what, client, done, box = self._requests.pop(0)
            try:
                if what == "attach":
                    client.on_frame_thread_attach(xr, self)
                    self._layers.append(client)
                elif client in self._layers:
                    self._layers.remove(client)
                    client.on_frame_thread_detach(xr)
            except BaseException as exc:  # noqa: BLE001 - handed to the requesting thread
                box.append(exc)
                if what == "attach":
                    try:
                        client.on_frame_thread_detach(xr)
                    except Exception as cleanup_exc:  # noqa: BLE001 - the attach error is the one to report
                        log.debug("OpenXR: cleaning up a failed attach: %s", cleanup_exc)
            done.set()

    def _frame_main(self) -> None:
        xr = self.xr
        egl = None
        try:
            egl = EGLContext()
            req = xr.get_opengl_graphics_requirements_khr(self.instance, self.system_id)
            have, lo = gl_version(), req.min_api_version_supported
            if have < (lo.major, lo.minor):
                from teleop.cameras.exceptions import HeadsetViewError

                raise HeadsetViewError(f"the runtime needs OpenGL {lo.major}.{lo.minor}, the EGL context has "
                                       f"{have[0]}.{have[1]}; update Mesa")
            self._binding = egl.binding(xr)  # kept alive with the session
            self.session = create_session(xr, self.instance, self.system_id, self.enabled,
                                          graphics_binding=self._binding)
            self._wait_ready_and_begin(xr)
        except BaseException as exc:  # noqa: BLE001 - handed to open(), which raises it
            self._error = exc
            self._destroy_session(xr)
            if egl is not None:
                egl.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            self._frames(xr)
        except Exception as exc:  # noqa: BLE001 - a runtime failure ends the frame loop, not the process
            self._set_lost(f"the OpenXR frame loop failed ({type(exc).__name__}: {exc})")
            self._idle_until_closed(xr)
        finally:
            for client in list(self._layers):
                try:
                    client.on_frame_thread_detach(xr)
                except Exception as exc:  # noqa: BLE001
                    log.warning("OpenXR: releasing %s failed: %s", type(client).__name__, exc)
            self._layers.clear()
            self._serve_requests(xr)  # detaches that raced with the end: nothing left to release
            self._destroy_session(xr)
            egl.close()

    def _idle_until_closed(self, xr) -> None:
        """After a loss: no more frames; serve detach requests until close() asks the thread to end."""
        while not self._closing.is_set():
            self._serve_requests(xr)
            self._closing.wait(0.02)

    def _frames(self, xr) -> None:
        S = xr.SessionState
        wait_info, begin_info = xr.FrameWaitInfo(), xr.FrameBeginInfo()
        exit_deadline = None
        while True:
            self.pump_events()
            self._serve_requests(xr)
            if self.lost_reason:
                self._idle_until_closed(xr)
                return
            if self._closing.is_set():
                if exit_deadline is None:  # xrEndSession is valid once the runtime says STOPPING
                    self._exit_requested = True
                    xr.request_exit_session(self.session)
                    exit_deadline = time.monotonic() + EXIT_TIMEOUT_S
                elif not self._begun or time.monotonic() > exit_deadline:
                    if self._begun:
                        log.warning("OpenXR: the runtime did not stop the session within %.1f s; ending it", EXIT_TIMEOUT_S)
                    return
            if self._begun and self.state == S.STOPPING.value:
                self._end_session(xr)  # the runtime asked for it (our exit request): frames must stop
                continue
            if not self._begun:
                if self.state == S.READY.value and not self._closing.is_set():
                    self._begin(xr)  # the runtime made the session ready again (headset back on)
                else:
                    time.sleep(0.005)
                    continue
            fs = xr.wait_frame(self.session, wait_info)
            cpu0 = time.thread_time()
            xr.begin_frame(self.session, begin_info)
            self.display_time_ns, self.display_period_ns = int(fs.predicted_display_time), int(fs.predicted_display_period)
            now = clock.now()
            layers, blend = [], None
            for client in self._layers:
                lyr, b = client.render(xr, fs, now)
                layers.extend(lyr)
                blend = b if blend is None else blend
            xr.end_frame(self.session, xr.FrameEndInfo(
                display_time=fs.predicted_display_time, environment_blend_mode=blend or self.opaque_mode,
                layers=layers))
            submitted = clock.now()
            for client in self._layers:
                client.after_end_frame(submitted)
            self.frames_ended += 1
            self.frame_cpu_s += time.thread_time() - cpu0

    def next_display_time_ns(self, t_xr_now: int) -> int | None:
        """The first predicted display time at or after ``t_xr_now`` (None without a frame loop)."""
        t, period = self.display_time_ns, self.display_period_ns
        if t is None or not period:
            return None
        if t < t_xr_now:
            t += math.ceil((t_xr_now - t) / period) * period
        return t

    # ---- close --------------------------------------------------------------------------
    def close(self) -> None:
        """End and destroy the session and the instance (idempotent); clients must be done with them."""
        with self._lock:
            xr = self.xr
            if xr is None:
                return
            if self._thread is not None:
                self._closing.set()
                self._thread.join(EXIT_TIMEOUT_S + 5.0)
                if self._thread.is_alive():
                    log.warning("OpenXR: the frame thread did not end; its session is left to the process exit")
                    return
                self._thread = None
            self._destroy(xr)

    def _destroy_session(self, xr) -> None:
        if self.session is None:
            return
        S = xr.SessionState
        if self._begun or self.state in (S.STOPPING.value, S.SYNCHRONIZED.value, S.VISIBLE.value, S.FOCUSED.value):
            self._begun = True
            self._end_session(xr)
        try:
            xr.destroy_session(self.session)
        except xr.XrException:
            pass
        self.session = None

    def _destroy(self, xr) -> None:
        with self._event_lock:
            self._destroy_session(xr)
            if self.instance is not None:
                try:
                    xr.destroy_instance(self.instance)
                except xr.XrException:
                    pass
                self.instance = None
            self.state = 0
            self._begun = self._exit_requested = False
            self.display_time_ns = self.display_period_ns = None
            self.event_offset_ns = None
            self._attached.clear()
            self.lost_reason = ""
