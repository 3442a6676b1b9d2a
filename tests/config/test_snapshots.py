"""config.snapshots: one computation per key and interval, shared by every web process."""

from datetime import UTC, datetime, timedelta

import pytest

from config import snapshots

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Counter:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return f"value {self.calls}"


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


def test_with_no_interval_every_call_computes(settings):
    settings.TIMELINE_REUSE_SECONDS = 0
    compute = Counter()
    assert [snapshots.recent("k", compute) for _ in range(3)] == ["value 1", "value 2", "value 3"]


def test_a_value_is_reused_by_every_process_within_the_interval_then_computed_again(settings, clock):
    settings.TIMELINE_REUSE_SECONDS = 2
    compute = Counter()
    assert snapshots.recent("k", compute) == "value 1"
    clock.move_to(T0 + timedelta(seconds=1.5), tick=False)
    snapshots.forget(shared=False)  # another web process: nothing of its own, the shared copy
    assert snapshots.recent("k", compute) == "value 1"
    assert snapshots.recent("other key", compute) == "value 2"
    clock.move_to(T0 + timedelta(seconds=2.1), tick=False)
    assert snapshots.recent("k", compute) == "value 3"
    assert compute.calls == 3


def test_while_one_request_computes_the_others_get_the_previous_value(settings, clock):
    settings.TIMELINE_REUSE_SECONDS = 2
    compute = Counter()
    snapshots.recent("k", compute)
    clock.move_to(T0 + timedelta(seconds=3), tick=False)
    seen = []

    def slow():
        # Another request arrives while this one computes: it is not made to compute too.
        seen.append(snapshots.recent("k", compute))
        return compute()

    assert snapshots.recent("k", slow) == "value 2"
    assert seen == ["value 1"]
    assert compute.calls == 2
    # The new value is the one shown from now on.
    snapshots.forget(shared=False)
    assert snapshots.recent("k", compute) == "value 2"


def test_with_nothing_computed_yet_a_concurrent_request_computes_rather_than_waits(settings, clock):
    settings.TIMELINE_REUSE_SECONDS = 2
    compute = Counter()
    seen = []

    def first():
        seen.append(snapshots.recent("k", compute))
        return compute()

    assert snapshots.recent("k", first) == "value 2"
    assert seen == ["value 1"]


def test_a_failed_computation_leaves_no_lock_and_no_value_behind(settings, clock):
    settings.TIMELINE_REUSE_SECONDS = 2

    def broken():
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        snapshots.recent("k", broken)
    compute = Counter()
    assert snapshots.recent("k", compute) == "value 1"
    # Stored for the others: the failed computation's lock did not outlive it.
    snapshots.forget(shared=False)
    assert snapshots.recent("k", compute) == "value 1"


def test_a_snapshot_is_never_older_than_the_interval_counted_from_the_start_of_its_computation(settings, clock):
    settings.TIMELINE_REUSE_SECONDS = 2

    def takes_a_second_and_a_half():
        clock.move_to(T0 + timedelta(seconds=1.5), tick=False)
        return "read at T0"

    snapshots.recent("k", takes_a_second_and_a_half)
    clock.move_to(T0 + timedelta(seconds=2.2), tick=False)
    assert snapshots.recent("k", lambda: "read at T0+2.2") == "read at T0+2.2"
