"""Correcting a resolved incident: no reopen, nobody emailed, every change kept, reports flagged."""

from datetime import UTC, datetime, timedelta

import pytest

from incidents import services as svc
from incidents.models import Delivery
from reports import services as report_services
from reports.uptime import Month

from ..conftest import login
from .conftest import counts

T0 = datetime(2025, 3, 10, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _utc(settings):
    settings.TIME_ZONE = "UTC"
    settings.REPORT_TIME_ZONE = "UTC"


@pytest.fixture
def resolved(open_incident, services):
    incident = open_incident(severity=3, started_at=T0, services=[services["web"]])
    svc.incident_resolve(incident=incident, message="Fixed", resolved_at=T0 + 60 * MINUTE, by=None, notify=False)
    incident.refresh_from_db()
    return incident


@pytest.fixture
def stored_march(resolved):
    """A stored PDF of March made before the correction."""
    return report_services.report_generate(month=Month(2025, 3))


def downtime(client, slug="web") -> int:
    rows = client.get("/api/v1/uptime/?month=2025-03").json()["results"]
    return next(row for row in rows if row["service"] == slug)["downtime_seconds"]


def correction_form(incident, **overrides):
    data = {
        "title": incident.title,
        "services": [s.pk for s in incident.services.all()],
        "engineer": incident.engineer_id or "",
        "external_url": incident.external_url,
        "description": incident.description,
        "started_at": "2025-03-10T10:00",
        "resolved_at": "2025-03-10T11:00",
        "severity": "",
        "effective_at": "",
        "reason": "PagerDuty shows it was a full outage",
        "version": incident.version,
    }
    data.update(overrides)
    return data


def test_an_engineer_corrects_a_closed_incident_without_reopening_or_emailing(
    client, engineer_user, leader_user, resolved, stored_march, services
):
    login(client, leader_user)
    assert downtime(client) == 0
    login(client, engineer_user)
    page = client.get(f"/incidents/{resolved.ticket}/").content.decode()
    assert "Correct this record" in page
    response = client.post(
        f"/incidents/{resolved.ticket}/correct/",
        correction_form(
            resolved,
            started_at="2025-03-10T09:50",
            severity=1,
            effective_at="2025-03-10T09:50",
            services=[services["web"].pk, services["payments"].pk],
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    resolved.refresh_from_db()
    assert resolved.status == "resolved"
    assert resolved.started_at == T0 - 10 * MINUTE
    entry = resolved.updates.order_by("-id").first()
    assert entry.kind == "corrected" and entry.author == engineer_user
    assert entry.message == "PagerDuty shows it was a full outage"
    assert entry.changes["severity"] == [3, 1]
    assert entry.changes["started_at"][0].startswith("2025-03-10T10:00")
    assert entry.changes["services"] == [["web"], ["payments", "web"]]
    assert Delivery.objects.count() == 0  # nobody emailed

    # The report follows at once, for both services now affected.
    login(client, leader_user)
    assert downtime(client) == 70 * 60
    assert downtime(client, "payments") == 70 * 60
    # The stored PDF no longer matches: flagged on the list and on the report page.
    stored_march.refresh_from_db()
    assert stored_march.out_of_date_since is not None
    assert "out of date" in client.get("/reports/").content.decode()
    assert "Out of date" in client.get("/reports/2025-03/").content.decode()
    log = client.get(f"/incidents/{resolved.ticket}/").content.decode()
    assert "Corrected" in log and "PagerDuty shows it was a full outage" in log


def test_a_correction_of_another_month_leaves_this_months_report_alone(resolved, stored_march, engineer_user):
    other = report_services.report_generate(month=Month(2025, 4))
    svc.incident_correct(incident=resolved, by=engineer_user, reason="typo", title="Checkout returned 502")
    other.refresh_from_db()
    stored_march.refresh_from_db()
    assert stored_march.out_of_date_since is not None
    assert other.out_of_date_since is None


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"reason": ""}, "reason", "This field is required"),
        ({"resolved_at": "2025-03-10T09:00"}, "resolved_at", "cannot be resolved before it started"),
        ({"resolved_at": "2999-03-10T09:00"}, "resolved_at", "cannot be in the future"),
        ({"severity": 1, "effective_at": "2025-03-10T12:00"}, "effective_at", "after the incident was resolved"),
        ({"severity": 1}, "effective_at", "Say from when"),
        ({"external_url": "javascript:alert(1)"}, "external_url", "Enter a valid URL"),
    ],
)
def test_a_bad_correction_is_a_form_error_and_changes_nothing(client, engineer_user, resolved, overrides, field, text):
    before = counts()
    response = login(client, engineer_user).post(
        f"/incidents/{resolved.ticket}/correct/", correction_form(resolved, **overrides)
    )
    assert response.status_code == 400
    assert text in response.content.decode()
    assert counts() == before
    resolved.refresh_from_db()
    assert resolved.version == 2 and resolved.resolved_at == T0 + 60 * MINUTE


def test_help_desk_cannot_correct_a_record(client, helpdesk_user, resolved):
    login(client, helpdesk_user)
    assert client.get(f"/incidents/{resolved.ticket}/correct/").status_code == 403
    assert client.post(f"/incidents/{resolved.ticket}/correct/", correction_form(resolved)).status_code == 403


def test_a_correction_by_api_needs_a_reason(api, engineer_user, resolved):
    client = api.as_user(engineer_user)
    before = counts()
    response = client.patch(f"/api/v1/incidents/{resolved.ticket}/", {"title": "New"}, format="json")
    assert response.status_code == 400 and "reason" in response.json()
    assert counts() == before
    response = client.patch(
        f"/api/v1/incidents/{resolved.ticket}/",
        {"title": "New", "resolved_at": "2025-03-10T11:30:00Z", "reason": "Monitoring showed errors until 11:30"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["title"] == "New" and body["status"] == "resolved"
    assert body["resolved_at"].startswith("2025-03-10T11:30")
    assert body["updates"][-1]["kind"] == "corrected"
    assert body["updates"][-1]["changes"]["resolved_at"][1].startswith("2025-03-10T11:30")


def test_a_resolution_before_the_start_is_refused_by_api(api, engineer_user, resolved):
    before = counts()
    response = api.as_user(engineer_user).patch(
        f"/api/v1/incidents/{resolved.ticket}/",
        {"resolved_at": "2025-03-10T09:00:00Z", "reason": "oops"},
        format="json",
    )
    assert response.status_code == 400 and "resolved_at" in response.json()
    assert counts() == before


def test_a_back_dated_severity_on_a_closed_incident_is_a_correction(api, engineer_user, leader_user, resolved):
    response = api.as_user(engineer_user).post(
        f"/api/v1/incidents/{resolved.ticket}/updates/",
        {"message": "It was Sev 2 from 10:30", "severity": 2, "effective_at": "2025-03-10T10:30:00Z"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "resolved"
    assert response.json()["updates"][-1]["kind"] == "corrected"
    assert Delivery.objects.count() == 0
    assert downtime(api.as_user(leader_user)) == 30 * 60


def test_the_correction_page_of_an_open_incident_sends_you_back(client, engineer_user, open_incident):
    incident = open_incident()
    response = login(client, engineer_user).get(f"/incidents/{incident.ticket}/correct/")
    assert response.status_code == 302 and response["Location"].endswith(f"/incidents/{incident.ticket}/")


def test_a_stale_correction_is_a_conflict(client, engineer_user, resolved):
    svc.incident_correct(incident=resolved, by=engineer_user, reason="first", title="Corrected by a colleague")
    response = login(client, engineer_user).post(
        f"/incidents/{resolved.ticket}/correct/", correction_form(resolved, title="Mine", version=2)
    )
    assert response.status_code == 409
    assert "Corrected by a colleague" in response.content.decode()
    resolved.refresh_from_db()
    assert resolved.title == "Corrected by a colleague"


def test_an_untouched_time_on_the_form_is_not_a_correction(client, engineer_user, open_incident, services):
    started = T0 + timedelta(seconds=42)
    incident = open_incident(severity=3, started_at=started, services=[services["web"]])
    svc.incident_resolve(incident=incident, message="Fixed", resolved_at=started + 60 * MINUTE, by=None, notify=False)
    incident.refresh_from_db()
    response = login(client, engineer_user).post(
        f"/incidents/{incident.ticket}/correct/", correction_form(incident, title="Renamed")
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.started_at == started and incident.resolved_at == started + 60 * MINUTE
    assert list(incident.updates.order_by("-id")[0].changes) == ["title"]
