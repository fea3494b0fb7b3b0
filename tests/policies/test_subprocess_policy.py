import functools

import numpy as np
import pytest

from policies.clocks import InjectedLatency, SteppedClock
from policies.config import RTCConfig, RTCMode
from policies.exceptions import RuntimeFault
from policies.policy import ChunkRequest, Observation
from policies.runtime import RTCRuntime
from policies.subprocess_policy import SubprocessPolicy
from tests.policies.fakes import RampPolicy, RecordingBackend


def _broken_factory():
    raise FileNotFoundError("no checkpoint here")


def test_served_policy_matches_the_local_one_and_reports_errors():
    local = RampPolicy(fail_every=2)
    with SubprocessPolicy(functools.partial(RampPolicy, fail_every=2)) as served:
        assert served.horizon == 30 and served.trained_with_prefix and served.cameras == ()
        obs = Observation(state=np.zeros(32), stamp=1.5)
        np.testing.assert_array_equal(served.infer(obs, ChunkRequest()), local.infer(obs, ChunkRequest()))
        with pytest.raises(RuntimeFault, match="simulated inference failure"):
            served.infer(obs, ChunkRequest())
        # the runtime drives it like any policy
        backend = RecordingBackend()
        report = RTCRuntime(served, backend, RTCConfig(mode=RTCMode.PREFIX), clock=SteppedClock(),
                            latency=InjectedLatency([0.1])).run(max_ticks=60)
        assert report.chunks >= 3 and report.failed_inferences >= 2


def test_a_policy_that_cannot_load_is_reported():
    with pytest.raises(RuntimeFault, match="could not load the policy: FileNotFoundError: no checkpoint here"):
        SubprocessPolicy(_broken_factory)
