"""Camera configuration: parsing the command-line form and validation messages."""

from __future__ import annotations

import pytest

from teleop.cameras import CameraConfig, CameraKind, parse_camera
from teleop.exceptions import ConfigError


def test_parse_every_kind():
    assert parse_camera("head=sim") == CameraConfig("head", CameraKind.SIM)
    assert parse_camera("head=uvc") .device == "0"
    assert parse_camera("left_wrist=uvc:/dev/video2").device == "/dev/video2"
    rs = parse_camera("head=realsense:123456789012+depth")
    assert (rs.kind, rs.device, rs.depth) == (CameraKind.REALSENSE, "123456789012", True)
    ti = parse_camera("right_wrist=teleimager:192.168.123.164")
    assert (ti.device, ti.port, ti.resolved_port) == ("192.168.123.164", 0, 55557)
    assert parse_camera("head=teleimager:10.0.0.2:6000").resolved_port == 6000
    assert parse_camera("head=sim", fps=12.0).fps == 12.0


@pytest.mark.parametrize("spec, match", [
    ("head", "must look like NAME=sim"),
    ("head=kinect", "unknown kind 'kinect'; valid kinds: sim, uvc, realsense, teleimager"),
    ("head=teleimager", "needs the server's host"),
    ("head=teleimager:h:port", "port 'port' is not a number"),
    ("a/b=sim", "without '/'"),
    ("head=uvc:0+depth", "depth=True needs kind=realsense"),
])
def test_bad_specs_say_what_is_valid(spec, match):
    with pytest.raises(ConfigError, match=match):
        parse_camera(spec)


def test_ranges_are_checked():
    with pytest.raises(ConfigError, match=r"fps=0.1 is out of range; valid: \[0.5, 240.0\]"):
        CameraConfig("head", CameraKind.SIM, fps=0.1)
    with pytest.raises(ConfigError, match="size"):
        CameraConfig("head", CameraKind.SIM, size=(8, 8))
    with pytest.raises(ConfigError, match="no default teleimager port"):
        _ = CameraConfig("chest", CameraKind.TELEIMAGER, device="h").resolved_port
