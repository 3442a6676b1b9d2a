"""/maintenance/ pages: list, new, edit, cancel, detail; who may do what; bad input."""

from datetime import timedelta

import pytest
from django.utils import timezone

from maintenance.models import Maintenance, MaintenanceDelivery
from tests.maintenance.conftest import counts


def local_input(value) -> str:
    """What a datetime-local input sends: local time in TIME_ZONE, no offset."""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def form(services, now):
    return {
        "title": "Network switch replacement",
        "services": [services["web"].pk, services["payments"].pk],
        "starts_at": local_input(now + timedelta(days=3)),
        "ends_at": local_input(now + timedelta(days=3, hours=2)),
        "description": "Expect a short blip.",
    }


def test_an_engineer_schedules_maintenance_from_the_form(client, engineer_user, form):
    client.force_login(engineer_user)
    assert client.get("/maintenance/new/").status_code == 200

    response = client.post("/maintenance/new/", form)

    maintenance = Maintenance.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/maintenance/{maintenance.pk}/"
    assert maintenance.status == "scheduled" and maintenance.created_by == engineer_user
    assert MaintenanceDelivery.objects.filter(event="scheduled").count() == 4
    page = client.get(response["Location"]).content.decode()
    assert "Network switch replacement" in page and "Web Storefront" in page


def test_an_end_before_the_start_is_a_form_error_on_the_end_and_nothing_is_saved(client, engineer_user, form, now):
    client.force_login(engineer_user)
    form["ends_at"] = local_input(now + timedelta(days=2))

    response = client.post("/maintenance/new/", form)

    assert response.status_code == 400
    assert "after its start" in " ".join(response.context["form"].errors["ends_at"])
    assert counts() == {"maintenance": 0, "deliveries": 0}


@pytest.mark.parametrize("field", ["title", "services", "starts_at", "ends_at"])
def test_a_missing_field_is_a_form_error_on_that_field(client, engineer_user, form, field):
    client.force_login(engineer_user)
    form.pop(field)
    response = client.post("/maintenance/new/", form)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert Maintenance.objects.count() == 0


def test_the_list_shows_ongoing_upcoming_and_past_maintenance_to_every_role(
    client, schedule, now, helpdesk_user, leader_user, engineer_user
):
    schedule(title="Coming up")
    schedule(title="Under way", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1))
    schedule(title="Long done", starts_at=now - timedelta(days=9), ends_at=now - timedelta(days=9, hours=-1))
    for user in (helpdesk_user, leader_user, engineer_user):
        client.force_login(user)
        html = client.get("/maintenance/").content.decode()
        upcoming = html[html.index('id="upcoming-maintenance"') : html.index('id="maintenance-history"')]
        ongoing = html[html.index('id="ongoing-maintenance"') : html.index('id="upcoming-maintenance"')]
        history = html[html.index('id="maintenance-history"') :]
        assert "Coming up" in upcoming and "Under way" in ongoing and "Long done" in history
        assert ("Schedule maintenance" in html) == (user == engineer_user)


def test_an_engineer_edits_a_maintenance(client, engineer_user, schedule, form, now):
    maintenance = schedule()
    client.force_login(engineer_user)
    page = client.get(f"/maintenance/{maintenance.pk}/edit/")
    assert page.status_code == 200 and "Database upgrade" in page.content.decode()
    form.update(title="Database upgrade, moved", version=1)

    response = client.post(f"/maintenance/{maintenance.pk}/edit/", form)

    assert response.status_code == 302
    maintenance.refresh_from_db()
    assert maintenance.title == "Database upgrade, moved" and maintenance.version == 2
    assert maintenance.services.count() == 2


def test_a_stale_edit_is_refused_with_a_conflict_and_keeps_the_colleagues_change(client, engineer_user, schedule, form):
    maintenance = schedule()
    client.force_login(engineer_user)
    client.post(f"/maintenance/{maintenance.pk}/edit/", {**form, "title": "Colleague's", "version": 1})

    response = client.post(f"/maintenance/{maintenance.pk}/edit/", {**form, "title": "Mine", "version": 1})

    assert response.status_code == 409
    assert "changed by someone else" in response.content.decode()
    maintenance.refresh_from_db()
    assert maintenance.title == "Colleague's"


def test_editing_the_end_before_the_start_is_a_form_error_and_changes_nothing(
    client, engineer_user, schedule, form, now
):
    maintenance = schedule()
    client.force_login(engineer_user)
    form.update(ends_at=local_input(now + timedelta(days=2)), version=1)
    response = client.post(f"/maintenance/{maintenance.pk}/edit/", form)
    assert response.status_code == 400
    assert "ends_at" in response.context["form"].errors
    maintenance.refresh_from_db()
    assert maintenance.version == 1


def test_an_engineer_cancels_a_scheduled_maintenance(client, engineer_user, schedule):
    maintenance = schedule()
    client.force_login(engineer_user)
    assert client.get(f"/maintenance/{maintenance.pk}/cancel/").status_code == 200

    response = client.post(f"/maintenance/{maintenance.pk}/cancel/", {"version": 1})

    assert response.status_code == 302
    maintenance.refresh_from_db()
    assert maintenance.status == "cancelled"
    assert MaintenanceDelivery.objects.filter(event="cancelled").count() == 2
    # Cancelled is history: it can be neither edited nor cancelled again.
    assert client.get(f"/maintenance/{maintenance.pk}/edit/").status_code == 302
    again = client.post(f"/maintenance/{maintenance.pk}/cancel/", {"version": 2})
    assert again.status_code == 400 and "can no longer change" in again.content.decode()


def test_a_stale_cancel_is_a_conflict(client, engineer_user, schedule, form):
    maintenance = schedule()
    client.force_login(engineer_user)
    client.post(f"/maintenance/{maintenance.pk}/edit/", {**form, "version": 1})
    response = client.post(f"/maintenance/{maintenance.pk}/cancel/", {"version": 1})
    assert response.status_code == 409
    maintenance.refresh_from_db()
    assert maintenance.status == "scheduled"


@pytest.mark.parametrize("persona", ["helpdesk_user", "leader_user", "outsider"])
def test_only_engineers_and_staff_write_others_get_403(client, request, persona, schedule, form):
    maintenance = schedule()
    client.force_login(request.getfixturevalue(persona))

    assert client.get("/maintenance/new/").status_code == 403
    assert client.post("/maintenance/new/", form).status_code == 403
    assert client.get(f"/maintenance/{maintenance.pk}/edit/").status_code == 403
    assert client.post(f"/maintenance/{maintenance.pk}/edit/", {**form, "version": 1}).status_code == 403
    assert client.post(f"/maintenance/{maintenance.pk}/cancel/", {"version": 1}).status_code == 403
    maintenance.refresh_from_db()
    assert maintenance.status == "scheduled" and maintenance.version == 1 and Maintenance.objects.count() == 1


def test_an_outsider_cannot_read_and_anonymous_visitors_go_to_the_login_page(client, outsider, schedule):
    maintenance = schedule()
    for url in ("/maintenance/", f"/maintenance/{maintenance.pk}/"):
        assert client.get(url)["Location"].startswith("/accounts/login/")
    client.force_login(outsider)
    assert client.get("/maintenance/").status_code == 403


def test_staff_without_a_group_may_schedule(client, django_user_model, form):
    staff = django_user_model.objects.create_user("stella", "stella@example.com", "x", is_staff=True)
    client.force_login(staff)
    assert client.post("/maintenance/new/", form).status_code == 302


def test_the_nav_links_to_maintenance(client, helpdesk_user):
    client.force_login(helpdesk_user)
    assert 'href="/maintenance/"' in client.get("/incidents/").content.decode()


def test_an_unknown_maintenance_is_a_404(client, engineer_user, db):
    client.force_login(engineer_user)
    assert client.get("/maintenance/12345/").status_code == 404


def test_an_ongoing_maintenance_saved_again_from_the_form_keeps_its_start(client, engineer_user, schedule, now, form):
    maintenance = schedule(
        starts_at=now - timedelta(minutes=30, seconds=17), ends_at=now + timedelta(hours=1, seconds=5)
    )
    assert maintenance.status == "in_progress"
    client.force_login(engineer_user)
    form.update(
        starts_at=local_input(maintenance.starts_at),
        ends_at=local_input(now + timedelta(hours=2)),
        title="Longer than planned",
        version=maintenance.version,
    )

    response = client.post(f"/maintenance/{maintenance.pk}/edit/", form)

    assert response.status_code == 302, response.content.decode()
    maintenance.refresh_from_db()
    assert maintenance.starts_at == now - timedelta(minutes=30, seconds=17)
    assert maintenance.title == "Longer than planned"


def test_moving_an_ongoing_maintenances_start_is_a_form_error(client, engineer_user, schedule, now, form):
    maintenance = schedule(starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(hours=1))
    client.force_login(engineer_user)
    form.update(
        starts_at=local_input(now + timedelta(hours=1)),
        ends_at=local_input(now + timedelta(hours=2)),
        version=maintenance.version,
    )
    response = client.post(f"/maintenance/{maintenance.pk}/edit/", form)
    assert response.status_code == 400
    assert "starts_at" in response.context["form"].errors
