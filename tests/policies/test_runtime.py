import numpy as np
import pytest

from policies.clocks import InjectedLatency, SteppedClock
from policies.config import RTCConfig, RTCMode
from policies.runtime import ActionSource, DelayEstimator, RTCRuntime, sample_chunk_at
from teleop.exceptions import ConfigError
from tests.policies.fakes import RampPolicy, RecordingBackend

T = 1 / 30


def _run(policy, latency_s, ticks, **cfg):
    backend = RecordingBackend()
    rt = RTCRuntime(policy, backend, RTCConfig(**cfg), clock=SteppedClock(), latency=InjectedLatency([latency_s]))
    return rt, backend, rt.run(max_ticks=ticks)


def test_delay_estimate_excludes_the_cold_start():
    est = DelayEstimator(window=3, period=T, initial_ticks=4)
    assert est.ticks() == 4
    est.add(2.0)  # cold start: compiling, caches
    assert est.ticks() == 4 and est.latency() is None
    est.add(0.05)
    assert est.ticks() == 2  # 0.05 s = 1.5 periods -> 2
    for _ in range(3):
        est.add(0.001)
    assert est.ticks() == 1  # the 0.05 s sample left the window; a prefix is at least the current tick
    floored = DelayEstimator(window=3, period=T, initial_ticks=4, min_ticks=2)
    for _ in range(3):
        floored.add(0.001)
    assert floored.ticks() == 2 and floored.latency() == 0.001


def test_interpolation_between_actions():
    chunk = np.arange(6.0).reshape(3, 2)
    np.testing.assert_allclose(sample_chunk_at(chunk, 0.5), [1.0, 2.0])
    np.testing.assert_allclose(sample_chunk_at(chunk, 7.0), chunk[2])


@pytest.mark.parametrize("latency_ticks", [0, 3, 8])
def test_lock_stepped_rollout_follows_the_trajectory_without_gaps(latency_ticks):
    policy = RampPolicy()
    rt, backend, report = _run(policy, latency_ticks * T, 150, mode=RTCMode.PREFIX, initial_delay=2)
    assert backend.steps == 150 and report.ticks == 150
    assert report.missed_ticks == 0 and report.starved_ticks == 0 and report.stale_chunks == 0
    first = report.switch_ticks[0]
    # a chunk is used as soon as its latency has elapsed (at the earliest the tick after its request)
    assert first == max(latency_ticks, 1)
    executed = np.array(backend.actions[first:])
    expected = np.array([policy.action_at(k * T) for k in range(first, 150)])
    np.testing.assert_allclose(executed, expected, atol=1e-9)  # no jump at any chunk switch
    log = report.log
    assert np.all(log["source"][first:] == ActionSource.CHUNK)
    # each chunk runs at least min_execution_horizon actions; switches skip exactly the consumed actions
    gaps = np.diff(report.switch_ticks)
    assert gaps.min() >= 5
    at_switch = log["index"][report.switch_ticks[1:]]
    # (the executed trajectory above is exact, so each skip equals the ticks consumed since the request);
    # a chunk faster than min_delay (2) is requested min_delay ticks ahead and waits for its switch tick
    d = max(latency_ticks, RTCConfig().min_delay)
    assert at_switch.min() >= d and np.median(at_switch) == d


def test_prefix_matches_the_committed_actions_and_the_delay_estimate():
    policy = RampPolicy()
    _, _, report = _run(policy, 4 * T, 120, mode=RTCMode.PREFIX, initial_delay=1)
    later = [c for c in policy.calls[3:] if c.mode is RTCMode.PREFIX]
    assert later and all(len(c.prefix) == 4 for c in later)  # d = ceil(latency / T) once measured
    # the prefix is what the current chunk commands at the next d ticks
    first_prefix = later[0].prefix
    assert np.allclose(np.diff(first_prefix[:, 14], axis=0), policy.rate * T)
    assert np.allclose(np.diff(first_prefix[:, 15], axis=0), 0.0)
    # inpainting sends the aligned previous chunk and a soft mask that is 1 on the prefix
    policy2 = RampPolicy()
    policy2.trained_with_prefix = False
    _, _, _ = _run(policy2, 4 * T, 60, initial_delay=1)
    inpaint = [c for c in policy2.calls if c.mode is RTCMode.INPAINT][-1]
    assert inpaint.guide.shape == (30, 36)
    assert np.all(inpaint.guide_weights[: len(inpaint.prefix)] == 1.0) and inpaint.guide_weights[-1] == 0.0


@pytest.mark.parametrize("min_delay", [1, 2, 3])
def test_fast_inference_still_commits_min_delay_actions(min_delay):
    policy = RampPolicy()
    _, backend, report = _run(policy, 0.0, 90, mode=RTCMode.PREFIX, initial_delay=1, min_delay=min_delay)
    later = [c for c in policy.calls[2:] if c.mode is RTCMode.PREFIX]
    assert later and all(len(c.prefix) == min_delay for c in later)
    assert report.starved_ticks == 0 and np.all(np.diff(report.switch_ticks) >= 5)
    first = report.switch_ticks[0]
    expected = np.array([policy.action_at(k * T) for k in range(first, 90)])
    np.testing.assert_allclose(np.array(backend.actions[first:]), expected, atol=1e-9)


def test_slow_inference_holds_then_slows_down_and_never_exits():
    policy = RampPolicy()
    _, backend, report = _run(policy, 1.2, 400, mode=RTCMode.PREFIX)  # 36 ticks > a 30-action chunk
    assert report.ticks == 400
    assert report.starved_ticks > 0
    sources = report.log["source"]
    assert np.any(sources == ActionSource.HOLD_STARVED)
    assert report.max_slowdown >= 2
    # once slowed down, the chunks last long enough: no starving in the last 150 ticks
    assert np.all(sources[-150:] != ActionSource.HOLD_STARVED)
    assert np.all(np.isfinite(np.array(backend.actions)))


def test_failed_inference_is_reported_and_retried():
    policy = RampPolicy(fail_every=3)
    _, backend, report = _run(policy, 2 * T, 200, mode=RTCMode.PREFIX)
    assert report.failed_inferences > 5
    assert report.chunks > 10 and report.ticks == 200


def test_synchronous_baseline_pauses_while_computing():
    policy = RampPolicy()
    _, _, report = _run(policy, 5 * T, 120, synchronous=True, execution_horizon=10)
    sources = report.log["source"]
    assert np.sum(sources == ActionSource.HOLD_SYNC) >= 5 * (len(report.switch_ticks) - 1)
    assert all(c.mode is RTCMode.NAIVE for c in policy.calls)
    # every chunk starts at its first action
    np.testing.assert_allclose(report.log["index"][report.switch_ticks], 0.0)


def test_prefix_mode_needs_a_checkpoint_trained_for_it():
    policy = RampPolicy()
    policy.trained_with_prefix = False
    with pytest.raises(ConfigError, match="training-time RTC"):
        RTCRuntime(policy, RecordingBackend(), RTCConfig(mode=RTCMode.PREFIX), clock=SteppedClock())


class _OffsetPolicy(RampPolicy):
    """Every other chunk is shifted by 0.1 rad: a plan that disagrees with the previous one."""

    def infer(self, obs, request):
        chunk = super().infer(obs, request)
        chunk[:, 14] += 0.1 * (len(self.calls) % 2)
        return chunk


@pytest.mark.parametrize("blend, max_step", [(0, 0.1), (4, 0.1 / 5)])
def test_switch_blend_spreads_a_disagreement_over_ticks(blend, max_step):
    policy = _OffsetPolicy()
    _, backend, report = _run(policy, 3 * T, 120, mode=RTCMode.PREFIX, switch_blend=blend)
    a = np.array(backend.actions)[:, 14]
    steps = np.abs(np.diff(a[report.switch_ticks[0]:])) - policy.rate * T
    assert steps.max() == pytest.approx(max_step, abs=2e-3)
