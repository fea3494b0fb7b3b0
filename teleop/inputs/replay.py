"""Replay of a recorded episode's operator streams as a live input source.

``--input replay --episode DATASET:EPISODE_ID`` plays the ``operator/...`` streams of a
recorded episode back through the loop, at the recorded speed or scaled (``speed`` 2.0 =
twice as fast). Sample ``k`` becomes available when ``(now - t_start) * speed`` passes its
recorded stamp (seconds since the episode start); its stamp is mapped onto the process
clock as ``t_start + stamp_k / speed`` so that input-age checks behave as live. After the
last sample every stream is reported invalid (the operator left), which makes the safety
filter hold the robot — unless ``loop`` is set: then the episode plays forward, backward,
forward… without end (soak tests and the loop benchmark), so the poses stay continuous at
the turns instead of teleporting back to the first sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from teleop import clock as process_clock
from teleop.exceptions import ConfigError, InputDeviceError
from teleop.inputs.base import DeviceInfo, InputKind, InputSource, SourceStatus, mark_all_invalid
from teleop.operator_frame import OperatorFrame

#: The OperatorFrame fields replayed, each stored as ``operator/<name>`` by the recorder.
_FIELDS = (
    "head_pose", "head_valid", "tracker_pose", "tracker_valid", "hand_joints", "hand_radii", "hand_valid",
    "controller_pose", "controller_axes", "controller_buttons", "controller_valid",
)


@dataclass(frozen=True)
class ReplayConfig:
    """Which episode to replay and how fast.

    Attributes:
        dataset: dataset directory or fsspec URL.
        episode: episode id (``episode_000003``) or its index in the dataset listing.
        speed: playback speed factor (1.0 = as recorded), 0.1..10.
        loop: play forward and backward without end instead of stopping after the last sample.
    """

    dataset: str
    episode: str
    speed: float = 1.0
    loop: bool = False

    def __post_init__(self) -> None:
        if not 0.1 <= self.speed <= 10.0:
            raise ConfigError(f"replay speed {self.speed} must be within 0.1..10")

    @classmethod
    def parse(cls, spec: str, speed: float = 1.0, loop: bool = False) -> "ReplayConfig":
        """``DATASET:EPISODE`` (the episode part is an id or an index)."""
        path, sep, episode = spec.rpartition(":")
        if not sep or not path or not episode:
            raise ConfigError(f"--episode must be DATASET:EPISODE (e.g. data/demo:episode_000000), got '{spec}'")
        return cls(dataset=path, episode=episode, speed=speed, loop=loop)


class ReplaySource(InputSource):
    """Plays recorded operator streams (see the module docstring)."""

    kind = InputKind.REPLAY

    def __init__(self, config: ReplayConfig, clock: Callable[[], float] | None = None):
        self.config = config
        self.clock = clock or process_clock.now
        self._status = SourceStatus.IDLE
        self._stamps = np.zeros(0)
        self._rows: dict[str, np.ndarray] = {}
        self._t_start = 0.0
        self._last = -1
        self.finished = False

    def start(self) -> None:
        from recorder import Dataset

        try:
            ds = Dataset.open(self.config.dataset)
        except Exception as exc:
            raise InputDeviceError(f"cannot open the dataset {self.config.dataset} for replay: {exc}") from exc
        episode = self.config.episode
        ids = ds.episode_ids()
        if episode.isdigit() and episode not in ids:
            idx = int(episode)
            if not 0 <= idx < len(ids):
                raise InputDeviceError(f"episode index {idx} is out of range: {self.config.dataset} has {len(ids)} episodes")
            episode = ids[idx]
        if episode not in ids:
            raise InputDeviceError(
                f"no episode '{episode}' in {self.config.dataset}; list them with: psi-teleop dataset list {self.config.dataset}"
            )
        reader = ds.episode(episode)
        missing = [f for f in ("stamp", *_FIELDS) if f"operator/{f}" not in reader.streams()]
        if missing:
            raise InputDeviceError(f"episode {episode} has no operator streams {missing}: it cannot be replayed")
        self._stamps = np.asarray(reader.read("operator/stamp"), dtype=float)
        self._rows = {f: np.asarray(reader.read(f"operator/{f}")) for f in _FIELDS}
        if self._stamps.size == 0:
            raise InputDeviceError(f"episode {episode} is empty")
        self._stamps = self._stamps - self._stamps[0]
        self._t_start = self.clock()
        self._status = SourceStatus.RUNNING

    def stop(self) -> None:
        if self._status is not SourceStatus.IDLE:
            self._status = SourceStatus.STOPPED

    @property
    def status(self) -> SourceStatus:
        return self._status

    @property
    def duration(self) -> float:
        """Playback duration [s] at the configured speed."""
        return float(self._stamps[-1]) / self.config.speed if self._stamps.size else 0.0

    def devices(self) -> list[DeviceInfo]:
        ok = self._status is SourceStatus.RUNNING and not self.finished
        return [DeviceInfo(name=f"replay/{self.config.episode}", role="operator", tracked=ok, valid=ok,
                           detail=f"{self.config.dataset} at {self.config.speed:g}x")]

    def poll(self, frame: OperatorFrame) -> bool:
        if self._status is not SourceStatus.RUNNING:
            raise InputDeviceError("the replay source is not started; call start() first")
        t = (self.clock() - self._t_start) * self.config.speed
        t_episode = self._episode_time(t)
        k = int(np.searchsorted(self._stamps, t_episode, side="right")) - 1
        if not self.config.loop and k >= len(self._stamps) - 1 and t > self._stamps[-1] + 0.1:
            self.finished = True
            mark_all_invalid(frame)
            frame.stamp = self.clock()
            return False
        k = max(k, 0)
        new = k != self._last
        self._last = k
        for name in _FIELDS:
            value = self._rows[name][k]
            if isinstance(getattr(frame, name), np.ndarray):
                np.copyto(getattr(frame, name), value)
            else:
                setattr(frame, name, bool(value))
        frame.stamp = self._t_start + (t - (t_episode - float(self._stamps[k]))) / self.config.speed
        return new

    def _episode_time(self, t: float) -> float:
        """Position in the recording [s] at playback time ``t`` (folded back and forth when looping)."""
        end = float(self._stamps[-1])
        if not self.config.loop or end <= 0.0:
            return t
        phase = t % (2.0 * end)
        return phase if phase <= end else 2.0 * end - phase
