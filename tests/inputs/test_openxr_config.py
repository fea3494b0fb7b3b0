"""Role mapping configuration of the OpenXR backend."""

from __future__ import annotations

import pytest

from teleop.exceptions import ConfigError
from teleop.inputs.openxr_config import (
    DEFAULT_TRACKERS,
    OpenXRConfig,
    TrackerBinding,
    TrackerFamily,
)
from teleop.operator_frame import TrackerRole


def test_default_mapping_covers_vive_roles():
    by_path = {b.user_path.rsplit("/", 1)[-1]: b.role for b in DEFAULT_TRACKERS}
    assert by_path["waist"] is TrackerRole.WAIST
    assert by_path["left_foot"] is TrackerRole.LEFT_ANKLE and by_path["right_foot"] is TrackerRole.RIGHT_ANKLE
    assert by_path["left_wrist"] is TrackerRole.LEFT_WRIST and by_path["right_elbow"] is TrackerRole.RIGHT_ELBOW
    assert {b.role for b in DEFAULT_TRACKERS} == set(TrackerRole)  # every body part has a default


def test_binding_parse_and_family():
    b = TrackerBinding.parse("left_foot=left_ankle")
    assert b.user_path == "/user/vive_tracker_htcx/role/left_foot" and b.role is TrackerRole.LEFT_ANKLE
    assert b.family is TrackerFamily.HTCX_ROLE and b.family.profile.endswith("vive_tracker_htcx")
    p = TrackerBinding.parse("/user/xr_tracker_htc/vive_self_tracker_2=waist")
    assert p.family is TrackerFamily.HTC_XR and p.family.pose_input == "/input/entity_htc/pose"
    with pytest.raises(ConfigError, match="PATH=ROLE"):
        TrackerBinding.parse("waist")
    with pytest.raises(ConfigError, match="unknown tracker role 'knee'"):
        TrackerBinding.parse("waist=knee")
    with pytest.raises(ConfigError, match="not a tracker user path"):
        TrackerBinding("/user/hand/left", TrackerRole.WAIST)


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match=r"stale_after_s=0.0 s is outside \(0, 5\]"):
        OpenXRConfig(stale_after_s=0.0)
    with pytest.raises(ConfigError, match="twice"):
        OpenXRConfig(trackers=(TrackerBinding.parse("waist=waist"), TrackerBinding.parse("left_foot=waist")))
    with pytest.raises(ConfigError, match=r"required_roles \['left_elbow'\] have no tracker"):
        OpenXRConfig(trackers=(TrackerBinding.parse("waist=waist"),), required_roles=(TrackerRole.LEFT_ELBOW,))
    cfg = OpenXRConfig(required_roles=(int(TrackerRole.WAIST),))
    assert cfg.required_roles == (TrackerRole.WAIST,)
    assert cfg.binding_for(TrackerRole.WAIST).user_path.endswith("/waist")
