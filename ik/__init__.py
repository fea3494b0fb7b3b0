"""Upper-body multi-target IK and Dex3-1 hand retargeting: pure functions of targets to joint positions."""
