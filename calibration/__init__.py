"""Operator calibration: body size, tracker offsets, headset-to-robot frame, hand ranges; profiles on disk."""
