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
"""

from __future__ import annotations

import json

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
