"""The monthly report shows planned maintenance per service beside the uptime; downtime is unchanged by it."""

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader

from maintenance import services as svc
from reports import selectors
from reports.uptime import Month
from tests.reports.conftest import MONTH, at, make_incident
from tests.reports.test_pages import download  # a first download is rendered by the worker

MARCH = Month(2025, 3)


def row(report, slug):
    return next(s for s in report.services if s.slug == slug)


@pytest.fixture
def march(settings, services, engineer_user):
    """A Sev 1 hour on web (10 Mar 11:00-12:00 UTC), reported in Europe/London."""
    settings.REPORT_TIME_ZONE = "Europe/London"
    make_incident(by=engineer_user, services=[services["web"]], title="Checkout returns 502", severity=3,
                  start=at(10, 10), raise_to=(1, at(10, 11)), resolve=at(10, 12))  # fmt: skip
    return services


def plan(services, by, *, title, on, start, end, cancel=False):
    maintenance = svc.maintenance_schedule(
        title=title,
        services=[services[s] for s in on],
        starts_at=start,
        ends_at=end,
        by=by,
        now=start - timedelta(days=1),
    )
    if cancel:
        svc.maintenance_cancel(maintenance=maintenance, by=by, now=start - timedelta(hours=1))
    else:
        svc.maintenance_advance(now=end)
    return maintenance


def test_maintenance_time_is_reported_per_service_and_never_changes_downtime(march, engineer_user):
    before = selectors.monthly_report(month=MARCH)
    # Overlaps the Sev 1 hour and another window on web; crosses the month's start in London
    # (March begins at 00:00 GMT = 00:00 UTC on 1 Mar 2025).
    plan(march, engineer_user, title="DB upgrade", on=("web", "payments"), start=at(10, 10, 30), end=at(10, 12, 30))
    plan(march, engineer_user, title="Cache flush", on=("web",), start=at(10, 12), end=at(10, 13))
    plan(march, engineer_user, title="Across the boundary", on=("payments",),
         start=at(28, 23, month=2), end=at(1, 1))  # fmt: skip
    plan(march, engineer_user, title="Called off", on=("web",), start=at(15, 1), end=at(15, 5), cancel=True)
    plan(march, engineer_user, title="April work", on=("web",), start=at(2, 1, month=4), end=at(2, 2, month=4))

    after = selectors.monthly_report(month=MARCH)

    for slug in ("web", "payments"):
        assert row(after, slug).downtime_seconds == row(before, slug).downtime_seconds
        assert row(after, slug).uptime_percent == row(before, slug).uptime_percent
    assert row(after, "web").downtime_seconds == 3600
    # web: 10:30-12:30 and 12:00-13:00 -> union 10:30-13:00; cancelled and April ones left out.
    assert row(after, "web").maintenance_seconds == 2.5 * 3600
    assert [m.title for m in row(after, "web").maintenances] == ["DB upgrade", "Cache flush"]
    # payments: 2 h on the 10th plus the hour of 1 March inside the month.
    assert row(after, "payments").maintenance_seconds == 3 * 3600
    assert row(after, "payments").api_row()["maintenance_seconds"] == 3 * 3600
    assert [m.title for m in after.maintenances] == ["Across the boundary", "DB upgrade", "Cache flush"]


def test_the_report_page_pdf_api_and_csv_show_maintenance_beside_the_uptime(client, march, engineer_user, leader_user):
    plan(march, engineer_user, title="Storage firmware", on=("web",), start=at(12, 2), end=at(12, 4))
    client.force_login(leader_user)

    html = client.get(f"/reports/{MONTH}/").content.decode()
    web = html[html.index('id="svc-web"') :]
    assert "Storage firmware" in web and "Planned maintenance" in web and "2 h" in web
    summary = html[html.index('data-service="web"') :]
    assert '<td class="num maintenance">' in summary[: summary.index("</tr>")]

    api = client.get(f"/api/v1/uptime/?month={MONTH}").json()
    web_row = next(r for r in api["results"] if r["service"] == "web")
    assert web_row["maintenance_seconds"] == 7200 and web_row["downtime_seconds"] == 3600

    csv_text = client.get(f"/reports/{MONTH}.csv").content.decode()
    assert "maintenance_seconds" in csv_text.splitlines()[0]

    pages = PdfReader(io.BytesIO(download(client, f"/reports/{MONTH}.pdf").content)).pages
    text = "\n".join(page.extract_text() for page in pages)
    assert "Storage firmware" in text and "Planned maintenance" in text and "not downtime" in text


def test_the_report_query_count_does_not_grow_with_maintenance(march, engineer_user, django_assert_max_num_queries):
    plan(march, engineer_user, title="One", on=("web",), start=at(3, 1), end=at(3, 2))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        selectors.monthly_report(month=MARCH)
    for day in range(4, 20):
        plan(march, engineer_user, title=f"Day {day}", on=("web", "payments"), start=at(day, 1), end=at(day, 2))
    with django_assert_max_num_queries(len(few.captured_queries)):
        report = selectors.monthly_report(month=MARCH)
    assert len(row(report, "web").maintenances) == 17
