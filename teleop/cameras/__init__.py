"""Camera sources behind one interface: simulated, UVC, RealSense, and the G1's image server.

    from teleop.cameras import CameraRig, parse_camera, open_rig
    rig = open_rig([parse_camera("head=uvc:0"), parse_camera("left_wrist=teleimager:192.168.123.164")])
    rig.start(); cams = rig.snapshot()     # {name: (frame, stamp) | None} for the recorder

Each source captures on its own thread into a latest-frame slot; nothing here blocks the
teleop loop. Heavy or optional libraries (MuJoCo, OpenCV, pyrealsense2, pyzmq) are
imported only by the source that needs them. See ``docs/cameras.md``.
"""

from teleop.cameras.config import CameraConfig, CameraKind, parse_camera
from teleop.cameras.exceptions import CameraError, CameraNotFoundError, HeadsetViewError
from teleop.cameras.rig import CameraRig, make_source, open_rig
from teleop.cameras.sim import SimCameraSource, SimStateTap
from teleop.cameras.source import CameraFrame, CameraHealth, CameraSource, CameraState

__all__ = [
    "CameraConfig",
    "CameraError",
    "CameraFrame",
    "CameraHealth",
    "CameraKind",
    "CameraNotFoundError",
    "CameraRig",
    "CameraSource",
    "CameraState",
    "HeadsetViewError",
    "SimCameraSource",
    "SimStateTap",
    "make_source",
    "open_rig",
    "parse_camera",
]
