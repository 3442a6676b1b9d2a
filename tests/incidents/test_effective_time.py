"""Back-dated changes: a change counts from when it happened, not from when it was typed."""

from datetime import UTC, datetime, timedelta

import pytest

from incidents import services as svc
from incidents.models import Delivery, IncidentUpdate

from ..conftest import login
from .conftest import counts

MONTH = "2025-03"
T0 = datetime(2025, 3, 10, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@pytest.fixture(autouse=True)
def _london(settings):
    settings.TIME_ZONE = "Europe/London"
    settings.REPORT_TIME_ZONE = "UTC"


@pytest.fixture
def desk_api(api, helpdesk_user, services, engineer_user):
    return api.as_user(helpdesk_user)


def web_downtime(client) -> int:
    response = client.get(f"/api/v1/uptime/?month={MONTH}")
    assert response.status_code == 200, response.content
    return next(row for row in response.json()["results"] if row["service"] == "web")["downtime_seconds"]


def test_a_raise_typed_late_counts_from_when_it_happened(desk_api, api, open_incident, leader_user, services):
    incident = open_incident(severity=3, started_at=T0, services=[services["web"]])
    response = desk_api.post(
        f"/api/v1/incidents/{incident.ticket}/updates/",
        {"message": "Checkout down for everyone", "severity": 1, "effective_at": (T0 + 5 * MINUTE).isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["severity"] == 1
    assert body["updates"][-1]["effective_at"].startswith("2025-03-10T10:05:00")
    response = desk_api.post(
        f"/api/v1/incidents/{incident.ticket}/close/",
        {"message": "Rolled back", "resolved_at": (T0 + 90 * MINUTE).isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.json()
    # Sev 1 from 10:05 to 11:30: 85 minutes, not zero because it was typed later.
    assert web_downtime(api.as_user(leader_user)) == 85 * 60


def test_a_back_dated_lowering_ends_the_downtime_when_it_happened(desk_api, api, open_incident, leader_user):
    incident = open_incident(severity=1, started_at=T0)
    svc.incident_update(
        incident=incident, message="Mitigated", severity=3, effective_at=T0 + 20 * MINUTE, by=None, notify=False
    )
    svc.incident_resolve(incident=incident, message="Fixed", resolved_at=T0 + 60 * MINUTE, by=None, notify=False)
    assert web_downtime(api.as_user(leader_user)) == 20 * 60


def test_an_update_typed_later_sits_in_the_log_where_it_happened(client, helpdesk_user, open_incident):
    incident = open_incident(severity=3, started_at=T0)
    svc.incident_update(incident=incident, message="Later note", by=helpdesk_user, notify=False)
    svc.incident_update(
        incident=incident, message="It was a full outage", severity=1, effective_at=T0 + 5 * MINUTE,
        by=helpdesk_user, notify=False,
    )  # fmt: skip
    page = login(client, helpdesk_user).get(f"/incidents/{incident.ticket}/").content.decode()
    assert page.index("It was a full outage") < page.index("Later note")
    assert "Sev 1 from 2025-03-10 10:05 GMT, logged" in page


@pytest.mark.parametrize(
    ("effective_at", "message"),
    [
        ("2025-03-10T09:59:00+00:00", "before the incident started"),
        ("2999-01-01T00:00:00+00:00", "in the future"),
        ("2025-03-10T10:05:00", "time zone"),
        ("not a time", "Datetime has wrong format"),
    ],
)
def test_an_impossible_effective_time_is_a_400_naming_the_field(desk_api, open_incident, effective_at, message):
    incident = open_incident(severity=3, started_at=T0)
    before = counts()
    response = desk_api.post(
        f"/api/v1/incidents/{incident.ticket}/updates/",
        {"message": "Raise", "severity": 1, "effective_at": effective_at},
        format="json",
    )
    assert response.status_code == 400
    assert message in " ".join(response.json()["effective_at"])
    assert counts() == before
    incident.refresh_from_db()
    assert incident.severity == 3 and incident.version == 1


def test_the_update_form_asks_when_it_happened(client, helpdesk_user, open_incident):
    incident = open_incident(severity=3, started_at=T0)
    login(client, helpdesk_user)
    page = client.get(f"/incidents/{incident.ticket}/update/").content.decode()
    assert "When did this happen?" in page
    response = client.post(
        f"/incidents/{incident.ticket}/update/",
        {"message": "Full outage", "status": "identified", "severity": 1, "effective_at": "2025-03-10T10:05",
         "version": 1},
    )  # fmt: skip
    assert response.status_code == 302
    update = incident.updates.order_by("-id").first()
    assert update.effective_at == T0 + 5 * MINUTE  # 10:05 London time is 10:05 UTC in March
    assert update.sets_severity == 1


def test_the_update_form_refuses_a_time_before_the_start(client, helpdesk_user, open_incident):
    incident = open_incident(severity=3, started_at=T0)
    before = counts()
    response = login(client, helpdesk_user).post(
        f"/incidents/{incident.ticket}/update/",
        {"message": "x", "status": "identified", "severity": 1, "effective_at": "2025-03-10T09:00", "version": 1},
    )
    assert response.status_code == 400
    assert "before the incident started" in response.content.decode()
    assert counts() == before


def test_two_people_posting_messages_at_once_both_succeed(client, helpdesk_user, open_incident, services):
    incident = open_incident(severity=2)
    other = svc.incident_update(incident=incident, message="Colleague's note", by=None, notify=False)
    assert other.version == 1  # a message alone does not move the version
    response = login(client, helpdesk_user).post(
        f"/incidents/{incident.ticket}/update/",
        {"message": "My note", "status": "investigating", "severity": 2, "version": 1},
    )
    assert response.status_code == 302
    assert list(incident.updates.values_list("message", flat=True))[-2:] == ["Colleague's note", "My note"]


def test_a_colleagues_raise_is_kept_when_i_only_add_a_message(client, helpdesk_user, open_incident):
    incident = open_incident(severity=2)
    svc.incident_update(incident=incident, message="Now critical", severity=1, by=None, notify=False)
    response = login(client, helpdesk_user).post(
        f"/incidents/{incident.ticket}/update/",
        {"message": "Support line flooded", "status": "investigating", "severity": 2, "version": 1},
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.severity == 1
    assert incident.updates.order_by("-id").first().message == "Support line flooded"


def test_a_real_conflict_shows_the_colleagues_change_beside_my_kept_input(client, helpdesk_user, open_incident):
    incident = open_incident(severity=2)
    svc.incident_update(incident=incident, message="Found the bad deploy", status="identified", by=None, notify=False)
    before = counts()
    response = login(client, helpdesk_user).post(
        f"/incidents/{incident.ticket}/update/",
        {"message": "My draft about monitoring", "status": "monitoring", "severity": 2, "version": 1},
    )
    assert response.status_code == 409
    page = response.content.decode()
    assert "Changed by a colleague while you were typing" in page
    assert "Found the bad deploy" in page and "identified" in page
    assert "My draft about monitoring" in page
    assert 'name="version" value="2"' in page
    assert counts() == before


def test_changing_the_scope_of_an_open_incident_is_logged_and_emails_nobody(
    client, helpdesk_user, engineer_user, open_incident, services
):
    incident = open_incident(severity=2, services=[services["web"]])
    login(client, helpdesk_user)
    assert "Change scope" in client.get(f"/incidents/{incident.ticket}/").content.decode()
    response = client.post(
        f"/incidents/{incident.ticket}/edit/",
        {"title": "Checkout and payments fail", "services": [services["web"].pk, services["payments"].pk],
         "engineer": engineer_user.pk, "external_url": "https://tickets.example.com/42", "description": "Both",
         "message": "Payments too", "version": 1},
    )  # fmt: skip
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.title == "Checkout and payments fail"
    assert sorted(incident.services.values_list("slug", flat=True)) == ["payments", "web"]
    entry = incident.updates.order_by("-id").first()
    assert entry.kind == "edited" and entry.changes["services"] == [["web"], ["payments", "web"]]
    assert not Delivery.objects.filter(update=entry).exists()


def test_a_javascript_link_is_refused_on_the_scope_form(client, helpdesk_user, open_incident, services):
    incident = open_incident(severity=2)
    response = login(client, helpdesk_user).post(
        f"/incidents/{incident.ticket}/edit/",
        {"title": "x", "services": [services["web"].pk], "external_url": "javascript:alert(1)", "version": 1},
    )
    assert response.status_code == 400
    assert IncidentUpdate.objects.filter(incident=incident).count() == 1
