"""A recorded calibration stream: the OperatorFrames of each held pose, and its file format.

The routine (:mod:`calibration.routine`) is a pure function of a
:class:`CalibrationRecording`, so the same recording always gives the same profile. A
recording is saved as one ``.npz`` file: for each phase the stacked
:meth:`OperatorFrame.as_arrays` streams under ``<phase>/<stream>``, and a ``meta`` JSON
string (format version, creation date, phase order).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from teleop.enums import parse_enum
from calibration.exceptions import CalibrationError
from teleop.operator_frame import OperatorFrame

#: Version of the recording file format.
RECORDING_VERSION = 1


class Phase(enum.Enum):
    """The poses of the routine, each held still for a few seconds."""

    NEUTRAL = "neutral"  # standing straight, looking ahead, arms hanging, palms facing the thighs
    T_POSE = "t_pose"  # arms straight out to the sides at shoulder height, palms down
    ARMS_FORWARD = "arms_forward"  # arms straight ahead at shoulder height, palms facing each other
    HAND_OPEN = "hand_open"  # both hands in front of the headset, fingers spread wide
    HAND_PINCH = "hand_pinch"  # both hands in front of the headset, thumb and index tips touching

    @classmethod
    def parse(cls, value: Phase | str) -> Phase:
        return parse_enum(cls, value, "calibration phase", CalibrationError)


#: The full routine, in the order the operator is asked for the poses.
DEFAULT_PHASES: tuple[Phase, ...] = (
    Phase.NEUTRAL, Phase.T_POSE, Phase.ARMS_FORWARD, Phase.HAND_OPEN, Phase.HAND_PINCH,
)
#: Phases in which the arms are straight and their pose is assumed (used for arm geometry).
ARM_PHASES: tuple[Phase, ...] = (Phase.NEUTRAL, Phase.T_POSE, Phase.ARMS_FORWARD)


@dataclass
class CalibrationRecording:
    """OperatorFrames per phase, in the order recorded.

    Attributes:
        frames: phase → frames of its hold (stamps on :func:`teleop.clock.now`, increasing).
        created: ISO date of the recording; it becomes the profile's ``created``.
    """

    frames: dict[Phase, list[OperatorFrame]] = field(default_factory=dict)
    created: str = ""

    @property
    def phases(self) -> tuple[Phase, ...]:
        return tuple(p for p in self.frames if self.frames[p])

    def save(self, path: Path) -> Path:
        """Write the recording as ``.npz`` (atomically); return the path."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        arrays: dict[str, np.ndarray] = {}
        for phase, frames in self.frames.items():
            if not frames:
                continue
            streams = [f.as_arrays() for f in frames]
            for key in streams[0]:
                arrays[f"{phase.value}/{key}"] = np.stack([np.asarray(s[key]) for s in streams])
        meta = {"version": RECORDING_VERSION, "created": self.created, "phases": [p.value for p in self.phases]}
        arrays["meta"] = np.array(json.dumps(meta))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> CalibrationRecording:
        path = Path(path)
        try:
            data = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise CalibrationError(
                f"no calibration recording at {path}; record one with `psi-teleop calibrate --save-stream FILE`"
            ) from None
        except (OSError, ValueError) as exc:
            raise CalibrationError(f"{path} is not a calibration recording (.npz): {exc}") from None
        with data:
            if "meta" not in data.files:
                raise CalibrationError(f"{path} has no 'meta' entry; it is not a calibration recording")
            meta = json.loads(str(data["meta"]))
            if meta.get("version") != RECORDING_VERSION:
                raise CalibrationError(
                    f"{path} has recording format {meta.get('version')}; this psi-teleop reads {RECORDING_VERSION}"
                )
            rec = cls(created=str(meta.get("created", "")))
            for name in meta["phases"]:
                phase = Phase.parse(name)
                stamps = data[f"{name}/stamp"]
                streams = {k.split("/", 1)[1]: data[k] for k in data.files if k.startswith(f"{name}/")}
                rec.frames[phase] = [
                    OperatorFrame.from_arrays({k: v[i] for k, v in streams.items()}) for i in range(len(stamps))
                ]
        return rec
