"""The session server over real HTTP: uvicorn on 127.0.0.1, a free port, stopped at the end."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
import pytest
import simplejpeg

from calibration import CalibrationProfile
from recorder import Dataset
from teleop.status import EngageState, EpisodeState
from ui.client import SessionClient, StatusStream
from ui.exceptions import ServerConfigError, ServerRequestError
from tests.ui.synthetic import ScriptedSession
from ui.server import BackgroundServer, ServerConfig, create_app, is_loopback

TOKEN = "correct-horse-battery"


@pytest.fixture
def profiles(tmp_path):
    d = tmp_path / "profiles"
    CalibrationProfile(name="alice", eye_height=1.70).save(d)
    (d / "broken.json").write_text("{not json")
    (d / "bob.yaml").write_text("name: bob\neye_height: 1.80\narm_length: 0.62\n")
    (d / "giant.yaml").write_text("name: giant\neye_height: 2.9\n")
    return d


@pytest.fixture
def server(session, dataset, profiles):
    app = create_app(ServerConfig(port=0, dataset=dataset, profiles_dir=profiles), session)
    with BackgroundServer(app) as srv:
        yield srv


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=5.0, trust_env=False) as client:
        yield client


def test_remote_bind_needs_a_token():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.4.5.6")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20") and not is_loopback("robot.local")
    with pytest.raises(ServerConfigError, match="refusing to serve on 0.0.0.0 without a token"):
        ServerConfig(host="0.0.0.0")
    with pytest.raises(ServerConfigError, match="at least 8"):
        ServerConfig(host="0.0.0.0", token="short")
    with pytest.raises(ServerConfigError, match=r"port=70000 is out of range"):
        ServerConfig(port=70000)
    assert ServerConfig(host="0.0.0.0", token=TOKEN).token == TOKEN


def test_serve_command_refuses_remote_bind_without_token(monkeypatch, capsys):
    from teleop import cli

    monkeypatch.delenv("PSI_TELEOP_TOKEN", raising=False)
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "0", "--session", "none"]) == 1
    out = capsys.readouterr()
    assert "without a token" in out.out + out.err


def test_token_is_required_for_every_request_and_websocket(session, dataset, profiles):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    app = create_app(ServerConfig(port=0, token=TOKEN, dataset=dataset, profiles_dir=profiles), session)
    with BackgroundServer(app) as srv, httpx.Client(base_url=srv.url, trust_env=False) as http:
        for path in ("/status", "/dataset/episodes", "/openapi.json", "/nope"):
            r = http.get(path)
            assert r.status_code == 401 and "token" in r.json()["detail"], path
        assert http.post("/episode/toggle").status_code == 401
        assert session.calls == []  # nothing reached the session
        assert http.get("/status", headers={"Authorization": "Bearer wrong-token-xx"}).status_code == 401
        assert http.get("/status", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert http.get("/status", headers={"X-Psi-Token": TOKEN}).status_code == 200
        assert http.post(f"/episode/toggle?token={TOKEN}").json()["action"] == "started"
        ws_url = srv.url.replace("http", "ws") + "/ws/status"
        with pytest.raises(InvalidStatus):
            connect(ws_url, proxy=None, open_timeout=3).close()
        with connect(ws_url, proxy=None, open_timeout=3, additional_headers={"X-Psi-Token": TOKEN}) as ws:
            assert json.loads(ws.recv(timeout=3))["episode"] == "recording"
        with SessionClient(srv.url, token=TOKEN) as client:
            assert client.status().episode is EpisodeState.RECORDING
        with SessionClient(srv.url, token="wrong-token-xx") as client, pytest.raises(ServerRequestError) as err:
            client.status()
        assert err.value.status_code == 401


def test_episode_control_like_a_foot_pedal(server, http, session):
    r = http.post("/episode/toggle")
    assert r.status_code == 200 and r.json() == {"action": "started", "episode_id": "episode_000000", "recording": True}
    r = http.post("/episode/start", json={"task": "lift_box"})
    assert r.status_code == 409 and "already recording" in r.json()["detail"]
    r = http.post("/episode/toggle")
    assert r.json() == {"action": "stopped", "episode_id": "episode_000000", "recording": False}
    assert http.post("/episode/success").json()["episode_id"] == "episode_000000"
    assert session.marks["episode_000000"] is True
    assert http.post("/episode/failure").json()["action"] == "marked"
    assert session.marks["episode_000000"] is False
    r = http.post("/episode/start", json={"task": "lift_box", "instruction": "lift it"})
    assert r.json()["episode_id"] == "episode_000001"
    assert http.get("/status").json()["task"] == "lift_box"
    r = http.post("/episode/stop", json={"success": True})
    assert r.json()["episode_id"] == "episode_000001" and session.marks["episode_000001"] is True
    assert http.post("/episode/stop").json() == {"action": "nothing", "episode_id": None, "recording": False}
    http.post("/episode/start")
    assert http.post("/episode/discard", json={"reason": "dropped the cup"}).json()["action"] == "discarded"
    assert session.discarded == ["episode_000002"]
    r = http.post("/episode/mark", json={"episode_id": "bogus", "success": True})
    assert r.status_code == 409 and "no episode 'bogus'" in r.json()["detail"]
    r = http.post("/episode/start", json={"task": 3})
    assert r.status_code == 422


def test_engage_and_estop(http, session):
    assert http.post("/engage").json()["engage"] == "engaged"
    assert http.post("/estop").json()["engage"] == "estop"
    r = http.post("/engage")
    assert r.status_code == 409 and "release it" in r.json()["detail"]
    assert http.post("/estop/release").json()["engage"] == "idle"
    assert http.post("/engage").json()["engage"] == "engaged"
    assert http.post("/disengage").json()["engage"] == "idle"
    assert http.put("/task", json={"task": "open_drawer", "instruction": "open it"}).status_code == 200
    status = http.get("/status").json()
    assert (status["task"], status["instruction"]) == ("open_drawer", "open it")
    assert status["safety_events"][-1] == "engaged"
    assert http.put("/task", json={"task": ""}).status_code == 422


def test_calibration_profiles_listed_validated_and_selected(http, session):
    profiles = {p["name"]: p for p in http.get("/calibration/profiles").json()}
    assert sorted(profiles) == ["alice", "bob", "broken", "giant"]
    assert profiles["alice"]["valid"] and profiles["bob"]["valid"]
    assert not profiles["broken"]["valid"] and "cannot parse" in profiles["broken"]["error"]
    assert not profiles["giant"]["valid"] and "eye_height=2.9" in profiles["giant"]["error"]
    assert http.post("/calibration/select", json={"profile": "bob"}).json()["message"] == "calibration 'bob' selected"
    assert session.status().calibration_profile == "bob"
    assert [p["name"] for p in http.get("/calibration/profiles").json() if p["selected"]] == ["bob"]
    r = http.post("/calibration/select", json={"profile": "carol"})
    assert r.status_code == 404 and "alice, bob, broken, giant" in r.json()["detail"]
    r = http.post("/calibration/select", json={"profile": "giant"})
    assert r.status_code == 422 and "not usable" in r.json()["detail"]
    assert session.status().calibration_profile == "bob"


def test_live_camera_jpeg(http):
    r = http.get("/camera/head")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    img = simplejpeg.decode_jpeg(r.content)
    assert img.shape == (120, 160, 3)
    assert float(r.headers["x-frame-stamp"]) > 0
    r = http.get("/camera/wrist")
    assert r.status_code == 404 and "camera 'wrist'" in r.json()["detail"]


def test_dataset_browsing_and_filters(http):
    s = http.get("/dataset").json()
    assert s["episodes"] == 6 and s["usable"] == 5
    assert s["tasks"] == ["lift_box", "open_drawer", "pick_place"] and s["operators"] == ["alice", "bob"]
    assert s["duration_s"] == pytest.approx(5 * 89 / 30.0, abs=1e-6)
    page = http.get("/dataset/episodes").json()
    assert page["total"] == 6 and [e["episode_id"] for e in page["episodes"]][:2] == [
        "episode_000000",
        "episode_000001",
    ]
    ids = lambda **q: [e["episode_id"] for e in http.get("/dataset/episodes", params=q).json()["episodes"]]  # noqa: E731
    assert ids(task="lift_box") == ["episode_000001", "episode_000004"]
    assert ids(success="success") == ["episode_000000", "episode_000003"]
    assert ids(success="unjudged") == ["episode_000002", "episode_000005"]
    assert ids(status="discarded") == ["episode_000005"]
    assert ids(operator="bob", task="lift_box") == ["episode_000001"]
    assert ids(text="#3") == ["episode_000003"]
    assert ids(offset=4, limit=1) == ["episode_000004"]
    r = http.get("/dataset/episodes", params={"success": "maybe"})
    assert r.status_code == 422 and "unjudged" in r.json()["detail"]
    detail = http.get("/dataset/episodes/episode_000002").json()
    assert detail["cameras"] == ["head"] and "action" in detail["streams"] and detail["n_rows"] == 90
    assert detail["attrs"]["instruction"] == "do open drawer #2" and detail["record_hz"] == 30.0
    r = http.get("/dataset/episodes/episode_000099")
    assert r.status_code == 404 and "episode_000000" in r.json()["detail"]


def test_thumbnail_is_a_small_jpeg_of_the_right_row(http):
    r = http.get("/dataset/episodes/episode_000001/thumbnail", params={"index": 0, "width": 80})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    first = simplejpeg.decode_jpeg(r.content)
    assert first.shape[1] <= 80 and first.shape[0] == first.shape[1] * 3 // 4
    last = simplejpeg.decode_jpeg(
        http.get("/dataset/episodes/episode_000001/thumbnail", params={"index": -1, "width": 80}).content
    )
    # the orange square moves from the left edge (row 0) to the right edge (last row)
    orange = lambda img: np.nonzero((img[..., 0] > 200) & (img[..., 2] < 120))[1].mean()  # noqa: E731
    assert orange(first) < 20 and orange(last) > 60
    assert http.get("/dataset/episodes/episode_000001/thumbnail", params={"index": 90}).status_code == 404
    assert http.get("/dataset/episodes/episode_000001/thumbnail", params={"camera": "wrist"}).status_code == 404


def test_patch_annotations_round_trip_to_the_recorder(http, dataset):
    body = {
        "success": False,
        "tags": ["occluded", " retry "],
        "notes": "cup slipped",
        "segments": [
            {"start": 1.0, "end": 2.0, "label": "lift", "language": "lift the cup"},
            {"start": 0.0, "end": 1.0, "label": "grasp"},
        ],
        "trim": [0.2, 2.5],
    }
    r = http.patch("/dataset/episodes/episode_000002", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["success"] is False and got["tags"] == ["occluded", "retry"] and got["trim"] == [0.2, 2.5]
    assert [s["label"] for s in got["segments"]] == ["grasp", "lift"]
    info = next(i for i in Dataset.open(dataset).episodes() if i.episode_id == "episode_000002")
    assert info.success is False and info.notes == "cup slipped" and info.attrs["trim"] == [0.2, 2.5]
    assert info.segments[1] == {"start": 1.0, "end": 2.0, "label": "lift", "language": "lift the cup"}
    assert [e["episode_id"] for e in http.get("/dataset/episodes", params={"segment": "lift"}).json()["episodes"]] == [
        "episode_000002"
    ]
    r = http.patch("/dataset/episodes/episode_000002", json={"segments": [{"start": 2.0, "end": 9.0, "label": "x"}]})
    assert r.status_code == 422 and "outside episode" in r.json()["detail"]
    r = http.patch("/dataset/episodes/episode_000002", json={"clear_trim": True, "success": None})
    assert r.json()["trim"] is None and r.json()["success"] is None and r.json()["notes"] == "cup slipped"
    assert http.patch("/dataset/episodes/nope", json={}).status_code == 404


def test_client_and_status_stream(server, session):
    with SessionClient(server.url) as client:
        stream = StatusStream(client, hz=30.0).start()
        try:
            eid = client.start_episode(task="lift_box")
            with pytest.raises(ServerRequestError, match="already recording") as err:
                client.start_episode()
            assert err.value.status_code == 409
            deadline = time.perf_counter() + 5.0
            while time.perf_counter() < deadline:
                latest = stream.latest()
                if latest is not None and latest.episode is EpisodeState.RECORDING:
                    break
                time.sleep(0.02)
            assert latest is not None and latest.episode_id == eid and latest.task == "lift_box"
            assert latest.devices[4].name == "left_ankle" and latest.devices[4].valid is False
            client.estop()
            assert client.status().engage is EngageState.ESTOP
            assert client.stop_episode(success=True) == eid
            assert client.mark_success(None, False) == eid and session.marks[eid] is False
            frame, stamp = client.latest_frame("head")
            assert frame.shape == (120, 160, 3) and stamp > 0
            assert client.latest_frame("wrist") is None
            assert client.episodes(task="pick_place")["total"] == 2
            deadline = time.perf_counter() + 5.0
            while time.perf_counter() < deadline and stream.latest().engage is not EngageState.ESTOP:
                time.sleep(0.02)
            assert stream.latest().engage is EngageState.ESTOP and stream.received >= 2 and stream.connected
        finally:
            stream.stop()


def test_server_without_session_serves_only_the_dataset(dataset):
    app = create_app(ServerConfig(port=0, dataset=dataset))
    paths = set(app.openapi()["paths"])
    assert "/dataset/episodes" in paths and "/status" not in paths and "/episode/toggle" not in paths
    with BackgroundServer(app) as srv, httpx.Client(base_url=srv.url, trust_env=False) as http:
        assert http.get("/status").status_code == 404
        assert http.get("/dataset").json()["episodes"] == 6


def test_session_dataset_is_served_once_the_session_reports_one(session, dataset):
    app = create_app(ServerConfig(port=0), session)  # no --dataset: the session's own
    with BackgroundServer(app) as srv, httpx.Client(base_url=srv.url, trust_env=False) as http:
        r = http.get("/dataset")
        assert r.status_code == 404 and "start it with --dataset PATH" in r.json()["detail"]
        session._set(dataset=str(dataset))  # the loop published the dataset it records into
        assert http.get("/dataset").json()["episodes"] == 6


def test_serve_command_in_a_subprocess(dataset):
    """`psi-teleop serve` as an operator starts it: a process on a free port, stopped with Ctrl+C."""
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "teleop.cli", "serve", "--dataset", str(dataset), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.perf_counter() + 30.0
        summary = None
        while time.perf_counter() < deadline and proc.poll() is None:
            try:
                summary = httpx.get(f"http://127.0.0.1:{port}/dataset", timeout=1.0, trust_env=False).json()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert summary is not None and summary["episodes"] == 6, proc.stdout.read() if proc.poll() is not None else ""
        assert httpx.get(f"http://127.0.0.1:{port}/status", trust_env=False).status_code == 404  # no session
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_profiles_default_to_the_calibration_directory(monkeypatch, tmp_path):
    from ui.serve_cli import build_config

    monkeypatch.setenv("PSI_TELEOP_CALIBRATION_DIR", str(tmp_path / "cal"))
    assert ServerConfig().profiles_dir == tmp_path / "cal"
    args = type("Args", (), {"host": "127.0.0.1", "port": 0, "token": None, "dataset": None, "profiles": None})()
    assert build_config(args).profiles_dir == tmp_path / "cal"
    args.profiles = tmp_path / "mine"
    assert build_config(args).profiles_dir == tmp_path / "mine"


def test_profile_directory_loads_json_and_yaml(profiles):
    from calibration import CalibrationError

    from ui.exceptions import ProfileNotFoundError
    from ui.profiles import ProfileDirectory

    d = ProfileDirectory(profiles)
    assert d.load("bob").eye_height == 1.80 and d.load("bob").arm_length == 0.62  # YAML
    assert d.load("alice").eye_height == 1.70  # JSON, as CalibrationProfile.save writes it
    with pytest.raises(CalibrationError, match="eye_height=2.9 is outside the plausible range"):
        d.load("giant")
    with pytest.raises(
        ProfileNotFoundError, match="no calibration profile 'carol'.*profiles: alice, bob, broken, giant"
    ):
        d.load("carol")
    assert ProfileDirectory(profiles / "absent").list() == []


def test_toggle_decides_from_the_session_not_a_lagging_snapshot(dataset):
    class LaggingSession(ScriptedSession):
        """A session whose published status is a tick behind its commands (like the loop's)."""

        def __init__(self):
            super().__init__()
            self._frozen = super().status()

        def status(self):
            return self._frozen  # still says IDLE after start

    session = LaggingSession()
    with (
        BackgroundServer(create_app(ServerConfig(port=0), session)) as srv,
        httpx.Client(base_url=srv.url, trust_env=False) as http,
    ):
        first = http.post("/episode/toggle").json()
        second = http.post("/episode/toggle").json()  # the pedal pressed again before the next snapshot
    assert first == {"action": "started", "episode_id": "episode_000000", "recording": True}
    assert second == {"action": "stopped", "episode_id": "episode_000000", "recording": False}


def test_non_finite_status_numbers_survive_the_round_trip(server, session):
    import math

    session._set(wrist_error_mm=(float("nan"), float("inf")))
    with SessionClient(server.url) as client:
        left, right = client.status().wrist_error_mm
    assert math.isnan(left) and right == math.inf
