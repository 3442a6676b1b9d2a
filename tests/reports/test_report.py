"""The report's numbers from real incidents, their severity history and 5xx samples."""

from datetime import timedelta

import pytest

from reports import selectors
from reports.uptime import Month
from tests.reports.conftest import add_gap, add_samples, at, make_5xx_series, make_incident

pytestmark = pytest.mark.django_db
MARCH = Month(2025, 3)
MARCH_SECONDS = 743 * 3600  # Europe/London: the clocks go forward on 30 March


def row(report, slug):
    return next(s for s in report.services if s.slug == slug)


def test_an_incident_raised_from_sev3_to_sev1_counts_only_from_the_raise(report_tz, services, engineer_user):
    make_incident(by=engineer_user, services=[services["web"]], severity=3, start=at(10, 10),
                  raise_to=(1, at(10, 11)), resolve=at(10, 12))  # fmt: skip
    report = selectors.monthly_report(month=MARCH)
    web = row(report, "web")
    assert web.downtime_seconds == 3600
    assert web.uptime_percent == round(100 * (1 - 3600 / MARCH_SECONDS), 3)
    assert web.incidents[0].severity == 1
    assert web.incidents[0].outage_seconds == 3600
    assert row(report, "payments").uptime_percent == 100.0


def test_overlapping_incidents_on_one_service_count_once(report_tz, services, engineer_user):
    web, pay = services["web"], services["payments"]
    make_incident(by=engineer_user, services=[web, pay], severity=1, start=at(5, 8), resolve=at(5, 10))
    make_incident(by=engineer_user, services=[web], severity=2, start=at(5, 9), resolve=at(5, 11))
    make_incident(by=engineer_user, services=[web], severity=3, start=at(6, 9), resolve=at(6, 23))
    report = selectors.monthly_report(month=MARCH)
    assert row(report, "web").downtime_seconds == 3 * 3600
    assert row(report, "web").incident_count == 3
    assert row(report, "web").by_severity == {1: 1, 2: 1, 3: 1, 4: 0}
    assert row(report, "payments").downtime_seconds == 2 * 3600
    assert len(report.incidents) == 3


def test_an_incident_spanning_months_is_clipped_and_compared_with_last_month(report_tz, services, engineer_user):
    # Europe/London: February ends at 1 March 00:00 GMT = 00:00 UTC.
    make_incident(by=engineer_user, services=[services["web"]], severity=1, start=at(27, 0, month=2),
                  resolve=at(3, 0))  # fmt: skip
    report = selectors.monthly_report(month=MARCH)
    web = row(report, "web")
    assert web.downtime_seconds == 2 * 86400
    assert web.previous_downtime_seconds == 2 * 86400
    feb_seconds = 28 * 86400
    assert web.previous_uptime_percent == round(100 * (1 - 2 * 86400 / feb_seconds), 3)
    assert web.change_from_previous == round(web.uptime_percent - web.previous_uptime_percent, 3)
    assert web.mttr_seconds == 4 * 86400


def test_an_ongoing_incident_counts_up_to_now(report_tz, services, engineer_user):
    start = at(30, 22)
    make_incident(by=engineer_user, services=[services["payments"]], severity=2, start=start)
    report = selectors.monthly_report(month=MARCH, now=start + timedelta(hours=5))
    pay = row(report, "payments")
    assert not report.complete
    assert pay.downtime_seconds == 5 * 3600
    assert pay.incidents[0].is_ongoing
    assert pay.incidents[0].postmortem == "pending"
    # Measured against the elapsed part of the month, not the whole month.
    assert pay.period_seconds == (start + timedelta(hours=5) - MARCH.bounds("Europe/London")[0]).total_seconds()


def test_slo_met_missed_and_error_budget(report_tz, services, engineer_user):
    # Payments allows 0.05 % of 743 h = 22.29 min; 30 min misses it.
    make_incident(by=engineer_user, services=[services["payments"]], severity=1, start=at(12, 9), resolve=at(12, 9, 30))
    report = selectors.monthly_report(month=MARCH)
    pay = row(report, "payments")
    assert not pay.slo_met
    assert pay.error_budget_used == round(100 * 1800 / (MARCH_SECONDS * 0.0005), 1)
    assert row(report, "web").slo_met
    assert [s.slug for s in report.services_missing_slo] == ["payments"]


def test_a_future_month_is_refused(report_tz):
    with pytest.raises(selectors.FutureMonth, match="has not started"):
        selectors.monthly_report(month=Month(2999, 1))


def test_5xx_outside_incidents_skips_every_incident_window_and_reports_coverage(report_tz, services, engineer_user):
    web, pay = services["web"], services["payments"]
    make_incident(by=engineer_user, services=[web], severity=4, start=at(3, 10), resolve=at(3, 11))
    series = make_5xx_series(web)
    add_samples(series, [(at(3, 10, 30), 500.0), (at(3, 12, 5), 7.0), (at(3, 12, 40), 5.0), (at(9, 1), 3.0),
                         (at(2, 23, 59, month=2), 999.0)])  # fmt: skip
    add_gap(series, at(20, 0), at(20, 12))
    report = selectors.monthly_report(month=MARCH)
    web_row = row(report, "web")
    assert web_row.http_5xx_outside == 15  # 500 during the (Sev 4) incident is excluded; February too
    assert web_row.http_5xx_total == 515
    assert web_row.http_5xx_coverage == pytest.approx(100 * (1 - 12 * 3600 / MARCH_SECONDS))
    assert web_row.worst_hours[0].value == 12
    assert web_row.worst_hours[0].start.hour == 12
    # No series at all: "no data", never zero.
    assert row(report, "payments").http_5xx_outside is None
    assert row(report, "payments").api_row()["http_5xx_outside_incidents"] is None
    assert row(report, "payments").http_5xx_total is None
    assert pay.slug == "payments"


def test_a_series_that_only_ever_returned_no_data_is_not_zero(report_tz, services):
    series = make_5xx_series(services["payments"])
    add_gap(series, at(1, 0), at(31, 23))
    report = selectors.monthly_report(month=MARCH)
    pay = row(report, "payments")
    assert pay.http_5xx_outside is None
    assert pay.http_5xx_coverage == 0.0


def test_the_report_takes_the_same_number_of_queries_for_many_incidents(
    report_tz, services, engineer_user, django_assert_max_num_queries, django_assert_num_queries
):
    make_incident(by=engineer_user, services=[services["web"]], start=at(2, 1), resolve=at(2, 2))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        selectors.monthly_report(month=MARCH)
    for day in range(3, 25):
        make_incident(by=engineer_user, services=[services["web"], services["payments"]], severity=2,
                      start=at(day, 1), raise_to=(1, at(day, 2)), resolve=at(day, 3))  # fmt: skip
    with django_assert_max_num_queries(len(few.captured_queries)):
        report = selectors.monthly_report(month=MARCH)
    assert row(report, "web").incident_count == 23


def test_a_worker_process_loads_the_pdf_renderer_when_it_starts_not_in_the_first_report():
    from config.celery import _warm_up_pdf_rendering
    from reports import pdf

    pdf._document_class.cache_clear()
    _warm_up_pdf_rendering()
    assert pdf._document_class.cache_info().currsize == 1
