"""The work queue: level-triggered keys, per-key backoff with jitter, injected time."""

from controller.clock import ManualClock
from controller.loop.workqueue import Backoff, WorkQueue


def test_a_key_added_twice_is_handed_out_once():
    queue = WorkQueue(ManualClock())
    queue.add("Domain/research")
    queue.add("Domain/research")
    assert queue.pop_ready() == ["Domain/research"]
    assert queue.pop_ready() == []


def test_a_key_added_after_a_delay_is_due_only_then():
    clock = ManualClock()
    queue = WorkQueue(clock)
    queue.add_after("a", 30)
    assert queue.pop_ready() == []
    assert queue.next_due_in() == 30
    clock.advance(30)
    assert queue.pop_ready() == ["a"]
    assert queue.next_due_in() is None


def test_an_earlier_due_time_wins_over_a_later_one():
    clock = ManualClock()
    queue = WorkQueue(clock)
    queue.add_after("a", 60)
    queue.add_after("a", 5)
    queue.add_after("a", 90)
    clock.advance(5)
    assert queue.pop_ready() == ["a"]
    clock.advance(100)
    assert queue.pop_ready() == []


def test_failures_back_off_exponentially_with_jitter_up_to_a_cap():
    queue = WorkQueue(ManualClock(), Backoff(base_seconds=1, max_seconds=60, jitter=0.2), seed=3)
    delays = [queue.add_rate_limited("k") for _ in range(10)]
    for failures, delay in enumerate(delays, start=1):
        expected = min(60, 2 ** (failures - 1))
        assert expected * 0.8 <= delay <= expected * 1.2
    assert queue.failures("k") == 10


def test_forgetting_a_key_after_success_resets_its_backoff():
    queue = WorkQueue(ManualClock(), Backoff(base_seconds=2, jitter=0.0))
    queue.add_rate_limited("k")
    queue.add_rate_limited("k")
    queue.forget("k")
    assert queue.add_rate_limited("k") == 2


def test_one_failing_key_does_not_delay_the_others():
    clock = ManualClock()
    queue = WorkQueue(clock, Backoff(base_seconds=10, jitter=0.0))
    queue.add_rate_limited("broken")
    queue.add("healthy")
    assert queue.pop_ready() == ["healthy"]
    clock.advance(10)
    assert queue.pop_ready() == ["broken"]
