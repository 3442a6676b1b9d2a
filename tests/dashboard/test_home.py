"""`/`: ongoing incidents, service status, the timeline's range and filters, postmortem flags."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from config import snapshots
from incidents.models import Postmortem
from incidents.postmortems import ActionItemInput, postmortem_save

pytestmark = pytest.mark.django_db


def chart(response) -> dict:
    """The chart data the page embeds for its script (json_script)."""
    html = response.content.decode()
    start = html.index('<script id="timeline-data" type="application/json">') + len(
        '<script id="timeline-data" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_ongoing_incidents_come_first_with_engineer_and_last_update(
    client, leader_user, engineer_user, make_incident, now
):
    make_incident(
        started_at=now - timedelta(hours=3),
        severity=1,
        title="Checkout is down",
        engineer=engineer_user,
        updates=[{"message": "Rolling back the 14:00 deploy.", "status": "identified"}],
    )
    client.force_login(leader_user)

    response = client.get("/")

    html = response.content.decode()
    assert response.status_code == 200
    ongoing = html[html.index('id="ongoing"') : html.index('id="service-status"')]
    assert "Checkout is down" in ongoing and "Eli Ngata" in ongoing
    assert "Rolling back the 14:00 deploy." in ongoing
    assert "Sev 1" in ongoing and "3\xa0hours" in ongoing
    assert html.index('id="ongoing"') < html.index('id="timeline-card"')


def test_the_service_grid_shows_outage_for_an_open_sev_1(client, helpdesk_user, make_incident, now):
    make_incident(started_at=now - timedelta(hours=1), severity=1, on=("payments",))
    client.force_login(helpdesk_user)

    html = client.get("/").content.decode()

    grid = html[html.index('id="service-status"') :]
    assert 'service-tile outage" href="?service=payments#timeline-card" title="Payments: outage"' in grid
    assert 'title="Web Storefront: operational"' in grid


def test_no_ongoing_incidents_says_so(client, helpdesk_user, services):
    client.force_login(helpdesk_user)
    assert "No ongoing incidents." in client.get("/").content.decode()


def test_the_chart_holds_exactly_the_incidents_of_the_last_seven_days_by_default(
    client, engineer_user, make_incident, now
):
    recent = make_incident(started_at=now - timedelta(days=2), resolved_at=now - timedelta(days=2, hours=-2))
    ongoing = make_incident(started_at=now - timedelta(days=10))
    make_incident(started_at=now - timedelta(days=12), resolved_at=now - timedelta(days=11))
    client.force_login(engineer_user)

    response = client.get("/")

    data = chart(response)
    assert {i["ticket"] for i in data["incidents"]} == {recent.ticket, ongoing.ticket}
    assert data["end"] - data["start"] == 7 * 24 * 3600 * 1000
    by_ticket = {i["ticket"]: i for i in data["incidents"]}
    assert by_ticket[ongoing.ticket]["end"] is None and by_ticket[ongoing.ticket]["end_label"] == ""
    assert by_ticket[recent.ticket]["url"] == f"/incidents/{recent.ticket}/"
    # Every service has a row; only those with a bar in range are not "empty".
    assert data["services"] == {"web": "Web Storefront", "payments": "Payments"}
    assert data["empty_services"] == ["payments"]


@pytest.mark.parametrize("preset, days", [("24h", 1), ("30d", 30), ("90d", 90)])
def test_presets_set_the_range(client, engineer_user, make_incident, now, preset, days):
    make_incident(started_at=now - timedelta(days=days) + timedelta(hours=2))
    make_incident(
        started_at=now - timedelta(days=days) - timedelta(hours=2), resolved_at=now - timedelta(days=days, hours=1)
    )
    client.force_login(engineer_user)

    response = client.get(f"/?range={preset}")

    data = chart(response)
    assert data["end"] - data["start"] == days * 24 * 3600 * 1000
    assert len(data["incidents"]) == 1
    assert f'btn-primary" data-preset="{preset}"' in response.content.decode()


def test_a_custom_range_covers_whole_days(client, engineer_user, make_incident, now, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    day = (now - timedelta(days=40)).astimezone().date()
    from datetime import datetime, time
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    inside = make_incident(
        started_at=datetime.combine(day, time(23, 30), berlin), resolved_at=datetime.combine(day, time(23, 50), berlin)
    )
    make_incident(
        started_at=datetime.combine(day + timedelta(days=1), time(0, 10), berlin),
        resolved_at=datetime.combine(day + timedelta(days=1), time(1, 0), berlin),
    )
    client.force_login(engineer_user)

    response = client.get(f"/?start={day - timedelta(days=2)}&end={day}")

    assert {i["ticket"] for i in chart(response)["incidents"]} == {inside.ticket}
    assert 'btn-outline-primary" data-preset="7d"' in response.content.decode()


def test_filters_in_the_url_apply_to_chart_and_list_and_stay_in_the_preset_links(
    client, engineer_user, make_incident, now
):
    pay = make_incident(started_at=now - timedelta(hours=5), on=("payments",), severity=2)
    make_incident(started_at=now - timedelta(hours=4), on=("web",), severity=2)
    client.force_login(engineer_user)

    response = client.get("/?range=30d&service=payments&severity=2&status=open&q=")

    html = response.content.decode()
    assert [i["ticket"] for i in chart(response)["incidents"]] == [pay.ticket]
    listing = html[html.index('id="incident-list"') :]
    assert pay.ticket in listing and "1 incident<" in listing
    assert 'href="?service=payments&amp;severity=2&amp;status=open&amp;q=&amp;range=7d"' in html


def test_an_empty_range_says_so(client, engineer_user, services):
    client.force_login(engineer_user)

    html = client.get("/?range=24h").content.decode()

    assert 'id="timeline-empty"' in html and "No incidents between" in html
    assert "No incidents in this range" in html
    assert '<canvas id="timeline"' not in html


def test_a_bad_range_shows_an_error_and_the_default_week(client, engineer_user, services):
    client.force_login(engineer_user)

    response = client.get("/?start=2024-05-10&end=2024-05-01")

    assert response.status_code == 400
    assert "The end of the range must not be before its start." in response.content.decode()
    data = chart(response)
    assert data["end"] - data["start"] == 7 * 24 * 3600 * 1000


def test_the_incident_list_under_the_chart_is_paginated(client, engineer_user, make_incident, now):
    for hours in range(1, 24):
        make_incident(
            started_at=now - timedelta(hours=hours), resolved_at=now - timedelta(hours=hours) + timedelta(minutes=30)
        )
    client.force_login(engineer_user)

    first = client.get("/?range=7d").content.decode()
    second = client.get("/?range=7d&page=2").content.decode()

    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert 'href="?range=7d&amp;page=2"' in first
    assert second.count('<td class="text-nowrap"><a href="/incidents/') == 3


def test_sev_1_and_2_incidents_without_a_postmortem_are_flagged_after_the_due_days(
    client, engineer_user, make_incident, now, settings
):
    settings.POSTMORTEM_DUE_DAYS = 5
    overdue = make_incident(
        started_at=now - timedelta(days=9), resolved_at=now - timedelta(days=8), severity=1, title="Overdue outage"
    )
    written = make_incident(
        started_at=now - timedelta(days=9), resolved_at=now - timedelta(days=8), severity=2, title="Written up"
    )
    postmortem_save(incident=written, by=engineer_user, summary="Done.")
    make_incident(
        started_at=now - timedelta(days=3), resolved_at=now - timedelta(days=2), severity=1, title="Not due yet"
    )
    make_incident(
        started_at=now - timedelta(days=9), resolved_at=now - timedelta(days=8), severity=3, title="Minor blip"
    )
    escalated = make_incident(
        started_at=now - timedelta(days=9),
        resolved_at=now - timedelta(days=8),
        severity=3,
        title="Was an outage for a while",
        updates=[{"severity": 1}, {"severity": 3}],
    )
    client.force_login(engineer_user)

    html = client.get("/").content.decode()

    flagged = html[html.index('id="postmortems-due"') : html.index('id="action-items-overdue"')]
    assert overdue.ticket in flagged and escalated.ticket in flagged
    for title in ("Written up", "Not due yet", "Minor blip"):
        assert title not in flagged


def test_open_action_items_past_due_are_listed(client, engineer_user, make_incident, now):
    incident = make_incident(started_at=now - timedelta(days=9), resolved_at=now - timedelta(days=8), severity=1)
    today = now.date()
    postmortem_save(
        incident=incident,
        by=engineer_user,
        summary="Disk filled up.",
        action_items=[
            ActionItemInput(title="Alert on disk usage", owner=engineer_user, due_date=today - timedelta(days=2)),
            ActionItemInput(title="Rotate logs hourly", due_date=today - timedelta(days=2), done=True),
            ActionItemInput(title="Bigger disks", due_date=today + timedelta(days=5)),
        ],
    )
    client.force_login(engineer_user)

    html = client.get("/").content.decode()

    listed = html[html.index('id="action-items-overdue"') : html.index('id="timeline-card"')]
    assert "Alert on disk usage" in listed and "Eli Ngata" in listed
    assert "Rotate logs hourly" not in listed and "Bigger disks" not in listed
    assert Postmortem.objects.count() == 1


def test_the_dashboard_query_count_does_not_grow_with_the_number_of_incidents(
    client, leader_user, engineer_user, make_incident, now
):
    def seed(count, offset):
        for n in range(count):
            started = now - timedelta(hours=offset + n)
            make_incident(
                started_at=started,
                resolved_at=None if n % 3 == 0 else started + timedelta(minutes=20),
                on=("web", "payments") if n % 2 else ("web",),
                engineer=engineer_user,
                severity=1 + n % 4,
                updates=[{"message": "Looking."}],
            )

    seed(2, 1)
    client.force_login(leader_user)
    client.get("/")
    with CaptureQueriesContext(connection) as few:
        assert client.get("/?range=30d").status_code == 200
    seed(30, 10)
    with CaptureQueriesContext(connection) as many:
        assert client.get("/?range=30d").status_code == 200

    assert len(many) == len(few)


# --- permissions -------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(client):
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_a_user_without_a_role_gets_403(client, outsider):
    client.force_login(outsider)
    assert client.get("/").status_code == 403


@pytest.mark.parametrize("persona", ["helpdesk_user", "engineer_user", "leader_user", "admin_user"])
def test_every_role_sees_the_dashboard(client, request, persona, services):
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/").status_code == 200


def test_under_a_stream_of_changes_the_dashboard_rendered_within_the_reuse_interval_is_shown(
    client, make_incident, helpdesk_user, engineer_user, now, settings, time_machine
):
    settings.TIMELINE_REUSE_SECONDS = 2
    time_machine.move_to(now, tick=False)
    client.force_login(helpdesk_user)
    first = make_incident(started_at=now - timedelta(hours=3), severity=2, on=("web",))
    assert [i["ticket"] for i in chart(client.get("/"))["incidents"]] == [first.ticket]
    second = make_incident(started_at=now - timedelta(hours=2), severity=1, on=("web",))
    # A second later another reader, in another web process (this one's copies dropped), gets
    # the same rendering: chart, ongoing list and its "as of" time agree with each other.
    time_machine.move_to(now + timedelta(seconds=1), tick=False)
    snapshots.forget(shared=False)
    other = Client()
    other.force_login(engineer_user)
    soon = other.get("/")
    assert [i["ticket"] for i in chart(soon)["incidents"]] == [first.ticket]
    assert second.ticket not in soon.content.decode()
    assert engineer_user.username in soon.content.decode()  # the page around it is the reader's own
    # Past the interval the page is drawn again.
    time_machine.move_to(now + timedelta(seconds=2.5), tick=False)
    later = client.get("/")
    assert {i["ticket"] for i in chart(later)["incidents"]} == {first.ticket, second.ticket}
    assert second.ticket in later.content.decode()
