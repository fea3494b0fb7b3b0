"""The G1 image-server source against a publisher that speaks teleimager's wire format over loopback."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from teleop import clock
from teleop.cameras import CameraError, CameraNotFoundError, CameraState, parse_camera

zmq = pytest.importorskip("zmq", reason="pyzmq (extra 'cameras') is not installed")
simplejpeg = pytest.importorskip("simplejpeg")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeImageServer:
    """teleimager's server side: a PUB socket sending bare JPEG bytes, a REP socket answering GET_DATA with JSON."""

    def __init__(self, image_shape=(24, 32)):
        self.ctx = zmq.Context()
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.SNDHWM, 1)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.port = self.pub.bind_to_random_port("tcp://127.0.0.1")
        self.rep = self.ctx.socket(zmq.REP)
        self.rep.setsockopt(zmq.LINGER, 0)
        self.config_port = self.rep.bind_to_random_port("tcp://127.0.0.1")
        self.config = {"head_camera": {"enable_zmq": True, "zmq_port": self.port, "image_shape": list(image_shape),
                                       "binocular": False, "fps": 30, "enable_webrtc": False}}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._serve_config, daemon=True)
        self._t.start()

    def _serve_config(self):
        while not self._stop.is_set():
            if self.rep.poll(50):
                self.rep.recv()
                self.rep.send(json.dumps(self.config).encode())

    def send_bgr(self, bgr: np.ndarray) -> None:
        self.pub.send(simplejpeg.encode_jpeg(np.ascontiguousarray(bgr), quality=95, colorspace="BGR"))

    def send_raw(self, data: bytes) -> None:
        self.pub.send(data)

    def close(self):
        self._stop.set()
        self._t.join(2.0)
        self.pub.close()
        self.rep.close()
        self.ctx.term()


@pytest.fixture
def server():
    s = FakeImageServer()
    yield s
    s.close()


def test_frames_are_decoded_to_rgb_and_stamped_at_arrival_minus_latency(server):
    from teleop.cameras.teleimager import TeleimagerCameraSource

    src = TeleimagerCameraSource(parse_camera(f"head=teleimager:127.0.0.1:{server.port}", latency_s=0.040))
    src.start()
    try:
        bgr = np.zeros((24, 32, 3), np.uint8)
        bgr[..., 0] = 200  # blue in BGR
        f = None
        last = 0
        for _ in range(200):  # the SUB connects asynchronously: publish until frames flow
            server.send_bgr(bgr)
            f = src.wait_frame(after_seq=last, timeout=0.05)
            if f is not None:
                break
        assert f is not None, "no frame reached the subscriber"
        assert f.image.shape == (24, 32, 3)
        np.testing.assert_allclose(f.image[12, 16], (0, 0, 200), atol=6)  # blue lands in the B channel of RGB
        assert 0.040 <= f.arrival - f.stamp < 0.040 + 0.5  # stamped at receipt - latency; published after decoding
        assert f.arrival <= clock.now()
        # a stream of frames: the slot ends on the newest one (the server's PUB drops what its HWM cannot hold,
        # the SUB keeps only the newest message)
        for i in range(20):
            bgr[..., 0] = 10 * i
            server.send_bgr(bgr)
            time.sleep(0.005)
        deadline = time.monotonic() + 5.0
        while src.latest().image[12, 16, 2] < 184 and time.monotonic() < deadline:
            time.sleep(0.01)
        np.testing.assert_allclose(src.latest().image[12, 16, 2], 190, atol=6)
        assert src.latest().seq <= 21  # never more frames than were sent
    finally:
        src.stop()


def test_non_jpeg_messages_are_counted_not_fatal(server):
    from teleop.cameras.teleimager import TeleimagerCameraSource

    src = TeleimagerCameraSource(parse_camera(f"head=teleimager:127.0.0.1:{server.port}"))
    src.start()
    try:
        for _ in range(100):
            server.send_raw(b"not a jpeg")
            if src.decode_errors:
                break
            src.wait_frame(timeout=0.02)
        assert src.decode_errors >= 1 and src.latest() is None
        assert "were not JPEG images" in src.health().message
    finally:
        src.stop()


def test_silent_server_is_reported_stalled():
    from teleop.cameras.teleimager import TeleimagerCameraSource

    src = TeleimagerCameraSource(parse_camera(f"head=teleimager:127.0.0.1:{_free_port()}", stale_after_s=0.1,
                                              open_timeout_s=0.3))
    try:
        with pytest.raises(CameraError, match="sent no frame within 0.3 s"):
            src.start(wait=True)
        assert src.health().state is CameraState.STALLED
    finally:
        src.stop()


def test_config_request_speaks_get_data(server):
    from teleop.cameras.teleimager import request_server_config

    cfg = request_server_config("127.0.0.1", server.config_port, timeout_s=2.0)
    assert cfg["head_camera"]["zmq_port"] == server.port and cfg["head_camera"]["image_shape"] == [24, 32]
    with pytest.raises(CameraNotFoundError, match="did not answer within 0.2 s"):
        request_server_config("127.0.0.1", _free_port(), timeout_s=0.2)


def test_publisher_serves_frames_and_config_to_the_source():
    """Our server side (for the simulator process) and our client side agree, and the config is teleimager's."""
    from teleop.cameras import CameraFrame
    from teleop.cameras.teleimager import (
        TeleimagerCameraSource,
        TeleimagerPublisher,
        request_server_config,
    )

    port, config_port = _free_port(), _free_port()
    slot = {"f": None}
    rgb = np.zeros((24, 32, 3), np.uint8)
    rgb[:, :16] = (250, 0, 0)  # left half red
    rgb.flags.writeable = False
    pub = TeleimagerPublisher({"head": lambda: slot["f"]}, ports={"head": port}, config_port=config_port,
                              jpeg_quality=95)
    pub.start()
    src = TeleimagerCameraSource(parse_camera(f"head=teleimager:127.0.0.1:{port}"))
    src.start()
    try:
        got = None
        for seq in range(1, 300):
            slot["f"] = CameraFrame(rgb, clock.now(), seq, clock.now())
            got = src.wait_frame(timeout=0.02)
            if got is not None:
                break
        assert got is not None, "no frame from the publisher"
        np.testing.assert_allclose(got.image[12, 4], (250, 0, 0), atol=8)
        np.testing.assert_allclose(got.image[12, 28], (0, 0, 0), atol=8)
        cfg = request_server_config("127.0.0.1", config_port, timeout_s=2.0)
        assert cfg["head_camera"] == {"enable_zmq": True, "zmq_port": port, "enable_webrtc": False,
                                      "image_shape": [24, 32], "binocular": False, "fps": 30.0,
                                      "type": "psi-teleop"}
        assert cfg["left_wrist_camera"]["enable_zmq"] is False  # every role present, as the official client expects
        n = pub.sent["head"]
        time.sleep(0.1)
        assert pub.sent["head"] == n  # the same frame (seq) is not sent twice
    finally:
        src.stop()
        pub.stop()


def test_publisher_port_in_use_is_reported(server):
    from teleop.cameras.teleimager import TeleimagerPublisher

    pub = TeleimagerPublisher({"head": lambda: None}, ports={"head": server.port}, config_port=_free_port())
    with pytest.raises(CameraError, match="is another image server running"):
        pub.start()
    pub.stop()
