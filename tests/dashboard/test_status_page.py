"""`/status/`: public, read-only, switchable off."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


def test_anyone_on_the_intranet_sees_the_status_page_without_logging_in(client, services):
    response = client.get("/status/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "All systems operational" in html
    assert "Web Storefront" in html and "Payments" in html
    assert "No incidents were resolved in the last 7 days." in html
    assert "public" in response["Cache-Control"]
    assert 'data-live-seconds="60"' in html and 'id="services" data-live' in html


def test_the_status_page_can_be_switched_off(client, services, settings):
    settings.STATUS_PAGE_ENABLED = False
    assert client.get("/status/").status_code == 404


def test_an_ongoing_outage_shows_in_the_banner_with_its_latest_update(client, make_incident, now):
    make_incident(
        started_at=now - timedelta(hours=2),
        severity=1,
        on=("payments",),
        title="Card payments failing",
        updates=[{"message": "We found the cause and are deploying a fix.", "status": "identified"}],
    )

    html = client.get("/status/").content.decode()

    assert "Major outage in progress" in html
    assert "Card payments failing" in html
    assert "We found the cause and are deploying a fix." in html
    payments = html[html.index('data-service="payments"') :]
    assert 'status-pill outage">Outage' in payments[:400]


def test_a_minor_incident_shows_as_degraded(client, make_incident, now):
    make_incident(started_at=now - timedelta(hours=2), severity=3)
    assert "Some systems are degraded" in client.get("/status/").content.decode()


def test_the_ninety_day_strip_marks_days_with_incidents(client, make_incident, now):
    make_incident(started_at=now - timedelta(days=3, hours=1), resolved_at=now - timedelta(days=3), severity=2)
    make_incident(started_at=now - timedelta(days=200), resolved_at=now - timedelta(days=199), severity=1)

    html = client.get("/status/").content.decode()

    web = html[html.index('data-service="web"') :]
    strip = web[web.index('<div class="day-strip"') :]
    strip = strip[: strip.index("</div>")]
    assert strip.count('class="day"') + strip.count('class="day sev-') == 90
    assert strip.count('class="day sev-2"') in (1, 2)  # one day, or two if it crossed midnight
    assert "sev-1" not in strip  # 200 days ago is off the strip


def test_recently_resolved_incidents_are_listed_with_their_resolution(client, make_incident, now):
    make_incident(
        started_at=now - timedelta(days=2),
        resolved_at=now - timedelta(days=2) + timedelta(hours=1),
        title="Search was slow",
    )

    html = client.get("/status/").content.decode()

    recent = html[html.index('id="recent"') :]
    assert "Search was slow" in recent and "Fixed." in recent


def test_the_status_page_query_count_does_not_grow_with_history(client, make_incident, now):
    make_incident(started_at=now - timedelta(days=1), resolved_at=now - timedelta(hours=20))
    make_incident(started_at=now - timedelta(hours=3), severity=3)
    with CaptureQueriesContext(connection) as few:
        client.get("/status/")
    for days in range(2, 40):
        make_incident(
            started_at=now - timedelta(days=days),
            resolved_at=now - timedelta(days=days) + timedelta(hours=3),
            on=("web", "payments"),
        )
    make_incident(started_at=now - timedelta(hours=1), severity=2)
    with CaptureQueriesContext(connection) as many:
        client.get("/status/")

    assert len(many) == len(few)


def test_anonymous_viewers_share_a_copy_that_a_change_replaces_and_signed_in_users_see_it_fresh(
    client, make_incident, now, settings, engineer_user
):
    from django.core.cache import cache

    cache.clear()
    settings.STATUS_PAGE_CACHE_SECONDS = 60
    assert "Card payments failing" not in client.get("/status/").content.decode()
    make_incident(started_at=now - timedelta(hours=1), severity=1, on=("payments",), title="Card payments failing")
    # The shared copy is replaced as soon as an incident changes (dashboard.status_cache)...
    assert "Card payments failing" in client.get("/status/").content.decode()
    # ...a signed-in user renders it afresh...
    client.force_login(engineer_user)
    assert "Card payments failing" in client.get("/status/").content.decode()
    client.logout()
    # ...and once the copy is gone, anonymous viewers see the change too.
    cache.clear()
    assert "Card payments failing" in client.get("/status/").content.decode()
    cache.clear()


def test_while_one_request_renders_a_new_version_other_visitors_get_the_previous_one(
    client, make_incident, now, settings
):
    from django.core.cache import cache

    from dashboard import status_cache

    settings.STATUS_PAGE_CACHE_SECONDS = 60
    assert "Card payments failing" not in client.get("/status/").content.decode()
    make_incident(started_at=now - timedelta(hours=1), severity=1, on=("payments",), title="Card payments failing")
    # Another web process is rendering the new version right now: no second render, no wait.
    language = settings.LANGUAGE_CODE
    assert cache.add(f"status-page:rendering:{language}", 1)
    during = client.get("/status/", HTTP_ACCEPT_LANGUAGE=language)
    assert during.status_code == 200
    assert "Card payments failing" not in during.content.decode()
    # Its render done (the lock released), the next visitor sees the change.
    cache.delete(f"status-page:rendering:{language}")
    after = client.get("/status/", HTTP_ACCEPT_LANGUAGE=language)
    assert "Card payments failing" in after.content.decode()
    assert after["ETag"] != during["ETag"]
    assert status_cache.get(language) is not None


def test_a_page_rendered_before_a_change_commits_never_stands_for_it(django_capture_on_commit_callbacks):
    from django.db import transaction

    from dashboard import status_cache
    from incidents.models import Service

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        Service.objects.create(slug="search", name="Search")
        # A visitor's page rendered now reads the rows as they were before this change.
        seen_before_commit = status_cache.version()
    assert status_cache.version() != seen_before_commit


def test_under_a_stream_of_changes_the_page_is_rendered_at_most_once_per_interval(
    client, make_incident, now, settings, time_machine
):
    settings.STATUS_PAGE_CACHE_SECONDS = 60
    settings.STATUS_PAGE_RENDER_INTERVAL_SECONDS = 2
    time_machine.move_to(now, tick=False)
    first = client.get("/status/")
    make_incident(started_at=now - timedelta(hours=1), severity=1, on=("payments",), title="Card payments failing")
    # A second later the change is not rendered yet: every visitor gets the copy of a second ago.
    time_machine.move_to(now + timedelta(seconds=1), tick=False)
    soon = client.get("/status/")
    assert soon["ETag"] == first["ETag"]
    assert "Card payments failing" not in soon.content.decode()
    # Once the interval has passed, the next visitor gets the page with the change.
    time_machine.move_to(now + timedelta(seconds=2.5), tick=False)
    later = client.get("/status/")
    assert "Card payments failing" in later.content.decode()
