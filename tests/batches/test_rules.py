from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from batches import rules

NOW = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
GRACE = timedelta(hours=2)


def check(**overrides):
    args = {
        "status": "succeeded",
        "started_at": NOW - timedelta(hours=1),
        "duration_seconds": 600.0,
        "baseline_mean_seconds": 600.0,
        "baseline_runs": 14,
        "now": NOW,
        "long_factor": 1.5,
        "short_factor": 0.25,
        "min_baseline_runs": 3,
    }
    return rules.duration_check(**{**args, **overrides})


# --- staleness -----------------------------------------------------------------------------


def test_a_client_with_no_runs_is_not_stale_but_never_ran():
    result = rules.staleness(last_started_at=None, expected_interval=DAY, grace=GRACE, now=NOW)
    assert not result.stale and result.never_ran and result.overdue is None


def test_a_run_exactly_at_interval_plus_grace_is_not_yet_stale():
    last = NOW - DAY - GRACE
    assert not rules.staleness(last_started_at=last, expected_interval=DAY, grace=GRACE, now=NOW).stale
    later = rules.staleness(last_started_at=last, expected_interval=DAY, grace=GRACE, now=NOW + timedelta(seconds=1))
    assert later.stale and later.overdue == timedelta(seconds=1)


def test_staleness_compares_instants_whatever_the_offsets():
    # 23:00 in UTC-5 is 04:00 UTC the next day: 32 hours before NOW, not 37.
    last = datetime(2025, 3, 19, 23, 0, tzinfo=ZoneInfo("America/New_York")) - timedelta(days=1)
    result = rules.staleness(last_started_at=last, expected_interval=DAY, grace=GRACE, now=NOW)
    assert result.age == NOW - last.astimezone(UTC)
    assert result.stale


def test_a_one_day_interval_is_24_hours_across_a_daylight_saving_change():
    london = ZoneInfo("Europe/London")
    # Clocks went forward at 01:00 on 30 March 2025; 02:00 local on the 29th is 01:00 UTC.
    last = datetime(2025, 3, 29, 2, 0, tzinfo=london)
    now = datetime(2025, 3, 30, 3, 30, tzinfo=london)  # 02:30 UTC: 25.5 h later
    assert not rules.staleness(last_started_at=last, expected_interval=DAY, grace=GRACE, now=now).stale
    assert rules.staleness(last_started_at=last, expected_interval=DAY, grace=timedelta(hours=1), now=now).stale


def test_naive_times_are_refused():
    with pytest.raises(ValueError):
        rules.staleness(last_started_at=datetime(2025, 3, 19), expected_interval=DAY, grace=GRACE, now=NOW)


# --- long and short runs -------------------------------------------------------------------------


def test_a_run_more_than_the_long_factor_above_the_mean_is_long():
    assert check(duration_seconds=901.0).flag == "long"
    assert check(duration_seconds=900.0).flag is None
    assert check(duration_seconds=901.0).ratio == pytest.approx(901 / 600)


def test_a_succeeded_run_far_below_the_mean_is_short():
    assert check(duration_seconds=149.0).flag == "short"
    assert check(duration_seconds=150.0).flag is None


def test_all_equal_durations_flag_nothing():
    assert check(duration_seconds=600.0, baseline_mean_seconds=600.0).flag is None


def test_a_client_with_one_run_has_no_baseline_to_judge_against():
    result = check(duration_seconds=6000.0, baseline_mean_seconds=None, baseline_runs=0)
    assert result.flag is None and result.ratio is None


def test_too_few_earlier_runs_are_not_a_baseline():
    assert check(duration_seconds=6000.0, baseline_runs=2).flag is None
    assert check(duration_seconds=6000.0, baseline_runs=3).flag == "long"


def test_a_run_still_going_is_long_once_its_time_so_far_exceeds_the_threshold():
    started = NOW - timedelta(minutes=20)
    result = check(status="running", started_at=started, duration_seconds=None)
    assert result.flag == "long" and result.running and result.duration_seconds == 1200
    assert check(status="running", started_at=NOW - timedelta(minutes=1), duration_seconds=None).flag is None


def test_a_run_that_just_started_is_never_short():
    assert check(status="running", started_at=NOW - timedelta(seconds=5), duration_seconds=None).flag is None


def test_failed_runs_are_not_judged_for_duration():
    assert check(status="failed", duration_seconds=6000.0).flag is None


def test_a_zero_baseline_cannot_be_divided_by():
    assert check(baseline_mean_seconds=0.0).flag is None


# --- outliers -----------------------------------------------------------------------------------


def test_mad_is_the_median_of_absolute_deviations():
    assert rules.mad([1, 2, 3, 4, 100]) == 1
    with pytest.raises(ValueError):
        rules.mad([])


def test_a_spike_beyond_median_plus_three_mad_is_an_outlier():
    durations = [100, 104, 96, 102, 98, 101, 99, 103, 97, 100, 400]
    verdicts = rules.outlier_verdicts(durations, window=30, k=3, min_points=5)
    assert [v.outlier for v in verdicts] == [False] * 10 + [True]
    last = verdicts[-1]
    assert last.median == 100 and last.mad == pytest.approx(1.4826 * 2)
    assert last.upper == pytest.approx(100 + 3 * 1.4826 * 2)


def test_the_mad_is_scaled_so_ordinary_noise_is_not_an_outlier():
    window = [100, 104, 96, 102, 98, 101, 99, 103, 97, 100]  # raw MAD 2
    assert not rules.outlier_verdicts([108], window=30, k=3, min_points=5, history=window)[0].outlier
    assert rules.outlier_verdicts([109], window=30, k=3, min_points=5, history=window)[0].outlier


def test_one_huge_run_does_not_hide_the_next_one():
    durations = [100, 104, 96, 102, 98, 101, 1000, 950]
    verdicts = rules.outlier_verdicts(durations, window=30, k=3, min_points=5)
    assert verdicts[-2].outlier and verdicts[-1].outlier


def test_all_equal_durations_make_no_outliers_and_a_tiny_difference_is_not_one():
    durations = [600.0] * 10 + [601.0, 700.0]
    verdicts = rules.outlier_verdicts(durations, window=30, k=3, min_points=5)
    assert not any(v.outlier for v in verdicts[:11])
    assert verdicts[-1].outlier  # 700 > 600 + 3 × (2 % of 600)
    assert verdicts[-2].mad == pytest.approx(12.0)


def test_unusually_short_runs_are_outliers_too():
    verdicts = rules.outlier_verdicts([100, 101, 99, 100, 102, 98, 5], window=30, k=3, min_points=5)
    assert verdicts[-1].outlier and verdicts[-1].lower > 5


def test_points_without_enough_history_are_not_judged():
    verdicts = rules.outlier_verdicts([100, 100, 100, 100, 5000], window=30, k=3, min_points=5)
    assert not any(v.outlier for v in verdicts) and verdicts[-1].median is None


def test_history_before_the_range_gives_the_first_points_a_window():
    verdicts = rules.outlier_verdicts([5000], window=30, k=3, min_points=5, history=[100] * 6)
    assert len(verdicts) == 1 and verdicts[0].outlier


def test_the_window_trails_so_growing_durations_are_not_outliers():
    durations = [100 * 1.005**i for i in range(365)]  # doubling in about five months
    verdicts = rules.outlier_verdicts(durations, window=10, k=3, min_points=5)
    assert not any(v.outlier for v in verdicts)


def test_no_durations_no_verdicts():
    assert rules.outlier_verdicts([], window=30, k=3, min_points=5) == []


# --- month over month, success rate, urgency -------------------------------------------------------


def test_month_over_month_is_the_change_of_the_mean_duration():
    months = rules.month_over_month(
        [(date(2025, 1, 5), 100), (date(2025, 1, 6), 300), (date(2025, 2, 1), 250), (date(2025, 2, 28), 250)]
    )
    assert [(m.month, m.mean_seconds, m.change_percent) for m in months] == [
        (date(2025, 1, 1), 200, None),
        (date(2025, 2, 1), 250, 25.0),
    ]


def test_a_month_without_runs_breaks_the_chain():
    months = rules.month_over_month([(date(2025, 1, 5), 100), (date(2025, 3, 5), 300)])
    assert [m.change_percent for m in months] == [None, None]


def test_month_over_month_across_a_year_end():
    months = rules.month_over_month([(date(2024, 12, 31), 100), (date(2025, 1, 1), 90)])
    assert months[1].change_percent == pytest.approx(-10.0)


def test_success_rate_is_no_data_rather_than_zero_without_finished_runs():
    assert rules.success_rate(succeeded=0, failed=0) is None
    assert rules.success_rate(succeeded=0, failed=2) == 0
    assert rules.success_rate(succeeded=3, failed=1) == 75.0


def test_stale_clients_are_more_urgent_than_failed_long_and_short_ones():
    keys = [
        rules.urgency_key(problem="short", magnitude=50),
        rules.urgency_key(problem="long", magnitude=2),
        rules.urgency_key(problem="long", magnitude=5),
        rules.urgency_key(problem="stale", magnitude=0.1),
        rules.urgency_key(problem="failed", magnitude=0),
    ]
    assert sorted(keys) == [(0, -0.1), (1, 0), (2, -5), (2, -2), (3, -50)]
