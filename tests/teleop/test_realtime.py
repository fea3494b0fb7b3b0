"""Real-time thread settings: the GIL switch interval is shortened while a real-time thread runs and restored after."""

import os
import sys
import threading

import pytest

from teleop import realtime


def test_switch_interval_is_short_while_realtime_and_restored_after_the_last_thread():
    before = sys.getswitchinterval()
    inside = threading.Event()
    release = threading.Event()

    def worker():
        with realtime.realtime_thread(priority=0, switch_interval_s=0.0002):
            inside.set()
            release.wait(5.0)

    t = threading.Thread(target=worker)
    with realtime.realtime_thread(priority=0, switch_interval_s=0.0004):
        assert sys.getswitchinterval() == pytest.approx(0.0004)
        t.start()
        assert inside.wait(5.0)
        assert sys.getswitchinterval() == pytest.approx(0.0002)  # the shortest asked for wins
        release.set()
        t.join(5.0)
        assert sys.getswitchinterval() < before  # one real-time thread still runs
    assert sys.getswitchinterval() == pytest.approx(before)


@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="Linux scheduling API")
def test_priority_is_dropped_after_the_block_whether_or_not_it_was_granted():
    import subprocess

    with realtime.realtime_thread(priority=10) as fifo:
        policy = os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0)
        assert policy == (os.SCHED_FIFO if fifo else os.SCHED_OTHER)
        child = subprocess.run([sys.executable, "-c", "import os; print(os.sched_getscheduler(0))"],
                               capture_output=True, text=True, check=True)
        assert int(child.stdout) == os.SCHED_OTHER  # a process started from here is not real-time
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_priority_zero_leaves_the_scheduler_alone():
    assert realtime.raise_priority(0) is False


def test_loop_config_refuses_an_invalid_priority():
    from teleop.exceptions import ConfigError
    from teleop.loop import LoopConfig

    assert LoopConfig().realtime_priority == realtime.DEFAULT_PRIORITY
    assert LoopConfig(realtime_priority=0).realtime_priority == 0
    with pytest.raises(ConfigError, match="realtime_priority"):
        LoopConfig(realtime_priority=120)


def test_objects_are_frozen_out_of_the_collector_while_realtime():
    import gc

    keep = [object() for _ in range(1000)]
    with realtime.realtime_thread(priority=0):
        assert gc.get_freeze_count() >= len(keep)  # full collections no longer walk them
    assert gc.get_freeze_count() == 0
