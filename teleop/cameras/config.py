"""Camera configuration: which cameras a session opens, by name, and from what device.

A camera is named by its role (``head``, ``left_wrist``, ``right_wrist``, or any other
name without ``/``); the name is the key of its frames in the recorder
(``cameras/<name>/...``) and in :meth:`teleop.status.SessionControl.latest_frame`.

On the command line and in session configs a camera is one string, parsed by
:func:`parse_camera`::

    head=sim                                   simulated head camera (MuJoCo)
    head=uvc:0            head=uvc:/dev/video2 UVC through OpenCV (index or device path)
    head=realsense        head=realsense:123456789012   Intel RealSense colour (first or by serial)
    head=realsense:123456789012+depth         colour + aligned depth
    head=teleimager:192.168.123.164:55555     the G1's image server (ZMQ stream)
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from teleop.exceptions import ConfigError

#: Roles the robot and the simulation have cameras for.
ROLES = ("head", "left_wrist", "right_wrist")
#: Default ZMQ ports of Unitree's teleimager server, by role (its cam_config_server.yaml).
TELEIMAGER_PORTS = {"head": 55555, "left_wrist": 55556, "right_wrist": 55557}
#: The image server's configuration request port (REQ ``GET_DATA`` -> JSON).
TELEIMAGER_CONFIG_PORT = 60000
#: The G1's on-board computer (PC2) on the robot's network.
G1_HOST = "192.168.123.164"


class CameraKind(enum.Enum):
    """Where a camera's frames come from."""

    SIM = "sim"  # MuJoCo render of a camera in the simulated scene
    UVC = "uvc"  # a V4L2/UVC device (or a video file) through OpenCV
    REALSENSE = "realsense"  # Intel RealSense through pyrealsense2
    TELEIMAGER = "teleimager"  # Unitree teleimager JPEG stream over ZMQ (PUB/SUB)


@dataclass(frozen=True)
class CameraConfig:
    """One camera.

    Attributes:
        name: role name, the recorder's key (no '/').
        kind: the source kind.
        device: UVC: index ("0") or path ("/dev/video2", or a video file); RealSense: serial
            ("" = first found); teleimager: host name or IP; SIM: unused.
        port: teleimager PUB port (0 = the role's default in :data:`TELEIMAGER_PORTS`).
        size: (height, width) [px] requested from the device (UVC, RealSense; SIM uses the
            simulation's ``camera_size``); teleimager frames keep the server's size.
        fps: capture rate [Hz] requested (UVC, RealSense) or rendered (SIM).
        depth: RealSense: also stream depth aligned to colour (uint16 [mm] in ``CameraFrame.depth``).
        stale_after_s: a frame older than this is not handed to the recorder [s]; the row is
            marked invalid for this camera.
        open_timeout_s: longest wait for the device to open or the first frame to arrive [s].
        latency_s: fixed delay subtracted from the arrival time when the device gives no
            capture time (teleimager, UVC without driver stamps) [s]; 0 = stamp at arrival.
    """

    name: str
    kind: CameraKind
    device: str = ""
    port: int = 0
    size: tuple[int, int] = (480, 640)  # [px] (H, W)
    fps: float = 30.0  # [Hz]
    depth: bool = False
    stale_after_s: float = 0.5  # [s]
    open_timeout_s: float = 5.0  # [s]
    latency_s: float = 0.0  # [s]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name or "=" in self.name:
            raise ConfigError(f"CameraConfig.name={self.name!r} must be a non-empty name without '/' or '=' "
                              f"(roles: {', '.join(ROLES)})")
        if not isinstance(self.kind, CameraKind):
            raise ConfigError(f"CameraConfig.kind={self.kind!r} must be a CameraKind ({', '.join(k.value for k in CameraKind)})")
        h, w = self.size
        if not (16 <= int(h) <= 4320 and 16 <= int(w) <= 7680):
            raise ConfigError(f"CameraConfig.size={self.size!r} must be (height, width) within 16..4320 x 16..7680 px")
        for field_name, lo, hi in (("fps", 0.5, 240.0), ("stale_after_s", 0.01, 60.0),
                                   ("open_timeout_s", 0.1, 120.0), ("latency_s", 0.0, 5.0)):
            v = getattr(self, field_name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ConfigError(f"CameraConfig.{field_name}={v!r} is out of range; valid: [{lo}, {hi}]")
        if not 0 <= int(self.port) <= 65535:
            raise ConfigError(f"CameraConfig.port={self.port!r} must be within 0..65535")
        if self.depth and self.kind is not CameraKind.REALSENSE:
            raise ConfigError(f"CameraConfig.depth=True needs kind=realsense (camera '{self.name}' is {self.kind.value})")
        if self.kind is CameraKind.TELEIMAGER and not self.device:
            raise ConfigError(f"camera '{self.name}': a teleimager camera needs the server's host in device "
                              f"(the G1's PC2 is {G1_HOST})")

    @property
    def resolved_port(self) -> int:
        """The teleimager port: ``port``, or the role's default."""
        if self.port:
            return int(self.port)
        if self.name not in TELEIMAGER_PORTS:
            raise ConfigError(f"camera '{self.name}' has no default teleimager port (roles with one: "
                              f"{', '.join(TELEIMAGER_PORTS)}); give it as teleimager:HOST:PORT")
        return TELEIMAGER_PORTS[self.name]


def parse_camera(spec: str, **overrides) -> CameraConfig:
    """A :class:`CameraConfig` from ``NAME=KIND[:DEVICE[:PORT]][+depth]`` (see the module docstring).

    ``overrides`` set other fields (``size``, ``fps``, ``stale_after_s``, ...).

    Raises:
        ConfigError: the string does not have that form; the message shows the valid forms.
    """
    forms = "NAME=sim | NAME=uvc:INDEX_OR_PATH | NAME=realsense[:SERIAL][+depth] | NAME=teleimager:HOST[:PORT]"
    name, sep, rest = spec.partition("=")
    if not sep or not name or not rest:
        raise ConfigError(f"camera {spec!r} must look like {forms}")
    depth = rest.endswith("+depth")
    if depth:
        rest = rest[: -len("+depth")]
    kind_s, _, device = rest.partition(":")
    try:
        kind = CameraKind(kind_s.lower())
    except ValueError:
        raise ConfigError(f"camera {spec!r}: unknown kind {kind_s!r}; valid kinds: "
                          f"{', '.join(k.value for k in CameraKind)} ({forms})") from None
    port = 0
    if kind is CameraKind.TELEIMAGER:
        host, _, port_s = device.partition(":")
        device = host
        if port_s:
            try:
                port = int(port_s)
            except ValueError:
                raise ConfigError(f"camera {spec!r}: port {port_s!r} is not a number") from None
    elif kind is CameraKind.UVC and not device:
        device = "0"
    return CameraConfig(name=name, kind=kind, device=device, port=port, depth=depth, **overrides)
