"""Planned maintenance on `/`, on `/status/` and in the timeline (page data and API)."""

import json
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import services as incident_services
from maintenance import services as svc


def test_the_status_page_shows_ongoing_and_upcoming_maintenance_but_not_past_or_cancelled(
    client, schedule, now, engineer_user
):
    schedule(title="Firewall swap", starts_at=now - timedelta(minutes=30), ends_at=now + timedelta(hours=1))
    schedule(title="Search reindex", starts_at=now + timedelta(days=2), ends_at=now + timedelta(days=2, hours=3))
    schedule(title="Old work", starts_at=now - timedelta(days=3), ends_at=now - timedelta(days=3, hours=-1))
    svc.maintenance_cancel(maintenance=schedule(title="Called off"), by=engineer_user)

    html = client.get("/status/").content.decode()  # public: no login

    ongoing = html[html.index('id="maintenance-ongoing"') : html.index('id="maintenance-upcoming"')]
    upcoming = html[html.index('id="maintenance-upcoming"') : html.index('id="services"')]
    assert "Firewall swap" in ongoing and "In progress" in ongoing
    assert "Search reindex" in upcoming and "Scheduled" in upcoming
    assert "Old work" not in html and "Called off" not in html
    # The service under maintenance says so; maintenance is no outage.
    web = html[html.index('data-service="web"') :]
    assert "Under maintenance" in web[: web.index("day-strip")]
    assert 'id="overall"' in html and "All systems operational" in html


def test_a_maintenance_past_its_start_shows_as_ongoing_before_beat_has_run(client, schedule, now):
    schedule(title="Just begun", starts_at=now + timedelta(minutes=1), ends_at=now + timedelta(hours=1), now=now)
    # Status still "scheduled" in the database; a minute later the page already calls it ongoing.
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=now + timedelta(minutes=2)):
        html = client.get("/status/").content.decode()
    assert "Just begun" in html[html.index('id="maintenance-ongoing"') :]


def test_the_status_page_query_count_does_not_grow_with_maintenance(client, schedule, now, services):
    schedule(starts_at=now + timedelta(days=1), ends_at=now + timedelta(days=1, hours=1))
    with CaptureQueriesContext(connection) as few:
        client.get("/status/")
    for day in range(2, 12):
        schedule(
            services=[services["web"], services["payments"]],
            starts_at=now + timedelta(days=day),
            ends_at=now + timedelta(days=day, hours=1),
        )
    with CaptureQueriesContext(connection) as many:
        client.get("/status/")
    assert len(many) == len(few)


def test_home_shows_a_planned_maintenance_card_to_every_role(
    client, schedule, now, helpdesk_user, leader_user, engineer_user
):
    schedule(title="Under way now", starts_at=now - timedelta(minutes=5), ends_at=now + timedelta(hours=1))
    schedule(title="Next week", starts_at=now + timedelta(days=6), ends_at=now + timedelta(days=6, hours=2))
    for user in (helpdesk_user, leader_user, engineer_user):
        client.force_login(user)
        html = client.get("/").content.decode()
        card = html[html.index('id="planned-maintenance"') : html.index('id="timeline-card"')]
        assert "Under way now" in card and "Next week" in card
        assert card.index("Under way now") < card.index("Next week")


def test_home_has_no_maintenance_card_when_nothing_is_planned(client, leader_user, services):
    client.force_login(leader_user)
    assert 'id="planned-maintenance"' not in client.get("/").content.decode()


def test_the_timeline_draws_maintenance_apart_from_incidents(client, leader_user, schedule, now, services):
    maintenance = schedule(
        title="Kernel patching",
        services=[services["payments"]],
        starts_at=now - timedelta(days=2),
        ends_at=now - timedelta(days=2, hours=-3),
    )
    client.force_login(leader_user)

    html = client.get("/").content.decode()
    data = json.loads(html.split('id="timeline-data" type="application/json">')[1].split("</script>")[0])

    assert data["incidents"] == []
    assert 'id="timeline"' in html  # the chart is drawn for maintenance alone
    [row] = data["maintenances"]
    assert row["title"] == "Kernel patching" and row["services"] == ["payments"]
    assert row["url"] == f"/maintenance/{maintenance.pk}/"
    assert row["end"] - row["start"] == 3 * 3600 * 1000
    assert data["services"]["payments"] == "Payments"
    assert "payments" not in data["empty_services"]


def test_the_timeline_api_lists_maintenance_beside_the_incidents(
    client, leader_user, schedule, now, services, helpdesk_user, engineer_user
):
    incident = incident_services.incident_open(
        title="Checkout errors",
        severity=2,
        services=[services["web"]],
        started_at=now - timedelta(hours=5),
        by=helpdesk_user,
        now=now - timedelta(hours=5),
        notify=False,
    )
    maintenance = schedule(
        title="Router firmware", starts_at=now - timedelta(hours=6), ends_at=now - timedelta(hours=4)
    )
    svc.maintenance_cancel(maintenance=schedule(title="Called off"), by=engineer_user)
    client.force_login(leader_user)

    body = client.get("/api/v1/timeline/").json()

    assert body["count"] == 1 and [r["ticket"] for r in body["results"]] == [incident.ticket]
    [row] = body["maintenances"]
    assert row["kind"] == "maintenance" and row["id"] == maintenance.pk
    assert row["title"] == "Router firmware" and row["status"] == "completed"
    assert row["services"] == ["web"]
    assert row["url"] == f"http://testserver/maintenance/{maintenance.pk}/"
    assert row["starts_at"].endswith(("Z", "+00:00")) or "+" in row["starts_at"]
    # Filters: service and text apply; a severity or status filter asks for incidents only.
    assert client.get("/api/v1/timeline/?service=payments").json()["maintenances"] == []
    assert len(client.get("/api/v1/timeline/?q=firmware").json()["maintenances"]) == 1
    assert client.get("/api/v1/timeline/?severity=2").json()["maintenances"] == []
    assert client.get("/api/v1/timeline/?status=open").json()["maintenances"] == []


def test_the_timeline_api_query_count_does_not_grow_with_maintenance(client, leader_user, schedule, now, services):
    schedule(starts_at=now - timedelta(hours=30), ends_at=now - timedelta(hours=29))
    client.force_login(leader_user)
    client.get("/api/v1/timeline/")
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/timeline/")
    for hours in range(3, 28):
        schedule(
            services=[services["web"], services["payments"]],
            starts_at=now - timedelta(hours=hours + 1),
            ends_at=now - timedelta(hours=hours),
        )
    with CaptureQueriesContext(connection) as many:
        body = client.get("/api/v1/timeline/").json()
    assert len(body["maintenances"]) == 26
    assert len(many) == len(few)
