"""Quarters, years and service groups: the month's exact rule over longer periods, narrowed to a group."""

import csv
import io

import pytest

from incidents import services as incident_services
from reports import selectors
from reports import services as report_services
from reports.models import MonthlyReport, ServiceGroup
from reports.uptime import Month, Quarter, Year, parse_period
from tests.reports.conftest import at, make_incident

pytestmark = pytest.mark.django_db

Q1_SECONDS = (31 + 28 + 31) * 86400 - 3600  # Europe/London: March loses an hour


@pytest.fixture
def q1(report_tz, services, engineer_user):
    """A Sev 1 across the January/February boundary on web; a Sev 2 in March on payments."""
    across = make_incident(by=engineer_user, services=[services["web"]], severity=1, start=at(31, 23, month=1),
                           resolve=at(1, 1, month=2))  # fmt: skip
    march = make_incident(by=engineer_user, services=[services["payments"]], severity=2, start=at(20, 8),
                          resolve=at(20, 8, 30))  # fmt: skip
    return {"across": across, "march": march}


@pytest.fixture
def front_ends(services):
    group = ServiceGroup.objects.create(slug="front-ends", name="Customer front ends", recipients="cx@example.com")
    group.services.add(services["web"])
    return group


def test_periods_parse_and_bad_ones_say_why():
    assert parse_period("2025-Q1") == Quarter(2025, 1) and parse_period("2025") == Year(2025)
    assert parse_period("2025-03") == Month(2025, 3)
    assert Quarter(2025, 1).months == [Month(2025, 1), Month(2025, 2), Month(2025, 3)]
    for text, words in [("2026-Q5", "1 to 4"), ("2025-13", "01 to 12"), ("Q1", "YYYY-QN")]:
        with pytest.raises(ValueError, match=words):
            parse_period(text)


def test_a_quarter_counts_the_union_of_sev12_time_across_its_months(q1):
    report = selectors.monthly_report(month=Quarter(2025, 1))
    web = next(s for s in report.services if s.slug == "web")
    assert web.downtime_seconds == 2 * 3600 and web.period_seconds == Q1_SECONDS
    assert web.uptime_percent == round(100 * (1 - 7200 / Q1_SECONDS), 3)
    months = [selectors.monthly_report(month=m) for m in Quarter(2025, 1).months]
    assert sum(next(s for s in r.services if s.slug == "web").downtime_seconds for r in months) == 7200
    year = selectors.monthly_report(month=Year(2025))
    assert next(s for s in year.services if s.slug == "payments").downtime_seconds == 1800


def test_the_api_takes_period_and_still_takes_month(client, leader_user, q1):
    client.force_login(leader_user)
    body = client.get("/api/v1/uptime/?period=2025-Q1").json()
    assert body["period"] == "2025-Q1" and body["kind"] == "quarter"
    web = next(r for r in body["results"] if r["service"] == "web")
    assert web["downtime_seconds"] == 7200 and web["uptime_percent"] == round(100 * (1 - 7200 / Q1_SECONDS), 3)
    assert len(web["trend"]) == 12 and web["trend"][-1]["month"] == "2025-03"
    assert client.get("/api/v1/uptime/?month=2025-03").json()["month"] == "2025-03"
    assert client.get("/api/v1/uptime/?period=2025").json()["kind"] == "year"


BAD = [("period=2026-Q5", "period", 400), ("period=20x5", "period", 400), ("group=nope", "group", 404),
       ("period=2999", "period", 404)]  # fmt: skip


@pytest.mark.parametrize(("query", "name", "code"), BAD)
def test_bad_periods_and_groups_are_clear_4xx_naming_the_parameter(client, leader_user, query, name, code):
    client.force_login(leader_user)
    response = client.get(f"/api/v1/uptime/?{query}")
    assert response.status_code == code and name in response.json()


@pytest.mark.parametrize("url", ["/reports/2026-Q5/", "/reports/2025-Q1/?group=nope", "/reports/2025-Q1.pdf?group=nope",
                                 "/reports/2025-Q0.csv"])  # fmt: skip
def test_bad_periods_and_groups_on_pages_are_404_saying_why(client, leader_user, url):
    client.force_login(leader_user)
    response = client.get(url)
    assert response.status_code == 404
    assert "quarter" in response.content.decode() or "group" in response.content.decode()


def test_the_quarter_page_and_csv_show_the_quarter(client, leader_user, q1):
    client.force_login(leader_user)
    page = client.get("/reports/2025-Q1/").content.decode()
    assert "Q1 2025" in page and q1["across"].ticket in page and q1["march"].ticket in page
    assert "12-month trend" in page and 'id="executive-summary"' in page
    lines = list(csv.reader(io.StringIO(client.get("/reports/2025-Q1.csv").content.decode())))
    assert any(line[:2] == ["service", "web"] and line[9] == "7200" for line in lines)
    listing = client.get("/reports/").content.decode()
    assert 'data-period="2025-Q1"' not in listing or "Q1 2025" in listing


def test_a_group_narrows_page_api_and_csv_to_its_services(client, leader_user, q1, front_ends):
    client.force_login(leader_user)
    body = client.get("/api/v1/uptime/?period=2025-Q1&group=front-ends").json()
    assert body["group"] == "front-ends" and [r["service"] for r in body["results"]] == ["web"]
    page = client.get("/reports/2025-Q1/?group=front-ends").content.decode()
    assert "Customer front ends" in page and q1["across"].ticket in page and q1["march"].ticket not in page
    text = client.get("/reports/2025-03.csv?group=front-ends").content.decode()
    assert "payments" not in text


def test_the_scheduled_send_goes_per_group(report_tz, settings, front_ends):
    from datetime import UTC, datetime

    settings.REPORT_SCHEDULE_HOUR, settings.REPORT_SCHEDULE_MINUTE = 6, 0
    due = report_services.scheduled_sends_due(now=datetime(2025, 4, 1, 7, 0, tzinfo=UTC))
    assert [(str(p), g, to) for p, g, to in due] == [("2025-03", "", None), ("2025-03", "front-ends",
                                                                              ["cx@example.com"])]  # fmt: skip


def test_a_correction_marks_stored_quarter_and_group_reports_out_of_date(q1, front_ends, engineer_user):
    quarter = report_services.report_generate(month=Quarter(2025, 1), trigger="command")
    group_year = report_services.report_generate(month=Year(2025), group=front_ends, trigger="command")
    other = report_services.report_generate(month=Quarter(2025, 2), trigger="command")
    incident_services.incident_correct(incident=q1["march"], by=engineer_user, reason="Really ended later",
                                       resolved_at=at(20, 9))  # fmt: skip
    assert MonthlyReport.objects.get(pk=quarter.pk).out_of_date_since is not None
    assert MonthlyReport.objects.get(pk=group_year.pk).out_of_date_since is not None
    assert MonthlyReport.objects.get(pk=other.pk).out_of_date_since is None


def test_the_preview_is_computed_once_per_change_of_the_data(client, leader_user, q1, monkeypatch, services,
                                                             engineer_user):  # fmt: skip
    calls = []
    real = selectors.monthly_report
    monkeypatch.setattr(selectors, "monthly_report", lambda **kw: calls.append(kw) or real(**kw))
    client.force_login(leader_user)
    for _ in range(3):
        assert client.get("/reports/2025-03/").status_code == 200
    client.get("/api/v1/uptime/?month=2025-03")
    assert len(calls) == 1
    make_incident(by=engineer_user, services=[services["web"]], severity=1, start=at(25, 9), resolve=at(25, 10))
    page = client.get("/reports/2025-03/").content.decode()
    assert len(calls) == 2 and "99.865 %" in page


def test_the_executive_summary_and_trend_say_how_things_went(q1, services, engineer_user):
    make_incident(by=engineer_user, services=[services["web"]], severity=1, start=at(10, 9), resolve=at(10, 12))
    report = selectors.monthly_report(month=Month(2025, 3), with_trends=True)
    assert report.executive_summary == (
        "2 of 2 services missed SLO; Web Storefront worst at 99.596 %; downtime up 250 % on February 2025."
    )
    web = next(s for s in report.services if s.slug == "web")
    trend = report.trends[web.id]
    assert [str(p.month) for p in trend][-3:] == ["2025-01", "2025-02", "2025-03"]
    assert [p.downtime_seconds for p in trend][-3:] == [3600, 3600, 3 * 3600]
    assert trend[0].uptime_percent is None  # before recorded history: no data, not 100 %
    svg = report.trend_rows[0].uptime_svg
    assert svg.startswith("<svg") and "<script" not in svg


def test_report_csv_cells_that_look_like_formulas_are_neutralised(client, leader_user, report_tz, services,
                                                                  engineer_user):  # fmt: skip
    make_incident(by=engineer_user, services=[services["web"]], title='=HYPERLINK("http://x","y")', severity=1,
                  start=at(3, 9), resolve=at(3, 10))  # fmt: skip
    client.force_login(leader_user)
    rows = list(csv.reader(io.StringIO(client.get("/reports/2025-03.csv").content.decode())))
    titles = [line[3] for line in rows if line and line[0] == "incident"]
    assert titles == ['\'=HYPERLINK("http://x","y")']


def test_the_trend_direction_is_written_in_the_readers_language():
    from types import SimpleNamespace

    from django.utils import translation

    from reports.trends import TrendRow

    def row(*downtimes):
        return TrendRow(service=None, points=[SimpleNamespace(downtime_seconds=d) for d in downtimes])

    better, worse, same, young = row(600, 600, 600, 0, 0, 0), row(0, 0, 0, 600, 600, 600), row(*[0] * 6), row(0)
    assert [r.direction for r in (better, worse, same, young)] == ["improving", "worsening", "steady", "unknown"]
    with translation.override("fr"):
        assert [r.direction_label for r in (better, worse, same, young)] == [
            "en amélioration",
            "en dégradation",
            "stable",
            "inconnue",
        ]
