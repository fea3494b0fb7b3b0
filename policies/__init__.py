"""Dataset windows, the flow-matching action expert, the trainer, the RTC runtime, rollout and evaluation.

    from policies import FlowPolicy, RTCRuntime, Trainer, evaluate
    Trainer(dataset, out_dir, window, model, train).fit()
    policy = FlowPolicy.load(out_dir)
    RTCRuntime(policy, backend, RTCConfig()).run(max_ticks=900)       # any RobotBackend, real time
    evaluate(policy, "pick_place", episodes=20, seed=1000).success_rate  # lock-stepped simulation

Names are imported on first use, so ``import policies`` is cheap and pulls in torch only
when a torch-backed name (model, trainer, policy) is touched. Needs the ``policies``
extra (``pip install 'psi-teleop[policies]'``).
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module that defines it
_EXPORTS = {
    "ActionExpert": "policies.model",
    "CheckpointError": "policies.exceptions",
    "CheckpointMeta": "policies.checkpoint",
    "ChunkPolicy": "policies.policy",
    "ChunkRequest": "policies.policy",
    "DatasetWindowError": "policies.exceptions",
    "FlowPolicy": "policies.policy",
    "ModelConfig": "policies.config",
    "NormMode": "policies.config",
    "NormStats": "policies.normalization",
    "Observation": "policies.policy",
    "PolicyError": "policies.exceptions",
    "RTCConfig": "policies.config",
    "RTCMode": "policies.config",
    "TrainConfig": "policies.config",
    "TrainResult": "policies.trainer",
    "Trainer": "policies.trainer",
    "WindowConfig": "policies.config",
    "WindowDataset": "policies.windows",
    "model_for_window": "policies.trainer",
    "RTCRuntime": "policies.runtime",
    "RuntimeReport": "policies.runtime",
    "ActionSource": "policies.runtime",
    "RealTimeClock": "policies.clocks",
    "SteppedClock": "policies.clocks",
    "InjectedLatency": "policies.clocks",
    "MeasuredLatency": "policies.clocks",
    "SubprocessPolicy": "policies.subprocess_policy",
    "EvalReport": "policies.rollout",
    "evaluate": "policies.rollout",
    "RuntimeFault": "policies.exceptions",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'policies' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
