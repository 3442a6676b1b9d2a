"""GET, POST /api/v1/maintenances/ and GET, PATCH /api/v1/maintenances/<id>/."""

from datetime import timedelta

import pytest

from maintenance.models import Maintenance, MaintenanceDelivery
from tests.maintenance.conftest import counts


def iso(value):
    return value.isoformat()


@pytest.fixture
def body(now, services):
    return {
        "title": "Storage firmware update",
        "description": "One controller at a time.",
        "services": ["web", "payments"],
        "starts_at": iso(now + timedelta(days=2)),
        "ends_at": iso(now + timedelta(days=2, hours=1)),
    }


def test_an_engineer_schedules_maintenance_and_subscribers_get_a_delivery_each(api, engineer_user, body):
    response = api.as_user(engineer_user).post("/api/v1/maintenances/", body, format="json")

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "scheduled"
    assert sorted(data["services"]) == ["payments", "web"]
    assert data["version"] == 1 and data["created_by"] == "eli"
    assert data["url"].endswith(f"/maintenance/{data['id']}/")
    emails = set(MaintenanceDelivery.objects.filter(event="scheduled").values_list("email", flat=True))
    assert emails == {
        "oncall-web@example.com",
        "support-web@example.com",
        "oncall-payments@example.com",
        "support-payments@example.com",
    }


def test_an_end_before_the_start_is_a_400_naming_ends_at_and_writes_nothing(api, engineer_user, body, now):
    body["ends_at"] = iso(now + timedelta(days=1))
    before = counts()

    response = api.as_user(engineer_user).post("/api/v1/maintenances/", body, format="json")

    assert response.status_code == 400
    assert "ends_at" in response.json()
    assert "after its start" in response.json()["ends_at"][0]
    assert counts() == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"services": []}, "services"),
        ({"services": ["nope"]}, "services"),
        ({"starts_at": "2030-01-01T10:00:00"}, "starts_at"),
        ({"ends_at": "tomorrow"}, "ends_at"),
        ({"description": "x" * 10_001}, "description"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, engineer_user, body, change, field):
    body.update(change)
    response = api.as_user(engineer_user).post("/api/v1/maintenances/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Maintenance.objects.count() == 0


def test_a_window_longer_than_a_month_is_refused(api, engineer_user, body, now):
    body["ends_at"] = iso(now + timedelta(days=60))
    response = api.as_user(engineer_user).post("/api/v1/maintenances/", body, format="json")
    assert response.status_code == 400 and "ends_at" in response.json()


def test_patch_changes_the_window_and_bumps_the_version(api, engineer_user, schedule, now):
    maintenance = schedule()
    response = api.as_user(engineer_user).patch(
        f"/api/v1/maintenances/{maintenance.pk}/",
        {"ends_at": iso(now + timedelta(days=1, hours=4)), "version": 1},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2
    maintenance.refresh_from_db()
    assert maintenance.ends_at == now + timedelta(days=1, hours=4)


def test_patch_with_an_end_before_the_start_names_ends_at_and_changes_nothing(api, engineer_user, schedule, now):
    maintenance = schedule()
    response = api.as_user(engineer_user).patch(
        f"/api/v1/maintenances/{maintenance.pk}/", {"ends_at": iso(now)}, format="json"
    )

    assert response.status_code == 400
    assert "ends_at" in response.json()
    maintenance.refresh_from_db()
    assert maintenance.version == 1 and maintenance.ends_at == now + timedelta(days=1, hours=2)


def test_a_stale_version_gets_409_and_changes_nothing(api, engineer_user, schedule):
    maintenance = schedule()
    client = api.as_user(engineer_user)
    assert client.patch(f"/api/v1/maintenances/{maintenance.pk}/", {"title": "First"}, format="json").status_code == 200

    response = client.patch(f"/api/v1/maintenances/{maintenance.pk}/", {"title": "Second", "version": 1}, format="json")

    assert response.status_code == 409
    assert "changed by someone else" in response.json()["detail"]
    maintenance.refresh_from_db()
    assert maintenance.title == "First" and maintenance.version == 2


def test_patch_status_cancelled_cancels_and_records_the_cancellation_email(api, engineer_user, schedule):
    maintenance = schedule()
    response = api.as_user(engineer_user).patch(
        f"/api/v1/maintenances/{maintenance.pk}/", {"status": "cancelled"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert MaintenanceDelivery.objects.filter(event="cancelled").count() == 2
    again = api.patch(f"/api/v1/maintenances/{maintenance.pk}/", {"title": "Revived?"}, format="json")
    assert again.status_code == 400 and "status" in again.json()


def test_an_unknown_status_or_field_value_is_a_400(api, engineer_user, schedule):
    maintenance = schedule()
    response = api.as_user(engineer_user).patch(
        f"/api/v1/maintenances/{maintenance.pk}/", {"status": "done"}, format="json"
    )
    assert response.status_code == 400 and "status" in response.json()


def test_every_role_reads_and_the_list_filters_by_status_and_service(
    api, schedule, services, helpdesk_user, leader_user, engineer_user
):
    web = schedule(title="Web work")
    schedule(title="Payments work", services=[services["payments"]])
    for user in (helpdesk_user, leader_user, engineer_user):
        client = api.as_user(user)
        listed = client.get("/api/v1/maintenances/")
        assert listed.status_code == 200
        assert listed.json()["count"] == 2
        assert client.get(f"/api/v1/maintenances/{web.pk}/").json()["title"] == "Web work"
    only_web = api.get("/api/v1/maintenances/?service=web").json()
    assert [row["title"] for row in only_web["results"]] == ["Web work"]
    assert api.get("/api/v1/maintenances/?status=completed").json()["count"] == 0
    assert api.get("/api/v1/maintenances/?status=bogus").status_code == 400


@pytest.mark.parametrize("persona", ["helpdesk_user", "leader_user", "outsider"])
def test_who_is_not_an_engineer_cannot_write(api, request, persona, body, schedule):
    maintenance = schedule()
    client = api.as_user(request.getfixturevalue(persona))

    assert client.post("/api/v1/maintenances/", body, format="json").status_code == 403
    assert client.patch(f"/api/v1/maintenances/{maintenance.pk}/", {"title": "x"}, format="json").status_code == 403
    maintenance.refresh_from_db()
    assert maintenance.title == "Database upgrade" and Maintenance.objects.count() == 1


def test_staff_without_a_group_may_write(api, django_user_model, body):
    staff = django_user_model.objects.create_user("stella", "stella@example.com", "x", is_staff=True)
    assert api.as_user(staff).post("/api/v1/maintenances/", body, format="json").status_code == 201


def test_anonymous_callers_are_refused(client, schedule):
    maintenance = schedule()
    assert client.get("/api/v1/maintenances/").status_code in (401, 403)
    assert client.get(f"/api/v1/maintenances/{maintenance.pk}/").status_code in (401, 403)


def test_an_unknown_id_is_a_404(api, engineer_user, db):
    client = api.as_user(engineer_user)
    assert client.get("/api/v1/maintenances/999/").status_code == 404
    assert client.patch("/api/v1/maintenances/999/", {"title": "x"}, format="json").status_code == 404


def test_the_openapi_schema_describes_the_maintenance_calls(api, engineer_user):
    paths = api.as_user(engineer_user).get("/api/schema/", {"format": "json"}).json()["paths"]
    assert set(paths["/api/v1/maintenances/"]) >= {"get", "post"}
    assert set(paths["/api/v1/maintenances/{id}/"]) >= {"get", "patch"}
