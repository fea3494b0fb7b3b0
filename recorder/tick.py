"""TickRecord: one row of an episode, as the teleop loop hands it to the recorder."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class TickRecord:
    """Everything recorded at one tick of the record clock.

    The writer copies every array at :meth:`EpisodeWriter.append` time, so callers may reuse
    their buffers on the next tick (camera frames: see ``DatasetWriter(copy_frames=...)``).
    The set of streams and their shapes are fixed by an episode's first row.

    Attributes:
        t: tick time on :func:`teleop.clock.now` [s] (monotonic).
        state: (32,) the DESIGN.md state vector.
        action: (36,) the DESIGN.md action vector.
        robot: named arrays of the measured robot state (``RobotState.as_arrays()``); a
            ``"stamp"`` entry is used as ``robot_stamp`` when that is None.
        robot_stamp: acquisition time of ``robot`` on :func:`teleop.clock.now` [s].
        operator: named arrays of the operator frame (``OperatorFrame.as_arrays()``).
        operator_stamp: acquisition time of ``operator`` [s].
        cameras: camera name -> ``(frame HxWx3 uint8 RGB, acquisition stamp [s])``, or None
            when the camera has no fresh valid frame (the row is marked invalid for it).
    """

    t: float
    state: np.ndarray
    action: np.ndarray
    robot: Mapping[str, np.ndarray] | None = None
    robot_stamp: float | None = None
    operator: Mapping[str, np.ndarray] | None = None
    operator_stamp: float | None = None
    cameras: Mapping[str, tuple[np.ndarray, float] | None] | None = None
