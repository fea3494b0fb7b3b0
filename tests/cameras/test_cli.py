"""``psi-teleop cameras``: the report, the saved frame, the exit code, serving in teleimager format."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from teleop.cli import main
from tests.cameras.test_uvc import _write_video

cv2 = pytest.importorskip("cv2", reason="OpenCV (extra 'cameras') is not installed")


def test_report_save_and_exit_code(tmp_path, capsys):
    video = tmp_path / "clip.avi"
    _write_video(video, n=4, h=32, w=48)
    rc = main(["cameras", f"head=uvc:{video}", "left_wrist=uvc:/dev/video_psi_missing", "--duration", "1.0",
               "--json", "--save", str(tmp_path / "saved")])
    text = capsys.readouterr().out
    out = json.loads(text[text.index("{\n"):])  # log lines (rich, stdout) may come before the JSON
    rows = {r["name"]: r for r in out["cameras"]}
    assert rc == 1  # one camera is not streaming
    assert rows["head"]["state"] == "streaming" and rows["head"]["size"] == [32, 48] and rows["head"]["frames"] >= 1
    assert rows["left_wrist"]["state"] == "failed" and "does not exist" in rows["left_wrist"]["detail"]
    import simplejpeg

    saved = simplejpeg.decode_jpeg((tmp_path / "saved" / "head.jpg").read_bytes())
    assert saved.shape == (32, 48, 3)
    assert not (tmp_path / "saved" / "left_wrist.jpg").exists()


def test_bad_camera_string_is_an_operator_error(capsys):
    assert main(["cameras", "head=kinect"]) == 1


def test_serve_publishes_in_teleimager_format(tmp_path):
    pytest.importorskip("zmq")
    from teleop.cameras import parse_camera
    from teleop.cameras.teleimager import TeleimagerCameraSource
    from tests.cameras.test_teleimager import _free_port

    video = tmp_path / "clip.avi"
    _write_video(video, n=4, h=32, w=48)
    port = _free_port()
    # the CLI serves by role on default ports; use a role whose default port is free on this machine
    from teleop.cameras import config as camera_config

    ports = dict(camera_config.TELEIMAGER_PORTS, head=port)
    mp = pytest.MonkeyPatch()
    mp.setattr(camera_config, "TELEIMAGER_PORTS", ports)
    mp.setattr("teleop.cameras.config.TELEIMAGER_CONFIG_PORT", _free_port())
    mp.setattr("teleop.cameras.teleimager.TELEIMAGER_CONFIG_PORT", _free_port())
    rc = {}
    t = threading.Thread(target=lambda: rc.setdefault("rc", main(
        ["cameras", f"head=uvc:{video}", "--duration", "3.0", "--serve", "127.0.0.1", "--json"])))
    t.start()
    src = TeleimagerCameraSource(parse_camera(f"head=teleimager:127.0.0.1:{port}"))
    src.start()
    try:
        f = src.wait_frame(timeout=10.0)
        assert f is not None and f.image.shape == (32, 48, 3)
        assert np.asarray(f.image).std() > 0 or f.image.mean() > 0
    finally:
        src.stop()
        t.join(15.0)
        mp.undo()
    assert rc.get("rc") == 0
