"""Configuration of the OpenXR backend: which devices stand for which body parts.

The role mapping is data, not code: a :class:`TrackerBinding` says "the device at this OpenXR
user path is the operator's <body part>". The default maps the Vive tracker roles of
``XR_HTCX_vive_tracker_interaction`` (assigned in SteamVR > Settings > Controllers > Manage
Vive Trackers) to the OperatorFrame's tracker rows:

=================================================  ================================
user path                                          body part (TrackerRole)
=================================================  ================================
``/user/vive_tracker_htcx/role/waist``             ``WAIST``
``/user/vive_tracker_htcx/role/left_foot``         ``LEFT_ANKLE``
``/user/vive_tracker_htcx/role/right_foot``        ``RIGHT_ANKLE``
``/user/vive_tracker_htcx/role/left_wrist``        ``LEFT_WRIST``
``/user/vive_tracker_htcx/role/right_wrist``       ``RIGHT_WRIST``
``/user/vive_tracker_htcx/role/left_elbow``        ``LEFT_ELBOW``
``/user/vive_tracker_htcx/role/right_elbow``       ``RIGHT_ELBOW``
=================================================  ================================

Path-based VIVE Ultimate/self trackers (``XR_HTC_vive_xr_tracker_interaction``) have no body
part in their path (``/user/xr_tracker_htc/vive_self_tracker_0`` ...), so they are mapped by
listing them explicitly, e.g. ``TrackerBinding("/user/xr_tracker_htc/vive_self_tracker_0",
TrackerRole.WAIST)``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from teleop.exceptions import ConfigError
from teleop.operator_frame import TrackerRole

#: Interaction profile of ``XR_HTCX_vive_tracker_interaction`` (role paths).
VIVE_TRACKER_HTCX_PROFILE = "/interaction_profiles/htc/vive_tracker_htcx"
#: Interaction profile of ``XR_HTC_vive_xr_tracker_interaction`` (VIVE self/Ultimate trackers).
VIVE_XR_TRACKER_PROFILE = "/interaction_profiles/htc/vive_xr_tracker"
HTCX_EXTENSION = "XR_HTCX_vive_tracker_interaction"
HTC_XR_TRACKER_EXTENSION = "XR_HTC_vive_xr_tracker_interaction"
_HTCX_PREFIX = "/user/vive_tracker_htcx/role/"
_HTC_XR_PREFIX = "/user/xr_tracker_htc/"


class TrackerFamily(enum.Enum):
    """Which OpenXR extension a tracker user path belongs to."""

    HTCX_ROLE = "htcx_role"  # XR_HTCX_vive_tracker_interaction, /user/vive_tracker_htcx/role/<role>
    HTC_XR = "htc_xr"  # XR_HTC_vive_xr_tracker_interaction, /user/xr_tracker_htc/<name>

    @property
    def profile(self) -> str:
        return VIVE_TRACKER_HTCX_PROFILE if self is TrackerFamily.HTCX_ROLE else VIVE_XR_TRACKER_PROFILE

    @property
    def extension(self) -> str:
        return HTCX_EXTENSION if self is TrackerFamily.HTCX_ROLE else HTC_XR_TRACKER_EXTENSION

    @property
    def pose_input(self) -> str:
        """The pose component bound under the user path."""
        return "/input/grip/pose" if self is TrackerFamily.HTCX_ROLE else "/input/entity_htc/pose"


class ReferenceSpace(enum.Enum):
    """The OpenXR reference space poses are located in before conversion to the stage frame."""

    STAGE = "stage"  # floor-level, the play-area origin: z = 0 is the floor (default)
    LOCAL = "local"  # origin at the head when the session started: heights are head-relative


@dataclass(frozen=True)
class TrackerBinding:
    """One tracker: the OpenXR user path of the device and the body part it stands for.

    Attributes:
        user_path: ``/user/vive_tracker_htcx/role/<role>`` or ``/user/xr_tracker_htc/<name>``.
        role: the OperatorFrame row it fills.
    """

    user_path: str
    role: TrackerRole

    def __post_init__(self) -> None:
        if not isinstance(self.role, TrackerRole):
            object.__setattr__(self, "role", TrackerRole.parse(str(self.role)))
        if not self.user_path.startswith((_HTCX_PREFIX, _HTC_XR_PREFIX)) or self.user_path.endswith("/"):
            raise ConfigError(
                f"TrackerBinding.user_path='{self.user_path}' is not a tracker user path; use "
                f"'{_HTCX_PREFIX}<role>' (e.g. {_HTCX_PREFIX}waist) or '{_HTC_XR_PREFIX}<name>' "
                f"(e.g. {_HTC_XR_PREFIX}vive_self_tracker_0)"
            )

    @property
    def family(self) -> TrackerFamily:
        return TrackerFamily.HTCX_ROLE if self.user_path.startswith(_HTCX_PREFIX) else TrackerFamily.HTC_XR

    @classmethod
    def parse(cls, text: str) -> "TrackerBinding":
        """From ``USER_PATH=ROLE`` (``waist=waist`` is short for the HTCX role path)."""
        path, sep, role = text.partition("=")
        if not sep:
            raise ConfigError(f"tracker mapping '{text}' must look like PATH=ROLE, e.g. left_foot=left_ankle")
        path = path.strip()
        if not path.startswith("/"):
            path = _HTCX_PREFIX + path
        try:
            return cls(path, TrackerRole.parse(role))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None


#: Vive tracker roles (SteamVR "Manage Vive Trackers") -> body parts.
DEFAULT_TRACKERS: tuple[TrackerBinding, ...] = (
    TrackerBinding(_HTCX_PREFIX + "waist", TrackerRole.WAIST),
    TrackerBinding(_HTCX_PREFIX + "left_foot", TrackerRole.LEFT_ANKLE),
    TrackerBinding(_HTCX_PREFIX + "right_foot", TrackerRole.RIGHT_ANKLE),
    TrackerBinding(_HTCX_PREFIX + "left_wrist", TrackerRole.LEFT_WRIST),
    TrackerBinding(_HTCX_PREFIX + "right_wrist", TrackerRole.RIGHT_WRIST),
    TrackerBinding(_HTCX_PREFIX + "left_elbow", TrackerRole.LEFT_ELBOW),
    TrackerBinding(_HTCX_PREFIX + "right_elbow", TrackerRole.RIGHT_ELBOW),
)


@dataclass(frozen=True)
class OpenXRConfig:
    """What the OpenXR backend asks the runtime for.

    Attributes:
        trackers: tracker user paths and the body part each stands for.
        required_roles: body parts whose tracker must be present at start (else
            :class:`~teleop.inputs.exceptions.TrackerRoleMissingError`); others are optional.
        use_trackers: bind Vive trackers when the runtime offers their extension.
        use_hand_tracking: locate hand joints when the runtime offers ``XR_EXT_hand_tracking``.
        require_hand_tracking: fail at start if the runtime has no hand tracking.
        reference_space: the space poses are located in (STAGE: floor at z = 0).
        stale_after_s: a device whose last *tracked* sample is older than this is invalid,
            even if the runtime still reports an inferred pose [s].
        prediction_s: locate poses this far ahead of the poll time (the runtime extrapolates
            them) to compensate downstream latency; ``frame.stamp`` is then the predicted
            time. 0 = the poses at the poll time [s].
        predict_to_display: when the session has a frame loop (the headset view runs in it),
            locate poses at the next predicted display time, as the operator will see them,
            instead of at the poll time plus ``prediction_s``; ``frame.stamp`` is that display
            time. Ignored by a headless session (no frame loop, no display time).
        ready_timeout_s: how long ``start`` waits for the session to become READY [s].
        application_name: shown by the runtime (SteamVR's app list).
    """

    trackers: tuple[TrackerBinding, ...] = DEFAULT_TRACKERS
    required_roles: tuple[TrackerRole, ...] = ()
    use_trackers: bool = True
    use_hand_tracking: bool = True
    require_hand_tracking: bool = False
    reference_space: ReferenceSpace = ReferenceSpace.STAGE
    stale_after_s: float = 0.1  # [s]
    prediction_s: float = 0.0  # [s]
    predict_to_display: bool = False
    ready_timeout_s: float = 5.0  # [s]
    application_name: str = "psi-teleop"

    def __post_init__(self) -> None:
        object.__setattr__(self, "trackers", tuple(self.trackers))
        object.__setattr__(self, "required_roles", tuple(TrackerRole(r) for r in self.required_roles))
        if not 0.0 < self.stale_after_s <= 5.0:
            raise ConfigError(f"OpenXRConfig.stale_after_s={self.stale_after_s} s is outside (0, 5]; the default is 0.1")
        if not 0.0 <= self.prediction_s <= 0.1:
            raise ConfigError(f"OpenXRConfig.prediction_s={self.prediction_s} s is outside [0, 0.1]; 0 disables prediction")
        if not 0.0 < self.ready_timeout_s <= 120.0:
            raise ConfigError(f"OpenXRConfig.ready_timeout_s={self.ready_timeout_s} s is outside (0, 120]")
        if not self.application_name:
            raise ConfigError("OpenXRConfig.application_name must not be empty")
        if not isinstance(self.reference_space, ReferenceSpace):
            raise ConfigError(f"OpenXRConfig.reference_space={self.reference_space!r}; use one of {list(ReferenceSpace)}")
        paths = [b.user_path for b in self.trackers]
        roles = [b.role for b in self.trackers]
        dup_paths = sorted({p for p in paths if paths.count(p) > 1})
        dup_roles = sorted({r.name.lower() for r in roles if roles.count(r) > 1})
        if dup_paths or dup_roles:
            raise ConfigError(
                f"OpenXRConfig.trackers maps a device or a body part twice (paths {dup_paths}, roles {dup_roles}); "
                "each tracker user path and each body part may appear once"
            )
        unmapped = [r.name.lower() for r in self.required_roles if r not in roles]
        if unmapped:
            raise ConfigError(
                f"OpenXRConfig.required_roles {unmapped} have no tracker in OpenXRConfig.trackers; "
                f"mapped roles are {[r.name.lower() for r in roles]}"
            )

    def binding_for(self, role: TrackerRole) -> TrackerBinding | None:
        """The tracker mapped to ``role``, if any."""
        return next((b for b in self.trackers if b.role is role), None)
