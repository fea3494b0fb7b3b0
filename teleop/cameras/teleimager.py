"""The G1's image server: Unitree's ``teleimager`` JPEG streams over ZMQ (extra ``cameras``: pyzmq).

Wire format (teleimager's ``image_server`` / ``image_client``, learned from its source):

* configuration: a REP socket on port 60000 answers any request (the client sends
  ``b"GET_DATA"``) with a JSON object ``{"head_camera": {...}, "left_wrist_camera": {...},
  "right_wrist_camera": {...}}``; each entry has ``enable_zmq``, ``zmq_port``,
  ``image_shape`` [H, W], ``binocular`` (side-by-side stereo), ``fps``, ...
* frames: one PUB socket per camera (default ports 55555 head, 55556 left wrist, 55557
  right wrist); every message is a single part, the JPEG bytes of one BGR frame encoded by
  OpenCV (so it decodes to RGB like any JPEG). There is no topic and no timestamp.

The message carries no capture time, so a frame is stamped at arrival minus
``CameraConfig.latency_s`` (measure the server's encode + network delay once, e.g. by
filming a clock, and set it). The socket keeps only the newest message (``CONFLATE``), so
a slow reader never sees a backlog. WebRTC, the server's other transport, is not used.

:class:`TeleimagerPublisher` is the server side in the same format, so a process that owns
cameras (the DDS simulator, a bench PC) can serve them to the operator's session.
"""

from __future__ import annotations

import json
import threading

import numpy as np

from teleop import clock
from teleop.cameras.config import TELEIMAGER_CONFIG_PORT, CameraConfig, CameraKind
from teleop.cameras.exceptions import CameraError, CameraNotFoundError
from teleop.cameras.source import CameraSource
from teleop.exceptions import MissingExtraError

#: Poll timeout of one read [ms] (the loop checks for stop and staleness in between).
POLL_MS = 100
#: teleimager config keys by camera role.
CONFIG_KEYS = {"head": "head_camera", "left_wrist": "left_wrist_camera", "right_wrist": "right_wrist_camera"}


def _import_zmq():
    try:
        import zmq
    except ImportError:
        raise MissingExtraError("zmq", "cameras", "The robot's image server (kind teleimager)") from None
    return zmq


def request_server_config(host: str, port: int = TELEIMAGER_CONFIG_PORT, timeout_s: float = 1.0) -> dict:
    """Ask a teleimager server for its camera configuration (REQ ``GET_DATA`` -> JSON).

    Raises:
        CameraNotFoundError: no answer within ``timeout_s`` [s].
    """
    zmq = _import_zmq()
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(f"tcp://{host}:{port}")
        sock.send(b"GET_DATA")
        if not sock.poll(int(timeout_s * 1e3), zmq.POLLIN):
            raise CameraNotFoundError(
                f"the image server at {host}:{port} did not answer within {timeout_s:.1f} s; check that "
                "teleimager runs on the robot's PC2 and that this machine is on the robot's network (192.168.123.x)"
            )
        return json.loads(sock.recv())
    finally:
        sock.close()


class TeleimagerCameraSource(CameraSource):
    """One camera stream of a teleimager server (``device`` = host, ``port`` = its PUB port)."""

    def __init__(self, config: CameraConfig):
        if config.kind is not CameraKind.TELEIMAGER:
            raise CameraError(f"camera '{config.name}' is {config.kind.value}, not teleimager")
        super().__init__(config)
        self._zmq = _import_zmq()
        self.port = config.resolved_port
        self._sock = None
        self.decode_errors = 0

    def describe(self) -> str:
        return f"image server tcp://{self.config.device}:{self.port}"

    def _open(self) -> None:
        zmq = self._zmq
        sock = zmq.Context.instance().socket(zmq.SUB)
        sock.setsockopt(zmq.CONFLATE, 1)  # newest message only (before connect)
        sock.setsockopt(zmq.RCVHWM, 1)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(f"tcp://{self.config.device}:{self.port}")
        self._sock = sock

    def _read(self):
        import simplejpeg

        sock = self._sock
        if not sock.poll(POLL_MS, self._zmq.POLLIN):
            return None
        data = sock.recv(copy=True)
        arrival = clock.now()
        try:
            image = simplejpeg.decode_jpeg(data, colorspace="RGB")
        except ValueError:
            self.decode_errors += 1
            self._message = f"{self.decode_errors} messages were not JPEG images (is {self.describe()} a teleimager stream?)"
            return None
        return np.ascontiguousarray(image), arrival - self.config.latency_s, None

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


#: How often the publisher looks for new frames and configuration requests [s].
_PUBLISH_POLL_S = 0.005


class TeleimagerPublisher:
    """Serves cameras in teleimager's wire format, as the G1's PC2 does (e.g. from the DDS simulator process).

    A process that owns cameras (the simulator speaking the robot's DDS topics, a bench PC
    with UVC cameras) publishes them so the operator's session reads them with the same
    ``teleimager`` source it uses on the robot. One PUB socket per camera sends each new
    frame once, JPEG-encoded; a REP socket answers configuration requests with the JSON the
    official client expects (all three roles, absent ones with ``enable_zmq: false``).

    Args:
        frames: camera role -> callable returning the newest ``CameraFrame`` or None
            (e.g. ``{name: rig[name].latest for name in rig.names}``).
        host: interface to bind ("127.0.0.1": this machine only; "0.0.0.0": the network).
        ports: role -> PUB port (default :data:`~teleop.cameras.config.TELEIMAGER_PORTS`).
        config_port: the configuration REP port.
        jpeg_quality: JPEG quality [1..100].
        fps: the nominal rate written into the configuration [Hz].
    """

    def __init__(self, frames, host: str = "127.0.0.1", ports: dict[str, int] | None = None,
                 config_port: int = TELEIMAGER_CONFIG_PORT, jpeg_quality: int = 85, fps: float = 30.0):
        from teleop.cameras.config import TELEIMAGER_PORTS
        from teleop.exceptions import ConfigError

        if not isinstance(jpeg_quality, int) or not 1 <= jpeg_quality <= 100:
            raise ConfigError(f"jpeg_quality={jpeg_quality!r} must be an integer in [1, 100]")
        ports = dict(ports or {})
        for name in frames:
            if name not in ports and name not in TELEIMAGER_PORTS:
                raise ConfigError(f"camera '{name}' has no default teleimager port; give it in ports=")
            ports.setdefault(name, TELEIMAGER_PORTS.get(name, 0))
        self._frames = dict(frames)
        self.host = host
        self.ports = {n: ports[n] for n in self._frames}
        self.config_port = config_port
        self.jpeg_quality = jpeg_quality
        self.fps = fps
        self._zmq = _import_zmq()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shapes: dict[str, list[int]] = {}
        self.sent = {n: 0 for n in self._frames}
        self._bound = threading.Event()
        self._error: BaseException | None = None

    def server_config(self) -> dict:
        """The JSON object the configuration socket answers with."""
        from teleop.cameras.config import ROLES

        out = {}
        for role in dict.fromkeys((*ROLES, *self._frames)):
            key = CONFIG_KEYS.get(role, f"{role}_camera")
            on = role in self._frames
            out[key] = {"enable_zmq": on, "zmq_port": self.ports.get(role, 0), "enable_webrtc": False,
                        "image_shape": self._shapes.get(role, [0, 0]), "binocular": False, "fps": self.fps,
                        "type": "psi-teleop"}
        return out

    def start(self) -> None:
        """Bind the sockets and start publishing (raises CameraError when a port is taken)."""
        self._stop.clear()
        self._bound.clear()
        self._thread = threading.Thread(target=self._run, name="teleimager-publisher", daemon=True)
        self._thread.start()
        self._bound.wait(5.0)
        if self._error is not None:
            raise self._error

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        import simplejpeg

        zmq = self._zmq
        ctx = zmq.Context.instance()
        socks = {}
        rep = None
        try:
            try:
                for name, port in self.ports.items():
                    s = ctx.socket(zmq.PUB)
                    s.setsockopt(zmq.SNDHWM, 1)
                    s.setsockopt(zmq.LINGER, 0)
                    s.bind(f"tcp://{self.host}:{port}")
                    socks[name] = s
                rep = ctx.socket(zmq.REP)
                rep.setsockopt(zmq.LINGER, 0)
                rep.bind(f"tcp://{self.host}:{self.config_port}")
            except zmq.ZMQError as exc:
                self._error = CameraError(f"cannot serve cameras on {self.host} ports {sorted(self.ports.values())} / "
                                          f"{self.config_port}: {exc}; is another image server running?")
                return
            finally:
                self._bound.set()
            last = {n: 0 for n in self._frames}
            while not self._stop.is_set():
                if rep.poll(int(_PUBLISH_POLL_S * 1e3), zmq.POLLIN):
                    rep.recv()
                    rep.send(json.dumps(self.server_config()).encode())
                for name, get in self._frames.items():
                    f = get()
                    if f is None or f.seq == last[name]:
                        continue
                    last[name] = f.seq
                    self._shapes[name] = list(f.image.shape[:2])
                    data = simplejpeg.encode_jpeg(np.ascontiguousarray(f.image), quality=self.jpeg_quality,
                                                  colorspace="RGB")
                    try:
                        socks[name].send(data, zmq.NOBLOCK)
                        self.sent[name] += 1
                    except zmq.Again:
                        pass  # no subscriber keeping up: drop, like the robot's server
        finally:
            for s in socks.values():
                s.close()
            if rep is not None:
                rep.close()
