"""The capture thread: latest-frame slot, stall and failure reporting, reopening, rig snapshots."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from teleop import clock
from teleop.cameras import CameraConfig, CameraError, CameraKind, CameraRig, CameraState
from teleop.cameras.source import CameraSource
from teleop.exceptions import ConfigError


class ScriptedSource(CameraSource):
    """Frames on demand: the test releases them one by one, or makes open/read fail."""

    def __init__(self, name="head", fail_opens=0, **kw):
        super().__init__(CameraConfig(name, CameraKind.UVC, device="test", **kw))
        self.fail_opens = fail_opens
        self.opens = 0
        self.closes = 0
        self.gate = threading.Semaphore(0)
        self.break_read = False
        self.n = 0

    def _open(self):
        self.opens += 1
        if self.opens <= self.fail_opens:
            raise CameraError(f"camera '{self.name}': test device missing")

    def _read(self):
        if self.break_read:
            self.break_read = False
            raise OSError("unplugged")
        if not self.gate.acquire(timeout=0.02):
            return None
        self.n += 1
        return np.full((4, 6, 3), self.n, np.uint8), clock.now() - 0.010, None

    def _close(self):
        self.closes += 1


def _until(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_latest_slot_keeps_only_the_newest_frame():
    src = ScriptedSource()
    src.start()
    try:
        for _ in range(5):
            src.gate.release()
        f = src.wait_frame(after_seq=4, timeout=5.0)
        assert f is not None and f.seq == 5
        assert int(f.image[0, 0, 0]) == 5  # the fifth image, the older ones are gone
        assert f.arrival - f.stamp == pytest.approx(0.010, abs=0.005)  # acquisition stamp, not arrival
        assert not f.image.flags.writeable  # shared between readers: read-only
        assert src.health().frames == 5
    finally:
        src.stop()
    assert src.state is CameraState.STOPPED and src.closes == 1


def test_stall_is_reported_and_fresh_returns_none():
    src = ScriptedSource(stale_after_s=0.1)
    src.start()
    try:
        src.gate.release()
        f = src.wait_frame(timeout=5.0)
        assert src.fresh(f.stamp + 0.05) is f
        assert src.fresh(f.stamp + 0.2) is None  # older than stale_after_s: not handed out
        _until(lambda: src.state is CameraState.STALLED)
        h = src.health()
        assert h.state is CameraState.STALLED and "no frame for" in h.message
        src.gate.release()
        _until(lambda: src.state is CameraState.STREAMING)
    finally:
        src.stop()


def test_failed_open_is_reported_and_retried(monkeypatch):
    monkeypatch.setattr("teleop.cameras.source.REOPEN_BACKOFF_S", (0.01, 0.02))
    src = ScriptedSource(fail_opens=2, open_timeout_s=0.5)
    with pytest.raises(CameraError, match="test device missing"):
        src.start(wait=True)
    assert src.health().state is CameraState.FAILED
    src.gate.release()
    try:
        assert src.wait_frame(timeout=5.0) is not None  # reopened after the back-off
        assert src.opens == 3
    finally:
        src.stop()


def test_read_error_closes_and_reopens(monkeypatch):
    monkeypatch.setattr("teleop.cameras.source.REOPEN_BACKOFF_S", (0.01, 0.02))
    src = ScriptedSource()
    src.start()
    try:
        src.gate.release()
        assert src.wait_frame(timeout=5.0).seq == 1
        src.break_read = True
        _until(lambda: src.opens == 2)
        assert src.closes >= 1
        src.gate.release()
        assert src.wait_frame(after_seq=1, timeout=5.0).seq == 2
    finally:
        src.stop()


def test_start_wait_times_out_with_a_clear_message():
    src = ScriptedSource(open_timeout_s=0.2)
    try:
        with pytest.raises(CameraError, match=r"camera 'head' \(uvc test\) sent no frame within 0.2 s"):
            src.start(wait=True)
    finally:
        src.stop()


def test_rig_snapshot_marks_missing_and_stale_cameras_none():
    a, b = ScriptedSource("head", stale_after_s=0.2), ScriptedSource("left_wrist")
    rig = CameraRig([a, b])
    rig.start()
    try:
        a.gate.release()
        fa = a.wait_frame(timeout=5.0)
        snap = rig.snapshot(fa.stamp + 0.01)
        assert snap["left_wrist"] is None  # no frame yet: the recorder marks the row invalid
        assert snap["head"][0] is fa.image and snap["head"][1] == fa.stamp
        assert rig.snapshot(fa.stamp + 0.5)["head"] is None  # stale
        assert rig.latest_frame("head") == (fa.image, fa.stamp)  # the console still sees the last picture
        assert rig.latest_frame("chest") is None
        assert rig.shapes() == {"head": (4, 6), "left_wrist": (480, 640)}
    finally:
        rig.stop()
    with pytest.raises(ConfigError, match=r"camera name\(s\) \['head'\] configured twice"):
        CameraRig([ScriptedSource("head"), ScriptedSource("head")])
    with pytest.raises(CameraError, match="no camera 'chest'; cameras: head, left_wrist"):
        rig["chest"]
