"""Aggregates checked against a small case computed by hand (see the comments for the sums)."""

from datetime import UTC, datetime

import pytest

from automation import selectors

from .conftest import make_job, make_run

pytestmark = pytest.mark.django_db

START = datetime(2024, 3, 4, tzinfo=UTC)  # a Monday
END = datetime(2024, 3, 18, tzinfo=UTC)


def at(day, hour=10, minute=0):
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def case():
    a = make_job("a", "Restart web workers", minutes="30", cost="60", tags=["web", "remediation"])
    b = make_job("b", "Verify backups", minutes="90", cost="100", tags=["database"])
    c = make_job("c", "Ad-hoc cleanup", minutes="10", cost="0")
    make_run(a, started=at(4), seconds=60)  # 0.5 h
    make_run(a, started=at(5), seconds=120, hours=2)  # its own ROI value: 2 h
    make_run(a, started=at(12), seconds=30, status="failed")  # saves nothing
    make_run(a, started=at(12, 11), seconds=90)  # 0.5 h
    make_run(b, started=at(6), seconds=600)  # 1.5 h
    make_run(b, started=at(13), seconds=1200, status="timedout", hours=5)  # not successful: saves nothing
    make_run(c, started=at(14), seconds=10)  # 10 min = 1/6 h, no cost set
    make_run(a, started=datetime(2024, 3, 3, 23, 59, tzinfo=UTC))  # before the period
    make_run(a, started=END)  # the end is exclusive
    return a, b, c


def test_per_job_figures_match_the_hand_computed_case(case):
    a, b, c = case
    rows = {row.job.external_id: row for row in selectors.stats_per_job(start=START, end=END)}
    assert (rows["a"].runs, rows["a"].succeeded, rows["a"].success_rate) == (4, 3, 75.0)
    assert rows["a"].hours_saved == pytest.approx(3.0)  # 0.5 + 2 + 0.5
    assert rows["a"].money_saved == pytest.approx(180.0)  # 3 h × 60
    assert rows["a"].avg_seconds == pytest.approx(75.0)  # (60 + 120 + 30 + 90) / 4
    assert (rows["b"].runs, rows["b"].success_rate) == (2, 50.0)
    assert rows["b"].hours_saved == pytest.approx(1.5) and rows["b"].money_saved == pytest.approx(150.0)
    assert rows["b"].avg_seconds == pytest.approx(900.0)
    assert rows["c"].hours_saved == pytest.approx(1 / 6) and rows["c"].money_saved == 0
    assert [row.job.external_id for row in selectors.stats_per_job(start=START, end=END)] == ["a", "b", "c"]


def test_per_tag_figures_count_a_job_under_each_of_its_tags(case):
    rows = {row.tag: row for row in selectors.stats_per_tag(start=START, end=END)}
    assert set(rows) == {"web", "remediation", "database", "(untagged)"}
    for tag in ("web", "remediation"):
        assert (rows[tag].jobs, rows[tag].runs, rows[tag].succeeded) == (1, 4, 3)
        assert rows[tag].hours_saved == pytest.approx(3.0) and rows[tag].money_saved == pytest.approx(180.0)
    assert rows["database"].hours_saved == pytest.approx(1.5)
    assert rows["(untagged)"].runs == 1


def test_totals_and_the_report_summary_match_the_hand_computed_case(case):
    totals = selectors.totals(start=START, end=END)
    assert (totals.runs, totals.succeeded) == (7, 5)
    assert totals.hours_saved == pytest.approx(3 + 1.5 + 1 / 6)
    assert totals.money_saved == pytest.approx(330.0)
    assert totals.avg_seconds == pytest.approx((300 + 1800 + 10) / 7)
    assert selectors.roi_summary(start=START, end=END) == {
        "hours_saved": 4.67,
        "money_saved": 330.0,
        "runs": 7,
        "success_rate": 71.4,
    }


def test_the_summary_of_a_period_without_runs_has_no_success_rate_rather_than_zero(db):
    summary = selectors.roi_summary(start=START, end=END)
    assert summary == {"hours_saved": 0, "money_saved": 0, "runs": 0, "success_rate": None}


def test_the_weekly_trend_sums_hours_per_monday_week_and_leaves_empty_weeks_empty(case):
    trend = selectors.weekly_trend(start=datetime(2024, 2, 19, tzinfo=UTC), end=END)
    assert [(p.week.date().isoformat(), p.hours_saved, p.runs) for p in trend] == [
        ("2024-02-19", None, 0),  # no runs: no bar, not a 0
        ("2024-02-26", 0.5, 1),  # Sunday 3 March 23:59
        ("2024-03-04", 4.0, 3),  # 0.5 + 2 + 1.5
        ("2024-03-11", 0.67, 4),  # 0.5 + 1/6; the failed and timed-out runs save nothing
    ]


def test_top_jobs_are_ranked_by_money_then_hours(case):
    top = selectors.top_jobs(selectors.stats_per_job(start=START, end=END), limit=2)
    assert [row.job.external_id for row in top] == ["a", "b"]


def test_weeks_follow_the_display_time_zone(settings):
    settings.TIME_ZONE = "Europe/Paris"
    job = make_job("a", minutes="60")
    make_run(job, started=datetime(2024, 3, 10, 23, 30, tzinfo=UTC))  # Monday 00:30 in Paris
    trend = selectors.weekly_trend(start=datetime(2024, 3, 4, tzinfo=UTC), end=datetime(2024, 3, 17, tzinfo=UTC))
    assert [(p.week.isoformat(), p.runs) for p in trend] == [
        ("2024-03-04T00:00:00+01:00", 0),
        ("2024-03-11T00:00:00+01:00", 1),
    ]
