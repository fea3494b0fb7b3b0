"""Names and constants of the on-disk episode store (DESIGN.md, "Episode store (Zarr v3)").

Layout of a dataset (a Zarr v3 hierarchy)::

    <dataset>/                      attrs: schema_version, robot, record_hz, created_at,
                                           state_names, action_names, format
      episodes/<episode_id>/        attrs: see EpisodeAttr
        time          (T,)     float64   seconds since the episode's first row
        state         (T, 32)  float32
        action        (T, 36)  float32
        robot/<name>  (T, ...) float32   RobotState.as_arrays() streams; robot/stamp float64
        operator/<name> (T, ...)         OperatorFrame.as_arrays() streams; operator/stamp float64
        cameras/<name>/jpeg   (T,)  bytes    one JPEG per row (b"" when the row has no frame)
        cameras/<name>/stamp  (T,)  float64  acquisition time, seconds since the first row (NaN: no frame)
        cameras/<name>/valid  (T,)  bool

Every ``stamp`` is on the same origin as ``time`` (the episode's first row on
:func:`teleop.clock.now`), so ``time[k] - <stream>/stamp[k]`` is the age of stream's sample at
tick k: the alignment error the validator reports.
"""

from __future__ import annotations

import enum

#: Bumped when the layout changes incompatibly; readers refuse newer versions.
SCHEMA_VERSION = 1
#: Value of the dataset's ``robot`` attribute.
ROBOT = "unitree_g1_dex3"
#: Value of the dataset's ``format`` attribute: how a reader recognises a dataset.
FORMAT = "psi-teleop-episodes"
EPISODES_GROUP = "episodes"
TIME = "time"
STATE = "state"
ACTION = "action"
ROBOT_GROUP = "robot"
OPERATOR_GROUP = "operator"
CAMERAS_GROUP = "cameras"
STAMP = "stamp"
JPEG = "jpeg"
VALID = "valid"
#: Prefix of episode ids; ids are ``episode_000000``, ``episode_000001``, ...
EPISODE_PREFIX = "episode_"


class EpisodeStatus(str, enum.Enum):
    """Life cycle of an episode (the ``status`` attribute).

    RECORDING: being written, or interrupted (crash, kill, full disk) — not trustworthy as is;
    ``psi-teleop dataset recover`` turns it into RECOVERED up to its last flush.
    COMPLETE: finalized by the writer. DISCARDED: the operator threw it away (data kept).
    RECOVERED: was interrupted, truncated to its last flush by ``recover``.
    """

    RECORDING = "recording"
    COMPLETE = "complete"
    DISCARDED = "discarded"
    RECOVERED = "recovered"


class StreamKind(enum.Enum):
    """What a stream holds, which decides its dtype and chunking on disk."""

    TIME = "time"
    NUMERIC = "numeric"
    STAMP = "stamp"
    FLAG = "flag"
    JPEG = "jpeg"


def episode_id(index: int) -> str:
    """The id of the ``index``-th episode of a dataset."""
    return f"{EPISODE_PREFIX}{index:06d}"


def episode_index(episode_id_: str) -> int | None:
    """Inverse of :func:`episode_id`; None for ids not made by it."""
    if not episode_id_.startswith(EPISODE_PREFIX):
        return None
    tail = episode_id_[len(EPISODE_PREFIX):]
    return int(tail) if tail.isdigit() else None
