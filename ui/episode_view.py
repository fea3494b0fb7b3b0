"""What the annotation app shows of one episode: plot series by joint group, frames on demand.

:class:`EpisodeView` reads the episode's ``time``, ``state`` and ``action`` once (a 5-minute
episode at 30 Hz is 9000 x 68 floats, ~2.4 MB) and decodes camera frames only when the
cursor lands on them, so opening an episode costs one read and each step one JPEG decode.
Joint groups and their slices come from :mod:`teleop.robot.g1` (the one embodiment source).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from recorder import schema
from teleop.robot import g1
from ui.exceptions import UiError

if TYPE_CHECKING:
    from recorder import EpisodeReader


@dataclass(frozen=True)
class PlotGroup:
    """A set of vector components plotted together.

    Attributes:
        name: what the selector shows.
        action: slice of the 36-value action.
        state: slice of the 32-value state (None: the state does not carry it).
        labels: one label per component (joint or command name).
        unit: unit of the values, for the axis.
    """

    name: str
    action: slice
    state: slice | None
    labels: tuple[str, ...]
    unit: str


def _short(name: str) -> str:
    return name.removesuffix("_joint").replace("left_", "L ").replace("right_", "R ").replace("hand_", "")


#: The groups the plot selector offers, in DESIGN.md's vector order.
PLOT_GROUPS: tuple[PlotGroup, ...] = (
    PlotGroup("left arm", g1.ACTION_LEFT_ARM, g1.STATE_LEFT_ARM, tuple(_short(n) for n in g1.LEFT_ARM_JOINTS), "rad"),
    PlotGroup(
        "right arm", g1.ACTION_RIGHT_ARM, g1.STATE_RIGHT_ARM, tuple(_short(n) for n in g1.RIGHT_ARM_JOINTS), "rad"
    ),
    PlotGroup(
        "left hand", g1.ACTION_LEFT_HAND, g1.STATE_LEFT_HAND, tuple(_short(n) for n in g1.LEFT_HAND_JOINTS), "rad"
    ),
    PlotGroup(
        "right hand", g1.ACTION_RIGHT_HAND, g1.STATE_RIGHT_HAND, tuple(_short(n) for n in g1.RIGHT_HAND_JOINTS), "rad"
    ),
    PlotGroup("torso", g1.ACTION_TORSO_RPY, g1.STATE_TORSO_RPY, ("torso roll", "torso pitch", "torso yaw"), "rad"),
    PlotGroup(
        "locomotion",
        slice(g1.ACTION_VX, g1.ACTION_TARGET_YAW + 1),
        None,
        ("vx", "vy", "vyaw", "target yaw"),
        "m/s, rad/s, rad",
    ),
)


def plot_group(name: str) -> PlotGroup:
    for group in PLOT_GROUPS:
        if group.name == name:
            return group
    raise UiError(f"no plot group '{name}'; groups: {', '.join(g.name for g in PLOT_GROUPS)}")


class EpisodeView:
    """The arrays and frames of one episode the annotation app displays.

    Args:
        reader: the episode.
    Attributes:
        time_s: (T,) row times [s]; state (T, 32), action (T, 36) float32.
    """

    def __init__(self, reader: "EpisodeReader"):
        self.reader = reader
        self.episode_id = reader.episode_id
        n = reader.n_rows
        self.time_s = np.asarray(reader.read(schema.TIME, 0, n), dtype=float)
        streams = set(reader.streams())
        self.state = (
            reader.read(schema.STATE, 0, n) if schema.STATE in streams else np.zeros((n, g1.STATE_DIM), np.float32)
        )
        self.action = (
            reader.read(schema.ACTION, 0, n) if schema.ACTION in streams else np.zeros((n, g1.ACTION_DIM), np.float32)
        )
        self.cameras = reader.cameras

    @property
    def n_rows(self) -> int:
        return len(self.time_s)

    def series(self, group: PlotGroup) -> tuple[np.ndarray, np.ndarray | None]:
        """(action columns (T, k), state columns (T, k) or None) of ``group``."""
        state = None if group.state is None else self.state[:, group.state]
        return self.action[:, group.action], state

    def values_at(self, group: PlotGroup, index: int) -> list[tuple[str, float, float | None]]:
        """(label, action value, state value or None) of every component of ``group`` at row ``index``."""
        action, state = self.series(group)
        return [
            (label, float(action[index, j]), None if state is None else float(state[index, j]))
            for j, label in enumerate(group.labels)
        ]

    def frame(self, camera: str, index: int) -> np.ndarray:
        """Decoded (H, W, 3) uint8 frame of ``camera`` at row ``index`` (zeros if that row has none)."""
        return self.reader.frame(camera, index)
