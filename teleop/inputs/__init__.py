"""Operator input devices: each turns a device into OperatorFrames (teleop.operator_frame)."""
