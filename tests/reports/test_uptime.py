"""The pure arithmetic of availability, checked against a brute-force reference."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.uptime import (
    BadMonth,
    IntervalSet,
    Month,
    error_budget_used,
    merge_intervals,
    union_seconds,
    uptime_percent,
)

BASE = datetime(2028, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SPAN = 6 * 24 * 60  # six days of minutes keeps the brute force fast


def brute_force_minutes(intervals, start, end, now):
    """Count minutes in [start, end) covered by any interval (ongoing ones end at now)."""
    covered = 0
    t = start
    while t < end:
        for s, e in intervals:
            if s <= t < (now if e is None else e):
                covered += 1
                break
        t += MINUTE
    return covered


intervals_strategy = st.lists(
    st.tuples(
        st.integers(0, SPAN),
        st.one_of(st.none(), st.integers(0, 3 * 24 * 60)),  # None: ongoing
    ),
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(
    raw=intervals_strategy,
    window=st.tuples(st.integers(0, SPAN), st.integers(0, SPAN)),
    now_offset=st.integers(0, SPAN),
)
def test_union_length_equals_a_minute_by_minute_count(raw, window, now_offset):
    intervals = [(BASE + s * MINUTE, None if d is None else BASE + (s + d) * MINUTE) for s, d in raw]
    start, end = BASE + min(window) * MINUTE, BASE + max(window) * MINUTE
    now = BASE + now_offset * MINUTE
    expected = brute_force_minutes(intervals, start, end, now) * 60
    assert union_seconds(intervals, start=start, end=end, now=now) == expected


@settings(max_examples=100, deadline=None)
@given(raw=intervals_strategy)
def test_merged_intervals_are_sorted_disjoint_and_inside_the_window(raw):
    intervals = [(BASE + s * MINUTE, None if d is None else BASE + (s + d) * MINUTE) for s, d in raw]
    start, end, now = BASE + 60 * MINUTE, BASE + 4000 * MINUTE, BASE + 3000 * MINUTE
    merged = merge_intervals(intervals, start=start, end=end, now=now)
    for (_, e1), (s2, _) in zip(merged, merged[1:], strict=False):
        assert e1 < s2
    assert all(start <= s < e <= end for s, e in merged)
    inside = IntervalSet(merged)
    for s, d in raw:
        instant = BASE + s * MINUTE
        if start <= instant < end and (d is None and instant < now or d):
            assert instant in inside


def test_overlapping_incidents_count_once():
    a = (BASE, BASE + timedelta(hours=2))
    b = (BASE + timedelta(hours=1), BASE + timedelta(hours=3))
    assert union_seconds([a, b], start=BASE, end=BASE + timedelta(days=1), now=BASE) == 3 * 3600


def test_an_ongoing_incident_counts_up_to_now():
    now = BASE + timedelta(hours=5)
    assert union_seconds([(BASE + timedelta(hours=1), None)], start=BASE, end=BASE + timedelta(days=1), now=now) == (
        4 * 3600
    )


def test_an_incident_spanning_three_months_is_clipped_to_each_month():
    incident = [(datetime(2028, 1, 31, 12, tzinfo=UTC), datetime(2028, 3, 1, 6, tzinfo=UTC))]
    now = datetime(2028, 6, 1, tzinfo=UTC)
    totals = {}
    for m in (Month(2028, 1), Month(2028, 2), Month(2028, 3)):
        start, end = m.bounds("UTC")
        totals[m.month] = union_seconds(incident, start=start, end=end, now=now)
    assert totals == {1: 12 * 3600, 2: 29 * 24 * 3600, 3: 6 * 3600}
    assert sum(totals.values()) == (incident[0][1] - incident[0][0]).total_seconds()


@pytest.mark.parametrize(
    ("tz", "month", "hours"),
    [
        ("UTC", Month(2028, 2), 29 * 24),  # leap year
        ("UTC", Month(2027, 2), 28 * 24),
        ("Europe/London", Month(2028, 3), 743),  # clocks go forward
        ("Europe/London", Month(2028, 10), 745),  # clocks go back
        ("America/New_York", Month(2028, 3), 743),
        ("America/New_York", Month(2028, 11), 721),
        ("Asia/Kolkata", Month(2028, 3), 744),
    ],
)
def test_month_length_follows_the_reporting_time_zone(tz, month, hours):
    start, end = month.bounds(tz)
    assert (end - start) == timedelta(hours=hours)


def test_a_month_starts_at_local_midnight():
    start, end = Month(2028, 7).bounds("Europe/London")
    assert start == datetime(2028, 6, 30, 23, tzinfo=UTC)
    assert end == datetime(2028, 7, 31, 23, tzinfo=UTC)
    start, _ = Month(2028, 1).bounds("America/New_York")
    assert start == datetime(2028, 1, 1, 5, tzinfo=UTC)


@settings(max_examples=50, deadline=None)
@given(
    year=st.integers(1990, 2090),
    month=st.integers(1, 12),
    tz=st.sampled_from(["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "America/Santiago"]),
)
def test_consecutive_months_share_their_boundary(year, month, tz):
    m = Month(year, month)
    assert m.bounds(tz)[1] == m.next().bounds(tz)[0]
    assert m.next().previous() == m


def test_downtime_in_a_dst_month_is_measured_against_743_hours():
    start, end = Month(2028, 3).bounds("Europe/London")
    downtime = 3600.0
    assert round(uptime_percent(downtime, (end - start).total_seconds()), 3) == round(100 * (1 - 1 / 743), 3)


def test_error_budget_is_the_downtime_the_target_allows():
    month = 30 * 24 * 3600
    assert error_budget_used(month * 0.001 / 2, month, 99.9) == pytest.approx(50.0)
    assert error_budget_used(0, month, 100.0) is None


@pytest.mark.parametrize("text", ["2025-13", "2025-00", "25-01", "2025/01", "march", "", "1969-12"])
def test_a_malformed_month_is_refused_with_a_message(text):
    with pytest.raises(BadMonth) as info:
        Month.parse(text)
    assert str(info.value)


def test_months_print_and_parse_as_yyyy_mm():
    assert str(Month.parse("2028-02")) == "2028-02"
    assert Month.parse("2028-02").label == "February 2028"
    assert Month(2028, 1).previous() == Month(2027, 12)
