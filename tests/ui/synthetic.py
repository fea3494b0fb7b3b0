"""Synthetic datasets and a scripted session for the UI tests and the annotate benchmark.

Episodes are written through the real :class:`recorder.DatasetWriter`; the numbers are
deterministic so a test can check what the app shows (row k of an episode has
``action[:, j] = 0.3 sin(2π k / rows + j/5)`` and a camera frame whose bright square sits at a
column proportional to k).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from recorder import DatasetWriter, TickRecord
from teleop.status import (
    DeviceStatus,
    EngageState,
    EpisodeState,
    LoopTiming,
    SessionControl,
    TeleopStatus,
)

HZ = 30.0


def synthetic_frame(k: int, n: int, shape: tuple[int, int]) -> np.ndarray:
    """A (H, W, 3) uint8 image: a blue-grey gradient with an orange square moving left to right."""
    h, w = shape
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(40, 90, h, dtype=np.uint8)[:, None]
    img[..., 1] = np.linspace(60, 110, w, dtype=np.uint8)[None, :]
    img[..., 2] = 140
    side = max(4, h // 5)
    x = int((w - side) * k / max(1, n - 1))
    y = h // 2 - side // 2
    img[y : y + side, x : x + side] = (250, 150, 40)
    return img


def action_row(k: int, n: int) -> np.ndarray:
    """Row k of an n-row episode's 36-value action (smooth, within every joint's range)."""
    phase = 2 * np.pi * k / max(1, n)
    return (0.3 * np.sin(phase + np.arange(36) / 5.0)).astype(np.float32)


def write_episode(
    writer: DatasetWriter,
    rows: int,
    cameras: dict[str, tuple[int, int]],
    task: str = "pick_place",
    instruction: str = "put the cup on the plate",
    operator: str = "alice",
    success: bool | None = True,
    discard: bool = False,
    frames: list[np.ndarray] | None = None,
) -> str:
    """Record one episode of ``rows`` rows; returns its id. ``frames`` (optional) are reused cyclically."""
    ep = writer.start_episode(task=task, instruction=instruction, operator=operator)
    t0 = 1000.0
    for k in range(rows):
        action = action_row(k, rows)
        state = action[:32] * 0.95
        t = t0 + k / HZ
        cams = {}
        for name, shape in cameras.items():
            img = frames[k % len(frames)].copy() if frames else synthetic_frame(k, rows, shape)
            cams[name] = (img, t - 0.02)
        record = TickRecord(t=t, state=state, action=action, cameras=cams)
        while k - ep.stats["rows_written"] > writer.config.queue_size // 2:
            time.sleep(0.01)  # we append faster than real time: let the writer thread catch up, never drop
        while not ep.append(record):
            time.sleep(0.002)
    info = ep.discard("synthetic discard") if discard else ep.finish(success=success)
    return info.episode_id


def write_dataset(
    path: Path,
    episodes: int = 6,
    rows: int = 90,
    camera_shape: tuple[int, int] = (120, 160),
    cameras: tuple[str, ...] = ("head",),
) -> Path:
    """A small varied dataset: tasks, operators, verdicts and one discarded episode."""
    tasks = ("pick_place", "lift_box", "open_drawer")
    with DatasetWriter(
        path, record_hz=HZ, camera_shapes={c: camera_shape for c in cameras}, queue_size=512, jpeg_quality=85
    ) as ds:
        for i in range(episodes):
            write_episode(
                ds,
                rows,
                {c: camera_shape for c in cameras},
                task=tasks[i % 3],
                operator=("alice", "bob")[i % 2],
                instruction=f"do {tasks[i % 3].replace('_', ' ')} #{i}",
                success=(True, False, None)[i % 3],
                discard=(i == episodes - 1 and episodes > 3),
            )
    return path


def write_many_episodes(path: Path, n: int, rows: int = 8, camera_shape: tuple[int, int] = (24, 32)) -> Path:
    """A dataset of ``n`` tiny episodes with varied attrs (task, operator, verdict, tags).

    The first episode is recorded through :class:`DatasetWriter`; the others are file copies
    of it with their own attrs (what the writer would produce, ~100x faster than recording
    each), so listing and filtering see ``n`` real episodes on disk.
    """
    from recorder import schema

    with DatasetWriter(path, record_hz=HZ, camera_shapes={"head": camera_shape}) as ds:
        first = write_episode(ds, rows, {"head": camera_shape})
    episodes = Path(path) / schema.EPISODES_GROUP
    src = episodes / first
    meta = json.loads((src / "zarr.json").read_text())
    tasks = ("pick_place", "lift_box", "open_drawer")
    for i in range(n):
        dst = episodes / schema.episode_id(i)
        if i:
            shutil.copytree(src, dst)
        attrs = dict(
            meta["attributes"],
            task=tasks[i % 3],
            operator=("alice", "bob", "carol")[i % 3 - (i // 3) % 2],
            success=(True, False, None)[(i // 3) % 3],
            tags=["occluded"] if i % 10 == 0 else [],
            instruction=f"{tasks[i % 3].replace('_', ' ')} #{i}",
        )
        (dst / "zarr.json").write_text(json.dumps(dict(meta, attributes=attrs)))
    return Path(path)


class ScriptedSession(SessionControl):
    """A SessionControl for tests: keeps state like a session, records nothing to disk.

    It behaves like the loop's contract says (409-worthy errors when asked to start twice,
    estop blocks engage) so the server and the console can be driven through real requests.
    """

    def __init__(self, dataset: str = "", camera_shape: tuple[int, int] = (120, 160)):
        from teleop.exceptions import PsiTeleopError

        self._error = PsiTeleopError
        self._lock = threading.Lock()
        self._n = 0
        self._camera_shape = camera_shape
        arm_min = tuple(float(x) for x in np.full(14, -2.5))
        arm_max = tuple(float(x) for x in np.full(14, 2.5))
        self._status = TeleopStatus(
            stamp=time.perf_counter(),
            input_kind="scripted",
            robot_kind="sim",
            link="ok",
            engage=EngageState.IDLE,
            devices=(
                DeviceStatus("head", True, 4.0),
                DeviceStatus("left_wrist", True, 6.0),
                DeviceStatus("right_wrist", True, 7.0),
                DeviceStatus("left_hand", True, 8.0),
                DeviceStatus("left_ankle", False, 1e4),
            ),  # the ankle tracker is not worn
            timing=LoopTiming(
                rate_hz=99.6,
                target_hz=100.0,
                input_age_ms=7.5,
                ik_ms=1.8,
                tick_ms_p99=3.1,
                jitter_ms_p99=0.4,
                overruns=2,
            ),
            task="pick_place",
            instruction="put the cup on the plate",
            calibration_profile="",
            wrist_error_mm=(4.2, 11.7),
            arm_q=tuple(float(x) for x in np.linspace(-1.0, 2.4, 14)),
            arm_q_min=arm_min,
            arm_q_max=arm_max,
            dataset=dataset,
        )
        self.marks: dict[str, bool | None] = {}
        self.discarded: list[str] = []
        self.calls: list[str] = []

    def _set(self, **changes) -> None:
        with self._lock:
            self._status = replace(self._status, stamp=time.perf_counter(), **changes)

    def status(self) -> TeleopStatus:
        with self._lock:
            return self._status

    def start_episode(self, task: str | None = None, instruction: str | None = None) -> str:
        self.calls.append("start")
        if self._status.episode is EpisodeState.RECORDING:
            raise self._error(f"episode {self._status.episode_id} is already recording; stop it first")
        eid = f"episode_{self._n:06d}"
        self._n += 1
        self._set(
            episode=EpisodeState.RECORDING,
            episode_id=eid,
            episode_rows=0,
            task=task if task is not None else self._status.task,
            instruction=instruction if instruction is not None else self._status.instruction,
        )
        return eid

    def stop_episode(self, success: bool | None = None) -> str | None:
        self.calls.append("stop")
        eid = self._status.episode_id if self._status.episode is EpisodeState.RECORDING else None
        if eid is not None:
            self.marks[eid] = success
        self._set(episode=EpisodeState.IDLE)
        return eid

    def discard_episode(self, reason: str = "") -> str | None:
        self.calls.append("discard")
        eid = self._status.episode_id if self._status.episode is EpisodeState.RECORDING else None
        if eid is not None:
            self.discarded.append(eid)
        self._set(episode=EpisodeState.IDLE)
        return eid

    def mark_success(self, episode_id: str, success: bool | None) -> None:
        self.calls.append("mark")
        if not episode_id.startswith("episode_"):
            raise self._error(f"no episode '{episode_id}' in this session")
        self.marks[episode_id] = success

    def set_task(self, task: str, instruction: str) -> None:
        self.calls.append("task")
        self._set(task=task, instruction=instruction)

    def engage(self) -> None:
        self.calls.append("engage")
        if self._status.engage is EngageState.ESTOP:
            raise self._error("the e-stop is engaged; release it before engaging")
        self._set(engage=EngageState.ENGAGED, safety_events=(*self._status.safety_events[-4:], "engaged"))

    def disengage(self) -> None:
        self.calls.append("disengage")
        if self._status.engage is not EngageState.ESTOP:
            self._set(engage=EngageState.IDLE)

    def estop(self) -> None:
        self.calls.append("estop")
        self._set(engage=EngageState.ESTOP, safety_events=(*self._status.safety_events[-4:], "e-stop by operator"))

    def release_estop(self) -> None:
        self.calls.append("release")
        if self._status.engage is EngageState.ESTOP:
            self._set(engage=EngageState.IDLE)

    def select_calibration(self, profile: str) -> None:
        self.calls.append("calibration")
        self._set(calibration_profile=profile)

    def tick(self, k: int) -> None:
        """Advance the fake measurements (as a loop would, a few times a second); from tick 5 on
        the right wrist tracker has lost tracking."""
        s = self._status
        devices = tuple(
            DeviceStatus(d.name, False, 250.0) if d.name == "right_wrist" and k >= 5 else d for d in s.devices
        )
        self._set(
            devices=devices,
            wrist_error_mm=(4.0 + 3.0 * np.sin(k / 5.0), 8.0 + 5.0 * np.cos(k / 7.0)),
            timing=replace(s.timing, rate_hz=99.0 + np.sin(k / 3.0), tick_ms_p99=3.0 + 0.5 * np.sin(k / 4.0)),
            arm_q=tuple(float(x) for x in np.linspace(-1.0, 2.4, 14) + 0.1 * np.sin(k / 6.0)),
            episode_rows=s.episode_rows + (3 if s.episode is EpisodeState.RECORDING else 0),
        )

    def latest_frame(self, camera: str):
        if camera != "head":
            return None
        k = int(time.perf_counter() * 30) % 90
        return synthetic_frame(k, 90, self._camera_shape), time.perf_counter()
