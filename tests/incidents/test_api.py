"""The incidents and services API, called as a script or a browser session would call it."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident
from tests.incidents.conftest import counts


def iso(value: datetime) -> str:
    return value.isoformat()


def assert_has_offset(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, f"{text} has no offset"
    return parsed


def create_body(**overrides):
    body = {
        "title": "Checkout returns 502",
        "description": "A share of users cannot pay.",
        "severity": 1,
        "services": ["web", "payments"],
        "engineer": "eli",
        "external_url": "https://tickets.example.com/browse/OPS-7",
        "started_at": iso(timezone.now() - timedelta(hours=1)),
        "extra_recipients": ["vendor@example.com"],
        "message": "Checkout fails for card payments.",
    }
    body.update(overrides)
    return body


@pytest.fixture
def desk_api(api, helpdesk_user, services, engineer_user):
    return api.as_user(helpdesk_user)


# --- create ----------------------------------------------------------------------------


def test_creating_an_incident_returns_it_with_its_ticket_and_first_update(desk_api):
    response = desk_api.post("/api/v1/incidents/", create_body(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    incident = Incident.objects.get()
    assert body["ticket"] == incident.ticket
    assert body["status"] == "investigating" and body["severity"] == 1
    assert sorted(body["services"]) == ["payments", "web"]
    assert body["engineer"] == "eli"
    assert body["extra_recipients"] == ["vendor@example.com"]
    assert body["version"] == 1 and body["resolved_at"] is None
    assert body["url"] == f"http://testserver/incidents/{incident.ticket}/"
    for field in ("started_at", "created_at", "updated_at"):
        assert_has_offset(body[field])
    assert [u["message"] for u in body["updates"]] == ["Checkout fails for card payments."]
    assert body["updates"][0]["author"] == "hana"
    assert set(body["updates"][0]) >= {"created_at", "author", "status", "severity", "message"}


def test_a_start_time_with_an_offset_is_stored_as_that_instant(desk_api):
    started = "2020-01-15T09:30:00+02:00"
    response = desk_api.post("/api/v1/incidents/", create_body(started_at=started), format="json")
    assert response.status_code == 201
    assert assert_has_offset(response.json()["started_at"]) == datetime.fromisoformat(started)


def test_only_the_required_fields_are_needed(desk_api):
    response = desk_api.post(
        "/api/v1/incidents/", {"title": "Search slow", "severity": 3, "services": ["web"]}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert timezone.now() - assert_has_offset(body["started_at"]) < timedelta(seconds=10)
    assert body["engineer"] is None and body["extra_recipients"] == []


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"services": ["web", "no-such-service"]}, "services", "no-such-service"),
        ({"services": []}, "services", "empty"),
        ({"severity": 9}, "severity", "not a valid choice"),
        ({"title": None}, "title", "may not be null"),
        ({"started_at": "2024-05-01T10:00:00"}, "started_at", "Give a time zone offset"),
        ({"started_at": "next tuesday"}, "started_at", "Datetime has wrong format"),
        ({"extra_recipients": ["ok@example.com", "nope"]}, "extra_recipients", "valid email"),
        ({"engineer": "nobody"}, "engineer", "does not exist"),
        ({"external_url": "not a url"}, "external_url", "valid URL"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_written(desk_api, change, field, message):
    before = counts()
    response = desk_api.post("/api/v1/incidents/", create_body(**change), format="json")
    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert message.lower() in str(errors[field]).lower()
    assert counts() == before


def test_a_missing_title_is_reported_per_field(desk_api):
    body = create_body()
    del body["title"]
    response = desk_api.post("/api/v1/incidents/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"title": ["This field is required."]}


def test_a_start_in_the_future_is_refused_by_the_shared_rule(desk_api):
    before = counts()
    future = iso(timezone.now() + timedelta(hours=2))
    response = desk_api.post("/api/v1/incidents/", create_body(started_at=future), format="json")
    assert response.status_code == 400
    assert response.json() == {"started_at": ["The start of impact cannot be in the future."]}
    assert counts() == before


def test_a_body_that_is_not_json_is_a_400(desk_api):
    response = desk_api.post("/api/v1/incidents/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


# --- read ----------------------------------------------------------------------------


def test_the_detail_lists_every_update_in_order(desk_api, incident, helpdesk_user):
    from incidents import services as svc

    svc.incident_update(incident=incident, message="Found it", status="identified", severity=1, by=helpdesk_user)
    response = desk_api.get(f"/api/v1/incidents/{incident.ticket}/")
    assert response.status_code == 200
    updates = response.json()["updates"]
    assert [(u["status"], u["severity"], u["author"]) for u in updates] == [
        ("investigating", 2, "hana"),
        ("identified", 1, "hana"),
    ]
    assert updates[1]["message"] == "Found it"
    assert_has_offset(updates[1]["created_at"])


def test_an_unknown_ticket_is_a_404(desk_api):
    for call in (
        lambda: desk_api.get("/api/v1/incidents/INC-999999/"),
        lambda: desk_api.patch("/api/v1/incidents/INC-999999/", {"title": "x"}, format="json"),
        lambda: desk_api.post("/api/v1/incidents/INC-999999/updates/", {"message": "x"}, format="json"),
        lambda: desk_api.post("/api/v1/incidents/INC-999999/close/", {"message": "x"}, format="json"),
    ):
        response = call()
        assert response.status_code == 404
        assert "detail" in response.json()


def test_the_list_filters_and_pages(desk_api, open_incident, services, helpdesk_user, django_assert_max_num_queries):
    from incidents import services as svc

    now = timezone.now()
    checkout = open_incident(title="Checkout down", severity=1, started_at=now - timedelta(hours=2))
    cards = open_incident(
        title="Card declines", severity=3, services=[services["payments"]], started_at=now - timedelta(days=10)
    )
    svc.incident_resolve(
        incident=cards, message="Fixed", by=helpdesk_user, resolved_at=now - timedelta(days=9), notify=False
    )
    for index in range(3):
        old = open_incident(title=f"Old noise {index}", severity=4, started_at=now - timedelta(days=100 + index))
        svc.incident_resolve(
            incident=old,
            message="Fixed",
            by=helpdesk_user,
            resolved_at=old.started_at + timedelta(hours=1),
            notify=False,
        )

    def tickets(**params):
        response = desk_api.get("/api/v1/incidents/", params)
        assert response.status_code == 200, response.json()
        return [row["ticket"] for row in response.json()["results"]]

    assert len(tickets()) == 5
    assert tickets(service="payments") == [cards.ticket]
    assert tickets(severity=1) == [checkout.ticket]
    assert tickets(status="resolved", severity=3) == [cards.ticket]
    assert len(tickets(status="resolved")) == 4
    assert tickets(status="open") == [checkout.ticket]
    assert tickets(q="declines") == [cards.ticket]
    assert tickets(start=iso(now - timedelta(days=30)), end=iso(now)) == [checkout.ticket, cards.ticket]
    with django_assert_max_num_queries(8):
        response = desk_api.get("/api/v1/incidents/")
    assert response.json()["count"] == 5


def test_the_list_refuses_bad_filters_per_field(desk_api):
    response = desk_api.get("/api/v1/incidents/", {"severity": 9, "start": "soon", "status": "sleeping"})
    assert response.status_code == 400
    assert set(response.json()) == {"severity", "start", "status"}
    now = timezone.now()
    response = desk_api.get("/api/v1/incidents/", {"start": iso(now), "end": iso(now - timedelta(days=1))})
    assert response.status_code == 400 and "end" in response.json()


def test_the_list_pages_after_50(desk_api, open_incident):
    for index in range(52):
        open_incident(title=f"Incident {index}")
    first = desk_api.get("/api/v1/incidents/").json()
    assert first["count"] == 52 and len(first["results"]) == 50 and first["next"]
    second = desk_api.get(first["next"]).json()
    assert len(second["results"]) == 2 and second["next"] is None


def test_services_are_listed_with_their_status_from_open_incidents(desk_api, open_incident, services):
    open_incident(severity=1, services=[services["payments"]])
    open_incident(severity=3, services=[services["web"]])
    response = desk_api.get("/api/v1/services/")
    assert response.status_code == 200
    rows = {row["slug"]: row for row in response.json()}
    assert rows["payments"] == {"slug": "payments", "name": "Payments", "status": "outage", "slo_target": "99.950"}
    assert rows["web"]["status"] == "degraded"


def test_a_service_without_open_incidents_is_operational(desk_api, services):
    rows = desk_api.get("/api/v1/services/").json()
    assert {row["status"] for row in rows} == {"operational"}


# --- change ----------------------------------------------------------------------------


def test_patch_changes_details_and_records_what_changed(desk_api, incident):
    response = desk_api.patch(
        f"/api/v1/incidents/{incident.ticket}/",
        {"title": "Checkout and cart down", "services": ["web", "payments"], "severity": 1, "version": 1},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["title"] == "Checkout and cart down" and body["severity"] == 1 and body["version"] == 2
    assert sorted(body["services"]) == ["payments", "web"]
    edited = body["updates"][-1]
    assert edited["kind"] == "edited"
    assert edited["changes"]["severity"] == [2, 1]
    assert edited["changes"]["services"] == [["web"], ["payments", "web"]]


def test_patch_without_changes_records_nothing(desk_api, incident):
    before = counts()
    response = desk_api.patch(f"/api/v1/incidents/{incident.ticket}/", {"title": incident.title}, format="json")
    assert response.status_code == 200
    assert counts() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"started_at": None}, "started_at"),
        ({"started_at": "2024-01-01T10:00:00"}, "started_at"),
        ({"status": "resolved"}, "status"),
        ({"services": []}, "services"),
        ({"severity": 0}, "severity"),
    ],
)
def test_bad_patches_are_a_400_per_field_and_change_nothing(desk_api, incident, body, field):
    before = counts()
    response = desk_api.patch(f"/api/v1/incidents/{incident.ticket}/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert counts() == before
    incident.refresh_from_db()
    assert incident.version == 1 and incident.title == "Checkout returns 502"


def test_posting_an_update_through_the_api(desk_api, incident):
    response = desk_api.post(
        f"/api/v1/incidents/{incident.ticket}/updates/",
        {"message": "Rolled back", "status": "monitoring", "severity": 3, "version": 1},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["severity"], body["version"]) == ("monitoring", 3, 2)
    assert body["updates"][-1]["message"] == "Rolled back"


def test_an_update_needs_a_message_and_an_open_status(desk_api, incident):
    before = counts()
    url = f"/api/v1/incidents/{incident.ticket}/updates/"
    assert desk_api.post(url, {"status": "identified"}, format="json").json() == {
        "message": ["This field is required."]
    }
    response = desk_api.post(url, {"message": "Done", "status": "resolved"}, format="json")
    assert response.status_code == 400 and "Use close" in response.json()["status"][0]
    assert counts() == before


def test_closing_and_reopening_through_the_api(desk_api, incident):
    resolved = timezone.now() - timedelta(minutes=1)
    response = desk_api.post(
        f"/api/v1/incidents/{incident.ticket}/close/",
        {"message": "Fixed by rollback", "resolved_at": iso(resolved), "version": 1},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "resolved"
    assert assert_has_offset(body["resolved_at"]) == resolved
    # A resolved incident takes no update until reopened.
    refused = desk_api.post(f"/api/v1/incidents/{incident.ticket}/updates/", {"message": "More"}, format="json")
    assert refused.status_code == 400 and "Reopen it" in refused.json()["status"][0]
    refused = desk_api.patch(f"/api/v1/incidents/{incident.ticket}/", {"title": "x"}, format="json")
    assert refused.status_code == 400
    reopened = desk_api.post(
        f"/api/v1/incidents/{incident.ticket}/reopen/", {"message": "It is back", "severity": 1}, format="json"
    )
    assert reopened.status_code == 200
    assert reopened.json()["status"] == "investigating" and reopened.json()["resolved_at"] is None
    accepted = desk_api.post(
        f"/api/v1/incidents/{incident.ticket}/updates/", {"message": "Failing over"}, format="json"
    )
    assert accepted.status_code == 201


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({}, "message", "required"),
        ({"message": "Fixed", "resolved_at": "2000-01-01T00:00:00Z"}, "resolved_at", "before it started"),
        ({"message": "Fixed", "resolved_at": "2099-01-01T00:00:00Z"}, "resolved_at", "future"),
        ({"message": "Fixed", "resolved_at": "2024-01-01T00:00:00"}, "resolved_at", "offset"),
    ],
)
def test_bad_closes_are_a_400_per_field_and_change_nothing(desk_api, incident, body, field, text):
    before = counts()
    response = desk_api.post(f"/api/v1/incidents/{incident.ticket}/close/", body, format="json")
    assert response.status_code == 400
    assert text in response.json()[field][0]
    assert counts() == before
    incident.refresh_from_db()
    assert incident.status == "investigating"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("patch", "", {"title": "New title"}),
        ("post", "updates/", {"message": "Update", "status": "identified"}),
        ("post", "close/", {"message": "Fixed"}),
    ],
)
def test_a_write_with_a_stale_version_is_a_409_and_changes_nothing(
    desk_api, incident, helpdesk_user, method, path, body
):
    from incidents import services as svc

    svc.incident_update(
        incident=incident, message="Someone else was faster", status="monitoring", by=helpdesk_user, notify=False
    )
    before = counts()
    response = getattr(desk_api, method)(
        f"/api/v1/incidents/{incident.ticket}/{path}", {**body, "version": 1}, format="json"
    )
    assert response.status_code == 409
    assert "was changed by someone else" in response.json()["detail"]
    assert counts() == before
    incident.refresh_from_db()
    assert incident.version == 2 and incident.status == "monitoring"


def test_a_message_only_update_never_conflicts(desk_api, incident, helpdesk_user):
    from incidents import services as svc

    svc.incident_update(
        incident=incident, message="Someone else was faster", severity=1, by=helpdesk_user, notify=False
    )
    response = desk_api.post(
        f"/api/v1/incidents/{incident.ticket}/updates/",
        {"message": "Customers report it too", "version": 1},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["version"] == 2 and body["severity"] == 1
    assert [u["message"] for u in body["updates"]][-1] == "Customers report it too"


def test_a_write_without_a_version_applies_to_the_latest_state(desk_api, incident, helpdesk_user):
    from incidents import services as svc

    svc.incident_update(incident=incident, message="Someone else was first", severity=1, by=helpdesk_user, notify=False)
    response = desk_api.post(
        f"/api/v1/incidents/{incident.ticket}/updates/", {"message": "Me too", "status": "identified"}, format="json"
    )
    assert response.status_code == 201 and response.json()["version"] == 3


def test_session_authentication_works_like_a_token(api, helpdesk_user, services):
    client = api.as_user(helpdesk_user, token=False)
    response = client.post(
        "/api/v1/incidents/", {"title": "From the browser", "severity": 2, "services": ["web"]}, format="json"
    )
    assert response.status_code == 201
    assert client.get("/api/v1/incidents/").json()["count"] == 1


def test_session_writes_need_the_csrf_token(helpdesk_user, services):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(helpdesk_user)
    response = client.post("/api/v1/incidents/", {"title": "x", "severity": 2, "services": ["web"]}, format="json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    assert Incident.objects.count() == 0


# --- schema ----------------------------------------------------------------------------


def test_the_openapi_schema_describes_the_incident_calls(desk_api):
    response = desk_api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in (
        "/api/v1/incidents/",
        "/api/v1/incidents/{ticket}/",
        "/api/v1/incidents/{ticket}/updates/",
        "/api/v1/incidents/{ticket}/close/",
        "/api/v1/services/",
    ):
        assert path in paths, path
    list_params = {p["name"] for p in paths["/api/v1/incidents/"]["get"]["parameters"]}
    assert {"start", "end", "service", "severity", "status", "q", "page"} <= list_params
    assert set(paths["/api/v1/incidents/{ticket}/"]) >= {"get", "patch"}


def test_the_openapi_schema_is_valid(desk_api):
    from drf_spectacular.validation import validate_schema

    response = desk_api.get("/api/schema/", {"format": "json"})
    validate_schema(response.json())


def test_the_api_docs_page_loads(desk_api):
    response = desk_api.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
