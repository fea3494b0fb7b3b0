"""The server in front of the real teleop session (MuJoCo + scripted operator + TeleopLoop), over HTTP.

What `psi-teleop serve --session sim` and `psi-teleop console --sim` run: the commands reach
the loop thread, the episode lands in the dataset with the task that was set, the camera
frame comes from the simulation.
"""

from __future__ import annotations

import time

import pytest

from recorder import Dataset, EpisodeStatus
from teleop.status import EpisodeState
from ui.client import SessionClient
from ui.server import BackgroundServer, ServerConfig, create_app
from ui.sim_session import open_session


@pytest.mark.slow
def test_real_session_through_the_server(tmp_path):
    from calibration import CalibrationProfile

    profiles = tmp_path / "profiles"
    CalibrationProfile(name="bob", eye_height=1.80, arm_length=0.62).save(profiles)
    with open_session("sim", dataset=tmp_path / "ds", task="pick_place", profiles_dir=profiles) as session, \
            BackgroundServer(create_app(ServerConfig(port=0, profiles_dir=profiles), session)) as server, \
            SessionClient(server.url, timeout_s=10.0) as client:
        deadline = time.perf_counter() + 60.0
        while client.status().stamp == 0.0 and time.perf_counter() < deadline:
            time.sleep(0.1)  # the loop publishes its first snapshot after its first ticks
        status = client.status()
        assert status.link == "ok" and status.robot_kind and status.dataset == str(tmp_path / "ds")
        assert len(status.arm_q) == 14 and len(status.arm_q_min) == 14
        client.select_calibration("bob")  # the loop now maps the operator with bob's profile
        assert session.loop.mapping.profile.name == "bob"
        client.set_task("pick_place", "put the red cup on the plate")
        eid = client.start_episode()
        deadline = time.perf_counter() + 60.0
        while client.status().episode_rows < 10 and time.perf_counter() < deadline:
            time.sleep(0.2)
        frame, _ = client.latest_frame("head")
        assert frame.ndim == 3 and frame.shape[2] == 3 and frame.std() > 1.0  # a rendered image, not blank
        assert client.status().episode is EpisodeState.RECORDING
        assert client.stop_episode(success=True) == eid
        page = client.episodes()
        assert page["total"] == 1 and page["episodes"][0]["episode_id"] == eid
    info = Dataset.open(tmp_path / "ds").episodes()[0]
    assert info.status is EpisodeStatus.COMPLETE and info.success is True and info.n_rows >= 10
    assert info.instruction == "put the red cup on the plate"


def test_unknown_session_kind_is_refused():
    from teleop.exceptions import ConfigError

    with pytest.raises(ConfigError, match="session kind 'robot' is unknown; valid: none, sim"), open_session("robot"):
        pass
